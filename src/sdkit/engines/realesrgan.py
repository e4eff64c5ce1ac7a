"""The `realesrgan` engine: upscale an image with Real-ESRGAN-family weights (through spandrel).

Named after the weights users have (RealESRGAN_x4plus, x4plus_anime_6B, x2plus, other ESRGAN files);
it runs every image-to-image architecture spandrel detects (SwinIR, HAT, ...). The work is done in
`sdkit.upscale`; this module only adapts it to the engine contract and imports nothing heavy.
Upscaler weights are not Stable Diffusion models, so the engine finds them itself (`find_model`):
a path to a weight file, or a name in `<models folder>/upscale/`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sdkit.plugin import (
    Batch,
    GeneratedImage,
    Interrupted,
    LoadOptions,
    Mode,
    ModelRef,
    SizeLimits,
    StepEvents,
    Task,
    UpscaleParams,
)

if TYPE_CHECKING:
    from sdkit.upscale.loading import Upscaler

# tile and overlap are input pixels; scale None means the model's own factor
DEFAULTS: dict[str, Any] = {"tile": 512, "tile_overlap": 32, "scale": None}
UPSCALER_FAMILY = "upscaler"


class RealEsrganEngine:
    """Super-resolution upscaling of one input image per batch, tiled, in the input's image mode."""

    name = "realesrgan"
    description = "Upscale images with Real-ESRGAN / ESRGAN weights (and other spandrel architectures)"
    tasks = frozenset({Task.UPSCALE})
    modes = frozenset({Mode.NORMAL})
    families = frozenset({UPSCALER_FAMILY})
    default_model = None

    def defaults(self, task: Task, mode: Mode) -> Mapping[str, Any]:
        return dict(DEFAULTS)

    def size_limits(self, task: Task) -> SizeLimits:
        # Inputs come as files of any size; memory is checked against the image when it runs.
        return SizeLimits(min_size=1, max_size=65535, multiple_of=1)

    def find_model(self, reference: str) -> ModelRef:
        from sdkit.upscale.files import resolve_model_file

        path = resolve_model_file(reference)
        return ModelRef(name=path.stem, location=path, source=self.name, format=path.suffix.lstrip(".").lower(),
                        family=UPSCALER_FAMILY, size_bytes=path.stat().st_size)

    def load(self, model: ModelRef | None, options: LoadOptions) -> Upscaler:
        from sdkit.upscale.loading import load_upscaler

        return load_upscaler(str(model.location) if model is not None else None, options.device, options.dtype)

    def draw(self, loaded: Upscaler, batch: Batch, events: StepEvents) -> list[GeneratedImage]:
        from sdkit.upscale.api import upscale_with
        from sdkit.upscale.tiling import Stopped

        params = batch.params
        assert isinstance(params, UpscaleParams)
        try:
            upscaled, fields = upscale_with(
                loaded, batch.images["image"], scale=params.scale, tile=params.tile,
                tile_overlap=params.tile_overlap, on_tile=events.step_finished, should_stop=events.should_stop,
            )
        except Stopped:
            raise Interrupted("stopped by the user before the image was finished", "rerun to upscale it") from None
        return [GeneratedImage(upscaled, fields)]


engine = RealEsrganEngine()
