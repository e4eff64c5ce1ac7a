"""What a run does besides drawing, planned once its parameters are known: the LoRAs it applies, the
sampler it runs, the `--upscale` step and the hires fix.

Each is checked here, before anything is loaded, so `generate --dry-run` refuses what the run would
refuse. A problem with a value recalled by `--from-image` names the image it came from. Nothing here
imports torch.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass
from typing import Any

from sdkit.core.errors import UserInputError
from sdkit.core.models import ModelRef
from sdkit.core.params import ParamsBase, Txt2ImgParams, UpscaleParams, parse_params
from sdkit.core.tasks import Task
from sdkit.networks.lora_use import plan_loras
from sdkit.registry import Entry, plugin_calls
from sdkit.run.choose import choose
from sdkit.run.from_image import RecordedRun, check_recorded_embeddings, recorded_error
from sdkit.run.hires import HiresPlan, plan_hires

# What UpscaleParams.image says for an image that comes from the run itself rather than a file.
GENERATED_IMAGE = "(the generated image)"


@dataclass(frozen=True)
class UpscaleStep:
    """`--upscale MODEL`: the upscale engine, its model and parameters, applied before each image is saved."""

    engine: Any
    engine_entry: Entry
    model_ref: ModelRef
    params: UpscaleParams

    def describe(self) -> dict[str, Any]:
        return {"engine": self.engine_entry.key, "engine_source": self.engine_entry.source,
                "model": self.model_ref.name, "params": self.params.model_dump(mode="json", exclude={"image"})}


@dataclass(frozen=True)
class PlannedSteps:
    params: ParamsBase  # with the LoRAs resolved (a recalled LoRA found again by its hash)
    sampler: Any | None  # the ResolvedSampler, for tasks that sample
    upscale: UpscaleStep | None
    hires: HiresPlan | None


def plan_steps(params: ParamsBase, engine: Any, engine_entry: Entry, model_ref: ModelRef | None,
               recorded: RecordedRun | None, recalled: Set[str]) -> PlannedSteps:
    """Plan and check the run's steps; `recalled` names the parameters `--from-image` supplied."""

    def naming_the_image(error: UserInputError, names: list[str], hint: str) -> UserInputError:
        if recorded is None or not names:
            return error
        return recorded_error(error, recorded, f"the {' and '.join(names)}", hint)

    params = plan_loras(params, model_ref, recorded)  # a missing or wrong-family LoRA fails --dry-run too
    if recorded is not None and recorded.embeddings:
        check_recorded_embeddings(recorded, str(getattr(params, "prompt", "")),
                                  str(getattr(params, "negative_prompt", "")))
    try:
        sampler = _resolve_sampler(params)
    except UserInputError as error:
        raise naming_the_image(error, [key for key in ("sampler", "schedule") if key in recalled],
                               "pass --sampler and --schedule to choose others") from None
    check_run = getattr(engine, "check_run", None)
    if check_run is not None:
        with plugin_calls(engine_entry, "checking the run's parameters"):
            check_run(model_ref, params, sampler)
    try:
        upscale = _plan_upscale(params)
    except UserInputError as error:
        raise naming_the_image(error, ["upscaler"] if "upscale" in recalled else [],
                               "pass --upscale FILE, or --upscale '' to leave the upscale out") from None
    try:
        hires = plan_hires(params, engine, engine_entry) if isinstance(params, Txt2ImgParams) else None
    except UserInputError as error:
        raise naming_the_image(error, [key for key in ("hires_upscaler", "hires_sampler", "hires_schedule")
                                       if key in recalled],
                               "pass --hires-upscaler (e.g. Latent) or put that upscaler in the models "
                               "folder's upscale/ folder") from None
    return PlannedSteps(params, sampler, upscale, hires)


def _plan_upscale(params: ParamsBase) -> UpscaleStep | None:
    """The `--upscale` step through the registry's upscale engine, checked now (so --dry-run finds the model)."""
    reference = getattr(params, "upscale", None)
    if not reference:
        return None
    choice = choose(Task.UPSCALE, getattr(params, "upscale_engine", None), reference)
    request = {"image": GENERATED_IMAGE, "scale": params.upscale_scale, "tile": params.upscale_tile,
               "tile_overlap": params.upscale_tile_overlap}
    upscale_params = parse_params(choice.engine, Task.UPSCALE, request)
    assert isinstance(upscale_params, UpscaleParams) and choice.model_ref is not None
    return UpscaleStep(choice.engine, choice.entry, choice.model_ref, upscale_params)


def _resolve_sampler(params: ParamsBase) -> Any | None:
    """Check the sampler and schedule names now, so `--dry-run` catches a misspelt or unsupported one."""
    name = getattr(params, "sampler", None)
    if name is None:
        return None
    from sdkit.samplers import resolve_sampler

    return resolve_sampler(name, getattr(params, "schedule", None))
