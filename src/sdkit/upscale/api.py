"""Upscaling a PIL image with a loaded upscaler: the one code path behind the engine and `upscale_image`.

Steps: split the image into colour/grey planes and alpha (`images`), refuse what would not fit in
memory (`memory`), run the model in blended tiles (`tiling`), resize to a non-native scale with
Lanczos, resize alpha, and reassemble in the input's mode. Returns the image and the infotext
fields that record what was done.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sdkit.core.errors import UserInputError
from sdkit.upscale.images import check_size, from_planes, resize_alpha, resize_planes, to_planes
from sdkit.upscale.memory import check_fits, largest_batch_that_fits
from sdkit.upscale.tiling import tile_grid

if TYPE_CHECKING:
    from PIL.Image import Image

    from sdkit.upscale.loading import Upscaler

log = logging.getLogger(__name__)

# Infotext keys, after A1111's "Extras" tab (which writes "Postprocess upscaler" and
# "Postprocess upscale by"); the tile keys are sdkit's own.
KEY_UPSCALER = "Postprocess upscaler"
KEY_SCALE = "Postprocess upscale by"
KEY_TILE = "Postprocess upscaler tile"
KEY_OVERLAP = "Postprocess upscaler tile overlap"


def default_batch_size(device: str) -> int:
    """Tiles per model call: batching gains nothing on the CPU (measured, docs/upscale.md) but fills a GPU."""
    return 1 if device.split(":", 1)[0] == "cpu" else 4


def check_tiling(tile: int, tile_overlap: int) -> None:
    """The same rule parse_params applies, for callers of `upscale_image` that bypass it."""
    if tile < 0 or tile_overlap < 0:
        raise UserInputError(f"tile ({tile}) and tile overlap ({tile_overlap}) must be 0 or more",
                             "use e.g. --tile 512 --tile-overlap 32, or --tile 0 to turn tiling off")
    if tile > 0 and tile_overlap * 2 >= tile:
        raise UserInputError(f"the tile overlap ({tile_overlap}) must be less than half the tile ({tile})",
                             "raise --tile or lower --tile-overlap")


def output_size(width: int, height: int, factor: float) -> tuple[int, int]:
    return max(1, round(width * factor)), max(1, round(height * factor))


def count_tiles(image: Image, tile: int, tile_overlap: int) -> int:
    """How many model calls' worth of tiles `image` takes (for progress bars)."""
    width, height = image.size
    return len(tile_grid(height, width, tile, tile_overlap))


def infotext_fields(upscaler: Upscaler, factor: float, tile: int, tile_overlap: int) -> dict[str, object]:
    """The metadata that records an upscale; merge into an image's infotext."""
    shown = int(factor) if float(factor).is_integer() else round(float(factor), 4)
    fields: dict[str, object] = {KEY_UPSCALER: upscaler.name, KEY_SCALE: shown, KEY_TILE: tile}
    if tile:
        fields[KEY_OVERLAP] = tile_overlap
    return fields


