"""The generation form as plain data: its fields, what they mean as `generate` flags, and presets on it.

The form is one list of values in the order of `FORM_FIELDS`; a blank value means "not given", as a
flag left off the command line (the preset, the model or the engine decides). The form becomes
`generate`'s arguments, which the service plans with the run layer's `make_plan`, so the UI refuses
exactly what `sdkit generate` refuses, with the same message and hint. Nothing here imports gradio or torch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sdkit.core.errors import UserInputError
from sdkit.core.requests import request_fields
from sdkit.core.tasks import Task

TASKS = tuple(task.value for task in Task)


@dataclass(frozen=True)
class FormField:
    """One input of the form: the `generate` flag it stands for and the kind of value it holds."""

    key: str  # the request field (`cfg_scale`), or `model`
    label: str
    kind: str  # "text", "int", "float" or "choice"
    info: str = ""


# The order here is the order of the values every handler receives.
FORM_FIELDS: tuple[FormField, ...] = (
    FormField("prompt", "Prompt", "text"),
    FormField("negative_prompt", "Negative prompt", "text"),
    FormField("model", "Model", "choice", "blank: the preset's, else the engine's default (the demo model)"),
    FormField("sampler", "Sampling method", "choice"),
    FormField("schedule", "Schedule type", "choice"),
    FormField("steps", "Sampling steps", "int"),
    FormField("cfg_scale", "CFG Scale", "float"),
    FormField("width", "Width", "int", "a multiple of 8; blank: the model's native size"),
    FormField("height", "Height", "int", "a multiple of 8; blank: the model's native size"),
    FormField("seed", "Seed", "int", "-1 draws one; image i uses seed + i"),
    FormField("batch_size", "Batch size", "int"),
    FormField("batch_count", "Batch count", "int"),
    FormField("strength", "Denoising strength", "float", "img2img and inpaint, in (0, 1]"),
    FormField("mask_blur", "Mask blur", "int", "inpaint: feather the mask edge by this many pixels"),
    FormField("scale", "Upscale by", "float", "upscale: blank is the upscaler's own scale"),
)
FIELD_KEYS = tuple(form_field.key for form_field in FORM_FIELDS)
BLANK = {"text": "", "int": "", "float": "", "choice": ""}


def blank_form() -> list[Any]:
    return [BLANK[form_field.kind] for form_field in FORM_FIELDS]


def form_dict(values: Sequence[Any]) -> dict[str, Any]:
    """The form's values by field key."""
    return dict(zip(FIELD_KEYS, values, strict=True))


def _number(form_field: FormField, text: str) -> int | float:
    try:
        number = float(text)
    except ValueError:
        raise UserInputError(f"{form_field.label}: {text!r} is not a number",
                             "type a number, or leave the field blank for the default") from None
    if form_field.kind == "int" and number.is_integer():
        return int(number)
    return number  # 7.5 in an int field stays 7.5, so the plan says "must be an integer" as the CLI does


def _flag_value(form_field: FormField, value: Any) -> Any:
    """A field's value as a flag: None when blank; numbers typed as text as numbers."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if form_field.kind in ("int", "float"):
        return _number(form_field, str(value).strip())
    return value


def form_flags(task: str, values: Sequence[Any]) -> tuple[str | None, dict[str, Any]]:
    """(model, flags) for `make_plan`: the non-blank fields that `task` takes.

    A field of another task (strength on txt2img) is left out, as A1111 hides it on that tab.
    """
    allowed = request_fields(Task(task))
    model = None
    flags: dict[str, Any] = {}
    for form_field, value in zip(FORM_FIELDS, values, strict=True):
        flag = _flag_value(form_field, value)
        if flag is None:
            continue
        if form_field.key == "model":
            model = str(flag)
        elif form_field.key in allowed:
            flags[form_field.key] = flag
    return model, flags


def sampler_label(name: str | None) -> str | None:
    """A sampler as the form shows it: A1111's display name (`dpmpp_2m` -> `DPM++ 2M`)."""
    if not name:
        return None
    from sdkit.samplers import sampler_table

    spec = sampler_table().find(name)
    return spec.display_name if spec is not None and name.strip().lower() != "automatic" else name


def schedule_label(name: str | None) -> str | None:
    """A schedule type as the form shows it: A1111's label (`karras` -> `Karras`)."""
    if not name:
        return None
    from sdkit.samplers.table import find_schedule

    schedule = find_schedule(name)
    return schedule.label if schedule is not None else name


def _shown(key: str, value: Any) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)  # number fields are text fields, blank meaning "the default"
    if key == "sampler":
        return sampler_label(value)
    if key == "schedule":
        return schedule_label(value)
    return value


def values_from_params(params: Mapping[str, Any], model: str | None) -> list[Any]:
    """A full form from a preset's or an image's parameters; fields they do not set are blank."""
    values = blank_form()
    for index, form_field in enumerate(FORM_FIELDS):
        given = model if form_field.key == "model" else params.get(form_field.key)
        if given is not None:
            values[index] = _shown(form_field.key, given)
    return values


def preset_form_values(preset: Any) -> list[Any]:
    """The form after applying `preset`: its values, blank where it leaves a field to the defaults."""
    return values_from_params(preset.params, preset.model)


def _comparable(form_field: FormField, value: Any) -> Any:
    """A field's value as a flag, or as typed when it is no number (Generate reports that one)."""
    try:
        return _flag_value(form_field, value)
    except UserInputError:
        return value


@dataclass(frozen=True)
class FormChange:
    """One field that applying a preset would change."""

    field: str
    current: Any
    preset: Any


def preset_form_changes(preset: Any, values: Sequence[Any]) -> list[FormChange]:
    """What applying `preset` would change in the form as it is now (blank shown as None)."""
    current = form_dict(values)
    after = form_dict(preset_form_values(preset))
    changes = []
    for form_field in FORM_FIELDS:
        before_value = _comparable(form_field, current[form_field.key])
        after_value = _comparable(form_field, after[form_field.key])
        if before_value != after_value:
            changes.append(FormChange(form_field.label, before_value, after_value))
    return changes


def form_request(task: str, values: Sequence[Any], preset_name: str | None = None,
                 upscaler: str | None = None) -> dict[str, Any]:
    """The form as `generate`'s arguments (`preset`, `task`, `model`, `flags`), for a service job.

    Like `sdkit generate --preset P --task T <the non-blank fields as flags>`: the fields win over
    the preset, as flags do. The applied preset takes part only on a tab of its own task; `upscaler`
    is the upscale tab's model (the Model field is the diffusion model's).
    """
    from sdkit.presets.load import read_preset

    model, flags = form_flags(task, values)
    if task == Task.UPSCALE.value:
        model = upscaler or None
    if preset_name and read_preset(preset_name).task.value != task:
        preset_name = None
    return {"preset": preset_name, "task": task, "model": model, "flags": flags}
