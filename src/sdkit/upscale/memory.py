"""Estimating the memory one model call needs, so a huge untiled image is refused before it is tried.

The estimate is calibrated on ESRGAN (RRDBNet) on the CPU in fp32, where the peak is dominated by
the feature maps at output resolution: measured ~12.5 kB per input pixel for x4 with 64 filters and
~4.1 kB for x2. The formula below (elements = filters x (3 x output pixels + 8 x input pixels)) stays
just above those figures. Other architectures are assumed to need at least as much; an unknown filter
count is taken as 64.
"""

from __future__ import annotations

import logging

from sdkit.core.errors import UserInputError
from sdkit.runtime import machine

log = logging.getLogger(__name__)

# Refuse when the estimate exceeds this share of the free memory: the rest of the process (the
# accumulated output image, the input, other models) needs room too.
SAFE_SHARE = 0.7
DEFAULT_FILTERS = 64


def estimate_bytes(height: int, width: int, scale: int, *, batch: int = 1, filters: int | None = None,
                   bytes_per_element: int = 4) -> int:
    """Peak bytes of one model call on a `batch` of `height` x `width` inputs."""
    filters = filters or DEFAULT_FILTERS
    pixels = height * width * batch
    return int(filters * (3 * pixels * scale * scale + 8 * pixels) * bytes_per_element)


def available_bytes(device: str) -> int | None:
    """Free memory on `device` (None when it cannot be told)."""
    kind = device.split(":", 1)[0]
    if kind == "cuda":
        import torch

        free, _total = torch.cuda.mem_get_info(torch.device(device))
        return int(free)
    if kind == "mps":
        import torch

        try:
            return int(torch.mps.recommended_max_memory() - torch.mps.current_allocated_memory())
        except (AttributeError, RuntimeError):
            return None
    return machine.memory().available_bytes  # the CPU works in the machine's RAM


def _gib(value: int) -> str:
    return f"{value / 2**30:.1f} GiB"


def largest_batch_that_fits(height: int, width: int, scale: int, device: str, *, tile: int, most: int,
                            filters: int | None = None, bytes_per_element: int = 4) -> int:
    """The most tiles per model call (up to `most`) whose estimate fits; 1 when even one may not."""
    if tile <= 0 or most <= 1:
        return 1
    free = available_bytes(device)
    if free is None:
        return most
    call_h, call_w = min(tile, height), min(tile, width)
    for batch in range(most, 1, -1):
        if estimate_bytes(call_h, call_w, scale, batch=batch, filters=filters,
                          bytes_per_element=bytes_per_element) <= free * SAFE_SHARE:
            return batch
    return 1


def check_fits(height: int, width: int, scale: int, device: str, *, tile: int, batch: int = 1,
               filters: int | None = None, bytes_per_element: int = 4) -> None:
    """Raise `UserInputError` when one model call on this image (or tile) would not fit in memory."""
    call_h, call_w = (min(tile, height), min(tile, width)) if tile > 0 else (height, width)
    needed = estimate_bytes(call_h, call_w, scale, batch=batch, filters=filters,
                            bytes_per_element=bytes_per_element)
    free = available_bytes(device)
    log.debug("upscale memory estimate: %d bytes for %dx%d x%d (batch %d) on %s; free: %s",
              needed, call_w, call_h, scale, batch, device, free)
    if free is None or needed <= free * SAFE_SHARE:
        return
    if tile <= 0:
        raise UserInputError(
            f"upscaling a {width}x{height} image untiled needs about {_gib(needed)} of memory on {device}, "
            f"and only {_gib(free)} is free",
            "turn tiling on, e.g. --tile 512 (the result matches the untiled one closely)",
        )
    raise UserInputError(
        f"a {call_w}x{call_h} tile needs about {_gib(needed)} of memory on {device}, and only {_gib(free)} is free",
        "use a smaller --tile, e.g. --tile 256",
    )
