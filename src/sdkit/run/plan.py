"""Turn what the user typed (flags, a preset, defaults) into one validated `RunPlan`.

Precedence, lowest first: engine defaults < the model's own defaults (e.g. its native size) < preset <
flags. Nothing here imports torch: `generate --dry-run` stops after planning.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from sdkit.core.errors import UserInputError
from sdkit.core.params import ParamsBase, parse_params
from sdkit.core.requests import request_fields
from sdkit.core.tasks import Mode, Task
from sdkit.models.recommended import recommended_params
from sdkit.registry import PIPELINES, Entry, registry
from sdkit.runtime.logs import set_context

log = logging.getLogger(__name__)

ENGINE_FOR_FAMILY = {"sd1": "sd15", "sd2": "sd2", "sdxl": "sdxl"}
DEFAULT_ENGINE_FOR_TASK = {Task.UPSCALE: "realesrgan"}
FALLBACK_ENGINE = "sd15"


@dataclass(frozen=True)
class RunPlan:
    task: Task
    mode: Mode
    engine: Any
    engine_entry: Entry
    model: str | None
    model_ref: Any | None
    vae: str | None
    params: ParamsBase
    sampler: Any | None = None  # the ResolvedSampler for tasks that sample
    preset: Any | None = None
    preset_changes: dict[str, Any] = field(default_factory=dict)
    flag_overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def engine_name(self) -> str:
        return self.engine_entry.key

    def describe(self) -> dict[str, Any]:
        """Plain data for `--dry-run`, `--json` and the log."""
        preset = None
        if self.preset is not None:
            preset = {"name": self.preset.name, "source": self.preset.source, "path": str(self.preset.path),
                      "schema_version": self.preset.schema_version}
        model = self.model
        if self.model_ref is not None:
            model = getattr(self.model_ref, "name", None) or str(getattr(self.model_ref, "location", model))
        return {
            "task": self.task.value,
            "mode": self.mode.value,
            "engine": self.engine_name,
            "engine_source": self.engine_entry.source,
            "model": model,
            "model_info": self.model_ref.describe() if hasattr(self.model_ref, "describe") else None,
            "vae": self.vae,
            "preset": preset,
            "sampler": None if self.sampler is None else {
                "id": self.sampler.id, "schedule": self.sampler.schedule,
                "model_default": self.sampler.is_model_default},
            "params": self.params.model_dump(mode="json"),
            "preset_changes": self.preset_changes,
            "flag_overrides": self.flag_overrides,
        }


def _infer_task(flags: dict[str, Any]) -> Task:
    if flags.get("mask"):
        return Task.INPAINT
    if flags.get("image"):
        return Task.IMG2IMG
    return Task.TXT2IMG


def _resolve_model_ref(model: str | None, task: Task) -> Any | None:
    """The model reference for SD-style tasks (None for upscale, whose engine finds its own models)."""
    if task is Task.UPSCALE:
        return None
    from sdkit.models import resolve_model

    return resolve_model(model)


def _init_image_size(image: str | None) -> dict[str, int]:
    """img2img and inpaint keep the input's size by default (rounded down to a multiple of 8)."""
    if not image:
        return {}
    try:
        from PIL import Image

        with Image.open(image) as opened:
            width, height = opened.size
    except (OSError, ValueError):
        return {}  # the engine reports an unreadable image with the file's name
    return {"width": max(8, width // 8 * 8), "height": max(8, height // 8 * 8)}


def _engine_name(explicit: str | None, task: Task, model_ref: Any | None) -> str:
    if explicit:
        return explicit
    if task in DEFAULT_ENGINE_FOR_TASK:
        return DEFAULT_ENGINE_FOR_TASK[task]
    family = getattr(model_ref, "family", None)
    family_name = getattr(family, "value", family)
    return ENGINE_FOR_FAMILY.get(str(family_name), FALLBACK_ENGINE)


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
) -> RunPlan:
    """Resolve and validate everything a run needs; raises `SdkitError`s users can act on."""
    flags = {key: value for key, value in (flags or {}).items() if value is not None}
    preset = None
    if preset_name:
        from sdkit.presets import load_preset

        preset = load_preset(preset_name)
        set_context(preset=f"{preset.name} ({preset.source})")

    try:
        run_task = Task(task) if task else (Task(preset.task) if preset else _infer_task(flags))
    except ValueError:
        raise UserInputError(f"unknown task {task!r}", f"use one of {', '.join(t.value for t in Task)}") from None
    if preset is not None and task and Task(task) != Task(preset.task):
        raise UserInputError(f"--task {task} conflicts with preset {preset.name!r}, which is a {preset.task} preset",
                             "drop --task or choose a preset for that task (sdkit presets list)")

    model = model or (preset.model if preset else None)
    engine_name = engine or (preset.engine if preset else None)
    mode_name = mode or (preset.mode if preset else None) or Mode.NORMAL.value
    try:
        run_mode = Mode(mode_name)
    except ValueError:
        raise UserInputError(f"unknown mode {mode_name!r}", f"use one of {', '.join(m.value for m in Mode)}") from None

    set_context(task=run_task.value, engine=engine_name, mode=run_mode.value, model=model)
    pipelines = registry(PIPELINES)
    if engine_name:
        pipelines.entry(engine_name)  # an unknown engine fails before any model is looked at
    # The model decides the engine when nothing else does, so resolve it first (reads headers only).
    model_ref = _resolve_model_ref(model, run_task)
    if model_ref is not None and prediction_type:
        model_ref = model_ref.with_overrides(prediction_type=prediction_type)
    elif model_ref is not None and "prediction_type" in getattr(model_ref, "guessed", ()):
        log.warning("%s does not say whether it predicts noise or velocity; assuming %s "
                    "(pass --prediction-type epsilon for 512-pixel SD 2.x base models)",
                    model_ref.name, model_ref.prediction_type)
    engine_name = _engine_name(engine_name, run_task, model_ref)
    engine_entry = pipelines.entry(engine_name)
    engine_obj = pipelines.get(engine_name)
    set_context(engine=engine_name)

    allowed = request_fields(run_task)
    unknown_flags = sorted(set(flags) - allowed)
    if unknown_flags:
        raise UserInputError(f"{', '.join('--' + name.replace('_', '-') for name in unknown_flags)} "
                             f"cannot be used with {run_task.value}",
                             f"{run_task.value} takes: {', '.join(sorted(allowed))}")

    defaults = dict(engine_obj.defaults(run_task, run_mode))
    model_defaults_fn = getattr(engine_obj, "model_defaults", None)
    if model_defaults_fn is not None and model_ref is not None:
        defaults.update(model_defaults_fn(model_ref, run_task, run_mode))
    if model_ref is not None:
        recommended = recommended_params(model_ref.path)
        if recommended:
            log.info("%s recommends %s", model_ref.name, recommended)
            defaults.update(recommended)
    if run_task in (Task.IMG2IMG, Task.INPAINT):
        defaults.update(_init_image_size(flags.get("image") or (preset.params.get("image") if preset else None)))
    preset_params = dict(preset.params) if preset else {}
    merged = {**defaults, **preset_params, **flags}
    params = parse_params(engine_obj, run_task, {k: v for k, v in merged.items() if k in allowed}, run_mode)
    sampler = _resolve_sampler(params)

    preset_changes = {key: value for key, value in preset_params.items() if defaults.get(key) != value}
    flag_overrides = {key: value for key, value in flags.items() if {**defaults, **preset_params}.get(key) != value}
    if preset is not None:
        log.info("preset %s from %s (%s), schema_version %s; changes against defaults: %s",
                 preset.name, preset.source, preset.path, preset.schema_version, preset_changes)
    if flag_overrides:
        log.info("flags override: %s", flag_overrides)
    set_context(options=params.model_dump(mode="json"))
    return RunPlan(
        task=run_task, mode=run_mode, engine=engine_obj, engine_entry=engine_entry, model=model,
        model_ref=model_ref, vae=vae, params=params, sampler=sampler, preset=preset,
        preset_changes=preset_changes, flag_overrides=flag_overrides,
    )


def _resolve_sampler(params: ParamsBase) -> Any | None:
    """Check the sampler and schedule names now, so `--dry-run` catches a misspelt or unsupported one."""
    name = getattr(params, "sampler", None)
    if name is None:
        return None
    from sdkit.samplers import resolve_sampler

    return resolve_sampler(name, getattr(params, "schedule", None))
