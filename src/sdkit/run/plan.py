"""Turn what the user typed (flags, a preset, defaults) into one validated `RunPlan`.

Precedence, lowest first: engine defaults < the model's own defaults (e.g. its native size) < the
model folder's recommendations (sdkit.json) < the input image's size (img2img, inpaint) < preset <
what `--from-image` recalls < flags. Which engine and model run is decided in `choose.py`, the steps
around the drawing (LoRAs, sampler, `--upscale`, hires fix) in `steps.py`. A problem
with a value the user did not type (an input image's size, a value recalled from an image's
metadata) says where the value came from. Nothing here imports torch: `generate --dry-run` stops
after planning.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sdkit.core.errors import ParamsError, Problem, UserInputError
from sdkit.core.models import ModelRef
from sdkit.core.params import ParamsBase, parse_params
from sdkit.core.requests import request_fields
from sdkit.core.tasks import Mode, Task
from sdkit.models.recommended import recommended_params
from sdkit.registry import PIPELINES, Entry, plugin_calls, registry
from sdkit.run.choose import choose
from sdkit.run.from_image import RecordedRun, missing_inputs, read_recorded_run, recorded_error, recorded_model
from sdkit.run.hires import HiresPlan
from sdkit.run.inputs import INPUT_IMAGES
from sdkit.run.steps import UpscaleStep, plan_steps
from sdkit.runtime.logs import set_context

log = logging.getLogger(__name__)

# After txt2img/img2img/inpaint, --scale/--tile/--tile-overlap set the --upscale step's values.
UPSCALE_STEP_FLAGS = {"scale": "upscale_scale", "tile": "upscale_tile", "tile_overlap": "upscale_tile_overlap"}
@dataclass(frozen=True)
class RunPlan:
    task: Task
    mode: Mode
    engine: Any
    engine_entry: Entry
    model: str | None  # the reference as given; None when the engine's default model is used
    model_ref: ModelRef | None  # None only for an engine that takes no model
    vae: str | None
    params: ParamsBase
    sampler: Any | None = None  # the ResolvedSampler for tasks that sample
    preset: Any | None = None
    preset_changes: dict[str, Any] = field(default_factory=dict)  # {param: {"default": d, "preset": p}}
    flag_overrides: dict[str, Any] = field(default_factory=dict)
    model_is_default: bool = False
    upscale: UpscaleStep | None = None
    prediction_type: str | None = None  # given (--prediction-type, or recalled), not the model's own
    from_image: Path | None = None
    hires: HiresPlan | None = None  # A1111's hires fix (txt2img)

    @property
    def engine_name(self) -> str:
        return self.engine_entry.key

    def describe(self) -> dict[str, Any]:
        """Plain data for `--dry-run`, `--json` and the log."""
        preset = None
        if self.preset is not None:
            preset = {"name": self.preset.name, "source": self.preset.source, "path": str(self.preset.path),
                      "schema_version": self.preset.schema_version}
        model = self.model_ref.name if self.model_ref is not None else self.model
        return {
            "task": self.task.value,
            "mode": self.mode.value,
            "engine": self.engine_name,
            "engine_source": self.engine_entry.source,
            "model": model,
            "model_info": self.model_ref.describe() if self.model_ref is not None else None,
            "model_is_default": self.model_is_default,
            "vae": self.vae,
            "preset": preset,
            "sampler": None if self.sampler is None else {
                "id": self.sampler.id, "schedule": self.sampler.schedule,
                "model_default": self.sampler.is_model_default},
            "params": self.params.model_dump(mode="json"),
            "preset_changes": self.preset_changes,
            "flag_overrides": self.flag_overrides,
            "upscale": self.upscale.describe() if self.upscale is not None else None,
            "hires": self.hires.describe() if self.hires is not None else None,
            "prediction_type": self.prediction_type,
            "from_image": str(self.from_image) if self.from_image is not None else None,
        }


def _infer_task(flags: dict[str, Any]) -> Task:
    if flags.get("mask"):
        return Task.INPAINT
    if flags.get("image"):
        return Task.IMG2IMG
    return Task.TXT2IMG


def _recorded_task(recorded: RecordedRun, flags: dict[str, Any]) -> Task:
    """The recorded task, or the one the user's own inputs ask for (an --image on a txt2img image: img2img)."""
    inferred = _infer_task(flags)
    if recorded.task is Task.TXT2IMG or (recorded.task is Task.IMG2IMG and inferred is Task.INPAINT):
        return inferred
    return recorded.task


@dataclass(frozen=True)
class Origin:
    """Where a value that the user did not type came from, for the problems it causes."""

    source: str
    hint: str


