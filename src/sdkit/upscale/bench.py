"""Measuring upscale throughput (megapixels out per second): tiled vs untiled, batch sizes, dtypes.

Builds a random-weight RRDBNet with RealESRGAN_x4plus's shape (64 filters, 23 blocks), so the figures
hold for real x4plus weights (the cost does not depend on the values). Returns data; the script
`tools/bench-upscale` prints it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL.Image import Image

    from sdkit.upscale.loading import Upscaler


@dataclass(frozen=True)
class BenchResult:
    label: str
    tile: int
    tile_overlap: int
    batch_size: int
    dtype: str
    seconds: float  # best of the repeats
    megapixels_out: float
    max_difference: int | None  # vs the first (reference) result, in 8-bit levels

    @property
    def megapixels_per_second(self) -> float:
        return self.megapixels_out / self.seconds


def random_upscaler(filters: int = 64, blocks: int = 23, scale: int = 4, device: str = "cpu",
                    dtype: str = "fp32") -> Upscaler:
    """An x4plus-shaped upscaler with random weights, loaded through the same code as real files."""
    import torch
    from spandrel.architectures.ESRGAN import ESRGAN

    from sdkit.runtime.device import choose_device, choose_dtype
    from sdkit.upscale.loading import Upscaler, describe_state_dict

    torch.manual_seed(0)
    state = ESRGAN(num_filters=filters, num_blocks=blocks, scale=scale).state_dict()
    descriptor = describe_state_dict(state, "random-x4plus")
    chosen_device = choose_device(device)
    chosen_dtype = choose_dtype(dtype, chosen_device)
    descriptor.to(chosen_device, chosen_dtype).eval()
    return Upscaler(descriptor, "random-x4plus", Path("random-x4plus"), "ESRGAN", scale, 3,
                    chosen_device, chosen_dtype, list(descriptor.tags))


def bench_image(width: int, height: int) -> Image:
    """A photo-like input: smooth gradients plus fine noise."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    x, y = np.meshgrid(np.linspace(0, 1, width), np.linspace(0, 1, height))
    base = np.stack([x, y, (x + y) / 2], axis=2) * 200 + rng.normal(0, 12, (height, width, 3))
    return Image.fromarray(base.clip(0, 255).astype(np.uint8))


def measure(upscaler: Upscaler, image: Image, *, tile: int, tile_overlap: int, batch_size: int = 1,
            repeat: int = 1, label: str = "", reference: Image | None = None) -> tuple[BenchResult, Image]:
    """Time `repeat` upscales of `image` (best of), and compare the result with `reference`."""
    import numpy as np

    from sdkit.upscale.api import upscale_with

    best = float("inf")
    result = image
    for _ in range(repeat):
        started = time.perf_counter()
        result, _ = upscale_with(upscaler, image, tile=tile, tile_overlap=tile_overlap, batch_size=batch_size)
        best = min(best, time.perf_counter() - started)
    difference = None
    if reference is not None:
        difference = int(np.abs(np.asarray(result, dtype=np.int16) - np.asarray(reference, dtype=np.int16)).max())
    megapixels = result.size[0] * result.size[1] / 1e6
    return BenchResult(label, tile, tile_overlap, batch_size, upscaler.dtype_name, best, megapixels,
                       difference), result
