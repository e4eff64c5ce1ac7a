"""The `realesrgan` engine: upscale an image with Real-ESRGAN-family weights (through spandrel).

Named after the weights users have (RealESRGAN_x4plus, x4plus_anime_6B, x2plus, other ESRGAN files);
it runs every image-to-image architecture spandrel detects (SwinIR, HAT, ...). The work is done in
`sdkit.upscale`; this module only adapts it to the Engine protocol and imports nothing heavy.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from sdkit.core.errors import Interrupted
from sdkit.core.tasks import Mode, Task
from sdkit.engines.base import GeneratedImage, LoadOptions, RunEvents, SizeLimits

if TYPE_CHECKING:
    from sdkit.core.params import ParamsBase
    from sdkit.upscale.loading import Upscaler

# tile and overlap are input pixels; scale None means the model's own factor
DEFAULTS: dict[str, Any] = {"tile": 512, "tile_overlap": 32, "scale": None}


class RealEsrganEngine:
    """Super-resolution upscaling of one input image per run, tiled, in the input's image mode."""

    name = "realesrgan"
    description = "Upscale images with Real-ESRGAN / ESRGAN weights (and other spandrel architectures)"
    tasks = frozenset({Task.UPSCALE})
    modes = frozenset({Mode.NORMAL})

    def defaults(self, task: Task, mode: Mode) -> Mapping[str, Any]:
        return dict(DEFAULTS)

    def size_limits(self, task: Task) -> SizeLimits:
        # Inputs come as files of any size; memory is checked against the image when it runs.
        return SizeLimits(min_size=1, max_size=65535, multiple_of=1)

    def load(self, model: str | None, options: LoadOptions) -> Upscaler:
        from sdkit.upscale.loading import load_upscaler

        return load_upscaler(model, options.device, options.dtype)

    def run(self, loaded: Upscaler, params: ParamsBase, events: RunEvents) -> Iterator[GeneratedImage]:
        from sdkit.upscale.api import count_tiles, upscale_with
        from sdkit.upscale.images import open_image
        from sdkit.upscale.tiling import Stopped

        image = open_image(params.image)
        tiles = count_tiles(image, params.tile, params.tile_overlap)
        events.image_started(0, 1, tiles)
        try:
            upscaled, fields = upscale_with(
                loaded, image, scale=params.scale, tile=params.tile, tile_overlap=params.tile_overlap,
                on_tile=lambda done, total: events.step_finished(0, done, total),
                should_stop=events.should_stop,
            )
        except Stopped:
            raise Interrupted("stopped by the user before the image was finished", "rerun to upscale it") from None
        yield GeneratedImage(image=upscaled, index=0, seed=None, infotext=fields)


engine = RealEsrganEngine()
