"""A1111's hires fix in the run layer: what is checked when planning, what the engine is handed, and
the infotext keys A1111 writes for it.

At plan time (so `--dry-run` catches it) the upscaler name is resolved: one of A1111's latent modes or
model-free resizes (`sdkit.core.hires`, any case), else an upscaler model found through the upscale
task's engine, as `--upscale` finds one; the hires sampler and schedule are resolved too. While running,
the engine gets a `HiresPass` per batch; for a model upscaler it holds a callable that runs the upscale
engine, so the SD engine never imports another engine. Nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sdkit.core.errors import UnknownKeyError, UserInputError
from sdkit.core.hires import (
    LATENT_MODES,
    RESIZE_UPSCALERS,
    HiresPass,
    HiresSize,
    builtin_upscaler,
    hires_size,
    second_pass_steps,
)
from sdkit.core.models import ModelRef
from sdkit.core.params import Txt2ImgParams, UpscaleParams, parse_params
from sdkit.core.tasks import Task
from sdkit.registry import Entry
from sdkit.run.choose import choose

if TYPE_CHECKING:
    from PIL.Image import Image

# What UpscaleParams.image says for the first pass's image, which comes from the run itself.
FIRST_PASS_IMAGE = "(the hires fix's first pass)"
# A1111 upscales at most this many times to reach the target (its Upscaler.upscale), then resizes.
MOST_UPSCALES = 3


@dataclass(frozen=True)
class HiresPlan:
    """The checked hires fix of a run: its size, its upscaler and, for a model upscaler, the engine."""

    size: HiresSize
    upscaler: str  # A1111's spelling of a built-in mode, or the upscaler model's name
    latent_mode: tuple[str, bool] | None = None
    resize: str | None = None
    engine: Any = None  # the upscale engine, for a model upscaler
    engine_entry: Entry | None = None
    model_ref: ModelRef | None = None
    params: UpscaleParams | None = None
    sampler: Any = None  # the second pass's ResolvedSampler

    def describe(self) -> dict[str, Any]:
        width, height = self.size.size()
        kind = "latent" if self.latent_mode else ("resize" if self.resize else "model")
        return {
            "size": f"{width}x{height}", "upscaler": self.upscaler, "kind": kind,
            "upscaler_engine": self.engine_entry.key if self.engine_entry is not None else None,
            "upscaler_model": str(self.model_ref.location) if self.model_ref is not None else None,
            "sampler": None if self.sampler is None else {"id": self.sampler.id, "schedule": self.sampler.schedule},
        }


def _model_upscaler(name: str) -> tuple[Any, Entry, ModelRef, UpscaleParams]:
    """The upscale engine and model for an upscaler that is not built in; unknown names get a did-you-mean."""
    try:
        choice = choose(Task.UPSCALE, None, name)
    except UnknownKeyError as error:
        from sdkit.upscale.files import upscale_models_dir

        raise UnknownKeyError(
            "hires upscaler", name, [*LATENT_MODES, *RESIZE_UPSCALERS, *error.known],
            hint=f"use a latent mode ({', '.join(LATENT_MODES)}), Lanczos, Nearest or None, or an upscaler "
                 f"model: a weight file, or its name in {upscale_models_dir()}") from None
    params = parse_params(choice.engine, Task.UPSCALE, {"image": FIRST_PASS_IMAGE, "scale": None})
    assert isinstance(params, UpscaleParams) and choice.model_ref is not None
    return choice.engine, choice.entry, choice.model_ref, params


def plan_hires(params: Txt2ImgParams, engine: Any, entry: Entry) -> HiresPlan | None:
    """The run's hires fix, checked (None when it is off); raises `UserInputError` with a hint."""
    if not params.hires:
        return None
    if not getattr(engine, "hires_fix", False):
        raise UserInputError(f"engine {entry.key!r} does not do the hires fix (--hires-scale, --hires-size)",
                             "drop the --hires-* options, or use an SD engine (sd15, sd2, sdxl)")
    from sdkit.samplers import resolve_sampler

    sampler = None
    if params.hires_sampler is not None or params.hires_schedule is not None:
        sampler = resolve_sampler(params.hires_sampler or params.sampler, params.hires_schedule or params.schedule)
    size = hires_size(params.width, params.height, params.hires_scale, params.hires_width, params.hires_height)
    builtin = builtin_upscaler(params.hires_upscaler)
    if builtin is not None:
        return HiresPlan(size, builtin, latent_mode=LATENT_MODES.get(builtin),
                         resize=RESIZE_UPSCALERS.get(builtin), sampler=sampler)
    upscale_engine, upscale_entry, model_ref, upscale_params = _model_upscaler(params.hires_upscaler)
    return HiresPlan(size, model_ref.name, engine=upscale_engine, engine_entry=upscale_entry, model_ref=model_ref,
                     params=upscale_params, sampler=sampler)


def enlarge(image: Image, size: tuple[int, int], upscale_once: Callable[[Image], Image]) -> Image:
    """`image` at `size`: upscaled (up to three times, while smaller) then resized with Lanczos, as A1111."""
    from PIL import Image as PILImage

    for _ in range(MOST_UPSCALES):
        if image.width >= size[0] and image.height >= size[1]:
            break
        before = image.size
        image = upscale_once(image).convert("RGB")
        if image.size == before:
            break
    if image.size != size:
        image = image.resize(size, PILImage.Resampling.LANCZOS)
    return image


def hires_pass(plan: HiresPlan, params: Txt2ImgParams,
               upscale_once: Callable[[Image], Image] | None = None) -> HiresPass:
    """What the engine is handed for the second pass; `upscale_once` runs a model upscaler once."""
    upscale_image = None
    if upscale_once is not None:
        def upscale_image(image: Image, size: tuple[int, int]) -> Image:
            return enlarge(image, size, upscale_once)

    return HiresPass(
        size=plan.size, upscaler=plan.upscaler,
        steps=second_pass_steps(params.steps, params.hires_steps), denoise=params.hires_denoise,
        prompt=params.hires_prompt or params.prompt, negative_prompt=params.hires_negative_prompt or
        params.negative_prompt, cfg_scale=params.hires_cfg_scale if params.hires_cfg_scale is not None else
        params.cfg_scale, sampler=params.hires_sampler or params.sampler,
        schedule=params.hires_schedule or params.schedule, latent_mode=plan.latent_mode, resize=plan.resize,
        upscale_image=upscale_image,
    )


def hires_fields(plan: HiresPlan | None, params: Txt2ImgParams) -> dict[str, Any]:
    """A1111's infotext keys for the hires fix (the engine adds Hires sampler and Hires schedule type).

    "Size" stays the first pass's size, as in A1111; the second pass's strength is "Denoising strength".
    """
    if plan is None:
        return {}
    fields: dict[str, Any] = {"Denoising strength": params.hires_denoise}
    if params.hires_prompt and params.hires_prompt != params.prompt:
        fields["Hires prompt"] = params.hires_prompt
    if params.hires_negative_prompt and params.hires_negative_prompt != params.negative_prompt:
        fields["Hires negative prompt"] = params.hires_negative_prompt
    if params.hires_cfg_scale is not None and params.hires_cfg_scale != params.cfg_scale:
        fields["Hires CFG Scale"] = params.hires_cfg_scale
    if params.hires_width or params.hires_height:
        fields["Hires resize"] = f"{params.hires_width or 0}x{params.hires_height or 0}"
    else:
        fields["Hires upscale"] = params.hires_scale
    if params.hires_steps:
        fields["Hires steps"] = params.hires_steps
    fields["Hires upscaler"] = plan.upscaler
    return fields