def _init_image_size(image: str | None) -> tuple[dict[str, int], Origin | None]:
    """img2img and inpaint keep the input's size by default (rounded down to a multiple of 8)."""
    if not image:
        return {}, None
    from sdkit.files.images import read_image_size

    size = read_image_size(image)
    if size is None:
        return {}, None  # opening the image for the run reports what is wrong with it, naming the file
    width, height = size
    origin = Origin(f"taken from the input image {image}, {width}x{height} pixels"
                    + (" rounded to a multiple of 8" if width % 8 or height % 8 else ""),
                    "pass --width/-W and --height/-H to choose the output size")
    return {"width": max(8, width // 8 * 8), "height": max(8, height // 8 * 8)}, origin


def _with_origins(error: ParamsError, origins: dict[str, Origin]) -> ParamsError:
    """`error` with each problem of a value the user did not type saying where that value came from."""
    if not any(problem.field in origins for problem in error.problems):
        return error
    problems = []
    for problem in error.problems:
        origin = origins.get(problem.field)
        if origin is not None:
            hint = "; ".join(part for part in (problem.hint, f"{origin.source}: {origin.hint}") if part)
            problem = Problem(problem.field, problem.value, problem.allowed, hint)
        problems.append(problem)
    return ParamsError(problems)


def _check_vae(vae: str, recorded: RecordedRun | None) -> None:
    """A `--vae` that is not there fails the plan (and the dry run), not the model's loading."""
    from sdkit.models.vae import find_vae

    try:
        find_vae(vae)
    except UserInputError as error:
        if recorded is None:
            raise
        raise recorded_error(error, recorded, "the VAE",
                              "put that VAE in the models folder's vae/ folder, pass --vae FILE, "
                              "or --vae '' to use the model's own") from None


def make_plan(
    *,
    preset_name: str | None = None,
    task: str | None = None,
    engine: str | None = None,
    mode: str | None = None,
    model: str | None = None,
    vae: str | None = None,
    prediction_type: str | None = None,
    flags: dict[str, Any] | None = None,
    from_image: str | Path | None = None,
) -> RunPlan:
    """Resolve and validate everything a run needs; raises `SdkitError`s users can act on.

    `from_image` recalls an sdkit or A1111 PNG's parameters, model, VAE, prediction type, mode and
    upscale step; `model`, `vae` and the flags given here win over what it records.
    """
    flags = {key: value for key, value in (flags or {}).items() if value is not None}
    preset = None
    if preset_name:
        from sdkit.presets import load_preset

        preset = load_preset(preset_name)
        set_context(preset=f"{preset.name} ({preset.source})")
    recorded = read_recorded_run(Path(from_image)) if from_image is not None else None
    if recorded is not None:
        set_context(from_image=str(recorded.image))

    try:
        if task:
            run_task = Task(task)
        elif preset:
            run_task = Task(preset.task)
        elif recorded is not None:
            run_task = _recorded_task(recorded, flags)
            given = {name for name in INPUT_IMAGES if flags.get(name)}
            if run_task is recorded.task:
                missing_inputs(recorded, run_task, given)
        else:
            run_task = _infer_task(flags)
    except ValueError:
        raise UserInputError(f"unknown task {task!r}", f"use one of {', '.join(t.value for t in Task)}") from None
    if preset is not None and task and Task(task) != Task(preset.task):
        raise UserInputError(f"--task {task} conflicts with preset {preset.name!r}, which is a {preset.task} preset",
                             "drop --task or choose a preset for that task (sdkit presets list)")

    # Recorded values only make sense for the same kind of run (an upscaler is no txt2img model).
    if recorded is not None and (recorded.task is Task.UPSCALE) != (run_task is Task.UPSCALE):
        log.warning("%s records a %s, not a %s: its parameters are not used", recorded.image,
                    recorded.task.value, run_task.value)
        recorded = None
    # An explicit empty --model ('' from an unset shell variable) is refused, never read as 'no model';
    # an explicit --model also means the recorded one is never looked up.
    model_recorded = model is None and recorded is not None
    if model_recorded:
        assert recorded is not None
        model = recorded_model(recorded)
    model = model if model is not None else (preset.model if preset else None)
    engine_name = engine or (preset.engine if preset else None)
    mode_name = mode or (recorded.mode if recorded else None) or (preset.mode if preset else None) or Mode.NORMAL.value
    if recorded is not None:
        vae = vae if vae is not None else recorded.vae
        prediction_type = prediction_type or recorded.prediction_type
    vae = vae or None  # --vae '': the model's own VAE (drops one an image records)
    try:
        run_mode = Mode(mode_name)
    except ValueError:
        recorded_mode = recorded is not None and not mode and mode_name == recorded.mode
        raise UserInputError(f"unknown mode {mode_name!r}"
                             + (f" (recorded in {recorded.describe()})" if recorded_mode and recorded else ""),
                             f"use one of {', '.join(m.value for m in Mode)}") from None

    set_context(task=run_task.value, engine=engine_name, mode=run_mode.value, model=model)
    if engine_name:
        registry(PIPELINES).entry(engine_name)  # an unknown engine fails before any model is looked at
    try:
        choice = choose(run_task, engine_name, model)
    except UserInputError as error:
        if not (model_recorded and recorded is not None and recorded.task is Task.UPSCALE):
            raise
        raise recorded_error(error, recorded, "the upscaler", "pass --model FILE") from None
    model_ref = choice.model_ref
    if model_ref is not None and prediction_type:
        model_ref = model_ref.with_overrides(prediction_type=prediction_type)
    elif model_ref is not None and "prediction_type" in model_ref.guessed:
        other = "epsilon" if model_ref.prediction_type == "v_prediction" else "v_prediction"
        log.warning("%s does not say whether it predicts noise or velocity; assuming %s "
                    "(pass --prediction-type %s if its images come out wrong)",
                    model_ref.name, model_ref.prediction_type, other)
    engine_obj, engine_entry = choice.engine, choice.entry
    engine_name = engine_entry.key
    set_context(engine=engine_name)
    if vae is not None and model_ref is not None:
        _check_vae(vae, recorded if vae == (recorded.vae if recorded else None) else None)

    recalled = dict(recorded.params) if recorded is not None else {}
    upscaling_after = flags.get("upscale") if "upscale" in flags else (
        recalled.get("upscale") or (preset.params.get("upscale") if preset else None))
    if run_task is not Task.UPSCALE and upscaling_after:
        flags = {UPSCALE_STEP_FLAGS.get(key, key): value for key, value in flags.items()}
    allowed = request_fields(run_task)
    unknown_flags = sorted(set(flags) - allowed)
    if unknown_flags:
        raise UserInputError(f"{', '.join('--' + name.replace('_', '-') for name in unknown_flags)} "
                             f"cannot be used with {run_task.value}",
                             f"{run_task.value} takes: {', '.join(sorted(allowed))}"
                             + ("; --scale, --tile and --tile-overlap set the upscaler's values together with --upscale"
                                if set(unknown_flags) & set(UPSCALE_STEP_FLAGS) else "")
                             + ("; the hires fix (--hires-*) is a second pass of txt2img: drop --image/--mask for it"
                                if any(name.startswith("hires_") for name in unknown_flags) else ""))

    with plugin_calls(engine_entry, "giving its defaults"):
        defaults = dict(engine_obj.defaults(run_task, run_mode))
        model_defaults_fn = getattr(engine_obj, "model_defaults", None)
        if model_defaults_fn is not None and model_ref is not None:
            defaults.update(model_defaults_fn(model_ref, run_task, run_mode))
    if model_ref is not None and model_ref.path is not None:
        recommended = recommended_params(model_ref.path)
        if recommended:
            log.info("%s recommends %s", model_ref.name, recommended)
            defaults.update(recommended)
    origins: dict[str, Origin] = {}
    if run_task in (Task.IMG2IMG, Task.INPAINT):
        input_image = flags.get("image") or (preset.params.get("image") if preset else None)
        image_size, size_origin = _init_image_size(input_image)
        defaults.update(image_size)
        origins.update({side: size_origin for side in image_size if size_origin is not None})
    preset_params = dict(preset.params) if preset else {}
    recalled = {key: value for key, value in recalled.items() if key in allowed}
    if recorded is not None:
        log.info("recalled from %s: %s", recorded.image, recalled)
        for key in recalled:
            origins[key] = Origin(f"read from {recorded.describe()}",
                                  f"pass --{key.replace('upscale_', '').replace('_', '-')} to override it")
    # A value the preset or a flag sets came from there, which needs no saying (recalled beats the preset).
    for key in [*(key for key in preset_params if key not in recalled), *flags]:
        origins.pop(key, None)
    merged = {**defaults, **preset_params, **recalled, **flags}
    try:
        params = parse_params(engine_obj, run_task, {k: v for k, v in merged.items() if k in allowed}, run_mode)
    except ParamsError as error:
        raise _with_origins(error, origins) from None
    steps = plan_steps(params, engine_obj, engine_entry, model_ref, recorded, set(origins))
    params = steps.params

    preset_changes = {}
    if preset is not None:
        from sdkit.presets import preset_changes as changes_against

        preset_changes = changes_against(preset, defaults)
    flag_overrides = {key: value for key, value in flags.items()
                      if {**defaults, **preset_params, **recalled}.get(key) != value}
    if preset is not None:
        log.info("preset %s from %s (%s), schema_version %s; changes against defaults: %s",
                 preset.name, preset.source, preset.path, preset.schema_version, preset_changes)
    if flag_overrides:
        log.info("flags override: %s", flag_overrides)
    set_context(options=params.model_dump(mode="json"))
    return RunPlan(
        task=run_task, mode=run_mode, engine=engine_obj, engine_entry=engine_entry, model=model,
        model_ref=model_ref, vae=vae, params=params, sampler=steps.sampler, preset=preset,
        preset_changes=preset_changes, flag_overrides=flag_overrides, model_is_default=choice.model_is_default,
        upscale=steps.upscale, prediction_type=prediction_type,
        from_image=recorded.image if recorded is not None else None, hires=steps.hires,
    )