def upscale_with(
    upscaler: Upscaler,
    image: Image,
    *,
    scale: float | None = None,
    tile: int = 512,
    tile_overlap: int = 32,
    batch_size: int | None = None,
    on_tile: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[Image, dict[str, object]]:
    """Upscale `image` with a loaded `upscaler`; see `upscale_image`.

    Raises `sdkit.upscale.tiling.Stopped` when `should_stop()` turns true between tiles.
    """
    import numpy as np
    import torch

    check_size(image)
    check_tiling(tile, tile_overlap)
    if scale is not None and not 0 < scale <= 16:
        raise UserInputError(f"upscale factor {scale} must be in (0, 16]", "omit it to use the model's own scale")
    if tile and upscaler.tiling_advice == "INTERNAL":
        log.info("%s tiles internally; running it on the whole image", upscaler.architecture)
        tile = 0
    elif tile and upscaler.tiling_advice == "DISCOURAGED":
        log.info("spandrel advises against tiling %s (it uses wide context); --tile 0 avoids it if memory allows",
                 upscaler.architecture)
    native = upscaler.scale
    factor = float(scale) if scale is not None else float(native)
    width, height = image.size
    planes = to_planes(image)
    channels = planes.colour.shape[2]

    colour = torch.from_numpy(np.ascontiguousarray(planes.colour.transpose(2, 0, 1)))[None]
    if upscaler.input_channels == 3 and channels == 1:
        colour = colour.expand(1, 3, height, width)  # grey through an RGB model, averaged back below
    elif upscaler.input_channels == 1 and channels == 3:
        colour = colour.permute(1, 0, 2, 3)  # each colour channel through a grey model, as a batch
    element = torch.finfo(upscaler.dtype).bits // 8
    batch = batch_size or largest_batch_that_fits(
        height, width, native, upscaler.device, tile=tile, most=default_batch_size(upscaler.device),
        filters=upscaler.num_filters, bytes_per_element=element * colour.shape[0])
    check_fits(height, width, native, upscaler.device, tile=tile, batch=batch * colour.shape[0],
               filters=upscaler.num_filters, bytes_per_element=element)

    def run_model(tiles: torch.Tensor) -> torch.Tensor:
        return upscaler.descriptor(tiles.to(upscaler.device, upscaler.dtype))

    from sdkit.upscale.tiling import run_tiled

    started = time.perf_counter()
    try:
        result = run_tiled(run_model, colour, native, tile, tile_overlap, batch_size=batch,
                           on_tile=on_tile, should_stop=should_stop)
    except RuntimeError as error:  # torch's OutOfMemoryError (GPU) and CPU allocator failures
        text = str(error).lower()
        if "out of memory" not in text and "can't allocate" not in text and "not enough memory" not in text:
            raise
        from sdkit.core.errors import RuntimeFailure

        raise RuntimeFailure(f"out of memory while upscaling a {width}x{height} image on {upscaler.device}",
                             "use a smaller --tile (or turn tiling on with --tile 512)") from error
    if upscaler.input_channels == 1 and channels == 3:
        result = result.permute(1, 0, 2, 3)
    elif upscaler.input_channels == 3 and channels == 1:
        result = result.mean(dim=1, keepdim=True)
    upscaled = result[0].numpy().transpose(1, 2, 0)
    out_width, out_height = output_size(width, height, factor)
    upscaled = resize_planes(upscaled, out_width, out_height)
    alpha = resize_alpha(planes.alpha, out_width, out_height) if planes.alpha is not None else None
    finished = from_planes(upscaled, alpha, planes.output_mode)
    seconds = time.perf_counter() - started
    log.info("upscaled %dx%d %s -> %dx%d %s with %s in %.2f s (tile %d, overlap %d)", width, height,
             image.mode, out_width, out_height, finished.mode, upscaler.name, seconds, tile, tile_overlap)
    return finished, infotext_fields(upscaler, factor, tile, tile_overlap)


def upscale_image(
    image: Image,
    model: str,
    *,
    scale: float | None = None,
    tile: int = 512,
    tile_overlap: int = 32,
    device: str = "auto",
    dtype: str = "auto",
) -> tuple[Image, dict[str, Any]]:
    """Upscale a PIL image with an upscaler model (a file path or a name in `<models>/upscale`).

    `scale` None keeps the model's native factor; another factor resizes the model's output with
    Lanczos. `tile` 0 runs the whole image at once. The model is loaded once per process and reused.
    Returns the upscaled image (in the input's mode) and the infotext fields to merge into its
    metadata: "Postprocess upscaler", "Postprocess upscale by", "Postprocess upscaler tile" and, with
    tiling on, "Postprocess upscaler tile overlap".
    """
    from sdkit.upscale.loading import load_upscaler

    check_size(image)
    check_tiling(tile, tile_overlap)
    upscaler = load_upscaler(model, device, dtype)
    return upscale_with(upscaler, image, scale=scale, tile=tile, tile_overlap=tile_overlap)
