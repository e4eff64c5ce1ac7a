"""Turn what a user typed (A1111, ComfyUI or diffusers vocabulary) into one sampler and schedule type.

Also the way back: the A1111 names to write into infotext, and recognising a model's own scheduler
config as one of our samplers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sdkit.core.errors import UnknownKeyError, UserInputError
from sdkit.samplers.builtin import (
    A1111_SCHEDULES,
    COMFYUI_DEFAULT_SCHEDULE,
    COMFYUI_SAMPLERS,
    COMFYUI_SCHEDULES,
    SCHEDULES,
    SCHEDULES_BY_ID,
)
from sdkit.samplers.spec import SamplerSpec, ScheduleSpec
from sdkit.samplers.table import find_schedule, name_key, sampler_table

AUTOMATIC = "automatic"
# Sampler names that mean "keep the model's own scheduler".
_MODEL_DEFAULT_KEYS = {name_key(name) for name in ("automatic", "auto", "default", "model default", "")}
_SAMPLERS_HINT = "`sdkit samplers list` shows every sampler with its aliases"

# The vocabulary a sampler was named in decides what computes it (docs/samplers.md, "Which computation a
# name gets"): A1111's labels and k_ aliases run sdkit.sampling as A1111 does, sdkit's ids (ComfyUI's
# names) run it as ComfyUI does, where sdkit.sampling implements the sampler; diffusers class names,
# plugin aliases and names written "diffusers:<name>" run diffusers' schedulers.
A1111 = "a1111"
COMFYUI = "comfyui"
DIFFUSERS = "diffusers"
PLUGIN = "plugin"
MODEL = "model"  # "automatic": the model's own scheduler
# "diffusers:dpmpp_2m" asks for diffusers' scheduler under any name: how sdkit 0.x images made with ids
# are made again (their infotext records a "Diffusers scheduler"), and a diffusers script's way to say it.
DIFFUSERS_PREFIX = "diffusers:"


@dataclass(frozen=True)
class ResolvedSampler:
    """A sampler and a concrete schedule type, or (spec None) "keep the model's own scheduler".

    `schedule` is a canonical schedule id. It is "automatic" only for the model default, where it
    means "as the model's config says"; any other schedule there is laid over the model's scheduler.
    """

    spec: SamplerSpec | None
    schedule: str = AUTOMATIC
    # How the sampler was named (A1111, COMFYUI, DIFFUSERS, PLUGIN, MODEL); not part of equality, since
    # two spellings of one sampler are the same sampler. A described model config is diffusers'.
    vocabulary: str = field(default=DIFFUSERS, compare=False)

    @property
    def is_model_default(self) -> bool:
        return self.spec is None

    @property
    def a1111_sampling(self) -> bool:
        """True when sdkit.sampling runs it: named in A1111's vocabulary, and A1111's method is implemented."""
        return self.spec is not None and self.vocabulary == A1111 and self.spec.a1111_faithful

    @property
    def comfyui_sampling(self) -> bool:
        """True when sdkit.sampling runs it as ComfyUI does: named in ComfyUI's vocabulary (sdkit's ids)."""
        return self.spec is not None and self.vocabulary == COMFYUI and self.spec.id in COMFYUI_SAMPLERS

    @property
    def diffusers_name(self) -> str:
        """The name that asks for this sampler on diffusers' scheduler whatever it was named ("diffusers:euler")."""
        return DIFFUSERS_PREFIX + self.spec.id if self.spec is not None else AUTOMATIC

    @property
    def id(self) -> str:
        """The canonical sampler id, or "automatic" for the model's own scheduler."""
        return self.spec.id if self.spec is not None else AUTOMATIC


def _split_form(text: str) -> str:
    return re.sub(r"[\s_]+", " ", text.strip())


def _alias_vocabulary(alias: str) -> str:
    if alias.lower().startswith("k_"):
        return A1111
    return DIFFUSERS if alias.endswith("Scheduler") else COMFYUI


def name_vocabulary(written: str, spec: SamplerSpec) -> str:
    """Which vocabulary `written` (a name that finds `spec`) is in.

    Exact spellings first: A1111's label ("Euler", "DPM++ 2M"), then the id and aliases as the table
    writes them (k_euler: A1111; EulerDiscreteScheduler: diffusers; euler, dpmpp_2m: ComfyUI). Then
    loosely: the label in another case ("dpm++ 2m", "euler a") is A1111's, an alias in another form is
    its alias's. So "euler" is ComfyUI's id and "Euler" A1111's label; a plugin's alias is PLUGIN.
    """
    text = " ".join(written.split())
    if text == spec.display_name:
        return A1111
    if text in (spec.id, *spec.aliases):
        return _alias_vocabulary(text)
    if text.lower() == spec.display_name.lower():
        return A1111
    key = name_key(text)
    for alias in (spec.id, *spec.aliases):
        if name_key(alias) == key:
            return _alias_vocabulary(alias)
    return A1111 if name_key(spec.display_name) == key else PLUGIN


def split_legacy_name(name: str) -> tuple[str, ScheduleSpec | None]:
    """Split a combined name like "DPM++ 2M SDE Karras" into ("DPM++ 2M SDE", karras).

    A1111's get_sampler_and_scheduler rule: for each schedule type in A1111's order, and each of its
    label, name and aliases, strip " <that>" from the end if present (the last one stripped wins).
    Here case does not matter and "_" counts as a space, so ComfyUI-style "dpmpp_2m_karras" splits too.
    """
    text = _split_form(name)
    found: ScheduleSpec | None = None
    for schedule in SCHEDULES:
        for option in schedule.names:
            suffix = " " + _split_form(option).lower()
            if text.lower().endswith(suffix):
                text = text[: -len(suffix)]
                found = schedule
                break
    return text, found


def _split_longest_suffix(name: str) -> tuple[str, ScheduleSpec | None]:
    text = _split_form(name)
    options = sorted(((" " + _split_form(option).lower(), schedule) for schedule in SCHEDULES
                      for option in schedule.names), key=lambda item: -len(item[0]))
    for suffix, schedule in options:
        if text.lower().endswith(suffix):
            return text[: -len(suffix)], schedule
    return text, None


def a1111_legacy_split(name: str) -> tuple[str, str]:
    """(Sampler label, Schedule type label) exactly as A1111 v1.9+ reads an old combined name.

    "DPM++ 2M Karras" -> ("DPM++ 2M", "Automatic"), because Karras is that sampler's default;
    "Euler a Karras" -> ("Euler a", "Karras"). Unknown samplers raise instead of falling back.
    """
    base, schedule = split_legacy_name(name)
    spec = sampler_table().find(base)
    if spec is None:
        raise UnknownKeyError("sampler", base, sampler_table().spellings(), hint=_SAMPLERS_HINT)
    if schedule is None or schedule.id == spec.default_schedule:
        return spec.display_name, SCHEDULES_BY_ID[AUTOMATIC].label
    return spec.display_name, schedule.label


def _find_schedule_or_fail(name: str) -> ScheduleSpec:
    schedule = find_schedule(name)
    if schedule is None:
        known = [spelling for spec in SCHEDULES for spelling in spec.names]
        raise UnknownKeyError("schedule type", name, known,
                              hint="schedule types: " + ", ".join(spec.id for spec in SCHEDULES if spec.supported))
    if not schedule.supported:
        nearest = SCHEDULES_BY_ID[schedule.nearest or "karras"]
        raise UserInputError(
            f"schedule type {name!r} ({schedule.label}) has no diffusers equivalent",
            hint=f"the nearest supported schedule type is {nearest.label!r} (--schedule {nearest.id})",
        )
    return schedule


def _unsupported_sampler(name: str, spec: SamplerSpec) -> UserInputError:
    if spec.a1111_faithful or spec.id in COMFYUI_SAMPLERS:  # only sdkit.sampling runs it
        tools = ["A1111"] * spec.a1111_faithful + ["ComfyUI"] * (spec.id in COMFYUI_SAMPLERS)
        names = [f"--sampler {spec.display_name!r}"] * spec.a1111_faithful
        names += [f"--sampler {spec.id}"] * (spec.id in COMFYUI_SAMPLERS)
        return UserInputError(
            f"sampler {name!r} has no diffusers equivalent; sdkit runs it only as {' or '.join(tools)} computes it",
            hint=f"name it as {' or '.join(tools)} does: " + " or ".join(names),
        )
    nearest = sampler_table().find(spec.nearest or "")
    instead = f"{nearest.display_name!r} ({nearest.id})" if nearest is not None else repr(spec.nearest)
    return UserInputError(
        f"sampler {name!r} ({spec.display_name}) has no diffusers equivalent, so sdkit cannot run it",
        hint=f"the nearest supported sampler is {instead}",
    )


def _find_schedule_or_unknown(name: str) -> ScheduleSpec:
    schedule = find_schedule(name)
    if schedule is None:
        _find_schedule_or_fail(name)  # raises UnknownKeyError with did-you-mean
    assert schedule is not None
    return schedule


def resolve_sampler(name: str | None, schedule: str | None = None) -> ResolvedSampler:
    """Find the sampler and schedule type a user means.

    `name` may be a canonical id, an A1111 label ("DPM++ 2M"), an A1111 legacy combined name
    ("DPM++ 2M Karras"), an A1111 alias (k_dpmpp_2m), a ComfyUI name (dpmpp_2m, optionally with a
    "_karras"-style suffix), a diffusers class name, or a plugin's alias; case, spaces and
    underscores do not matter. None or "automatic" keeps the model's own scheduler. `schedule` None
    or "automatic" means the sampler's default schedule (A1111's rule); a diffusers scheduler class
    name there (`--scheduler EulerDiscreteScheduler`) names the sampler instead.

    Raises UnknownKeyError (with did-you-mean) for unknown names and UserInputError naming the
    nearest supported choice for samplers or schedules diffusers cannot run.
    """
    # An empty name is an unset shell variable or a slip, never a choice: it is refused rather than read
    # as "automatic" (which the user can say).
    for what, value in (("sampler", name), ("schedule type", schedule)):
        if value is not None and not value.strip():
            raise UserInputError(f"the {what} name is empty",
                                 f"leave it out (or say automatic) for the default; {_SAMPLERS_HINT}")
    table = sampler_table()
    on_diffusers = name is not None and name.strip().lower().startswith(DIFFUSERS_PREFIX)
    if on_diffusers:
        name = str(name).strip()[len(DIFFUSERS_PREFIX):]
        if not name.strip() or name_key(name) in _MODEL_DEFAULT_KEYS:
            raise UserInputError(f"{DIFFUSERS_PREFIX}{name} names no sampler",
                                 f"write {DIFFUSERS_PREFIX}<sampler>, e.g. {DIFFUSERS_PREFIX}dpmpp_2m; "
                                 + _SAMPLERS_HINT)
    named_by_schedule = _sampler_named_by_schedule(schedule, name)
    if named_by_schedule is not None:
        return _resolved(named_by_schedule, None, DIFFUSERS)

    explicit = None
    automatic_keys = {name_key(name) for name in SCHEDULES_BY_ID[AUTOMATIC].names} | {""}
    if schedule is not None and name_key(schedule) not in automatic_keys:
        explicit = _find_schedule_or_unknown(schedule)  # whether it can run depends on the sampler

    if name is None or name_key(name) in _MODEL_DEFAULT_KEYS:
        if explicit is not None and not explicit.supported:
            _find_schedule_or_fail(explicit.id)  # raises with the nearest schedule type
        return ResolvedSampler(None, explicit.id if explicit is not None else AUTOMATIC, MODEL)

    spec = table.find(name)
    written = name
    from_suffix: ScheduleSpec | None = None
    if spec is None:
        written, from_suffix = split_legacy_name(name)
        if from_suffix is not None:
            spec = table.find(written)
    if spec is None:
        # A1111's order strips " Uniform" from "Euler SGM Uniform"; sdkit also tries the longest suffix.
        written, from_suffix = _split_longest_suffix(name)
        if from_suffix is not None:
            spec = table.find(written)
    if spec is None:
        raise UnknownKeyError("sampler", name, table.spellings(), hint=_SAMPLERS_HINT)
    vocabulary = DIFFUSERS if on_diffusers else name_vocabulary(written, spec)
    # Whether sdkit.sampling computes it under this vocabulary (A1111's or ComfyUI's method).
    faithful = (vocabulary == A1111 and spec.a1111_faithful) or (vocabulary == COMFYUI and spec.id in COMFYUI_SAMPLERS)
    if not spec.supported and not faithful:
        raise _unsupported_sampler(name, spec)

    if from_suffix is not None and from_suffix.id != AUTOMATIC:
        if not from_suffix.supported and not faithful:
            _find_schedule_or_fail(from_suffix.id)  # raises with the nearest schedule type
        if explicit is not None and explicit.id != from_suffix.id:
            raise UserInputError(
                f"sampler {name!r} already names schedule type {from_suffix.label!r}, "
                f"but schedule type {explicit.label!r} was asked for too",
                hint=f"use sampler {spec.display_name!r} with --schedule {explicit.id}, or drop --schedule",
            )
        explicit = from_suffix
    return _resolved(spec, explicit, vocabulary)


def _resolved(spec: SamplerSpec, explicit: ScheduleSpec | None, vocabulary: str) -> ResolvedSampler:
    """The sampler with the schedule asked for (`explicit`) or its default, checked against what computes it."""
    if vocabulary == COMFYUI and spec.id in COMFYUI_SAMPLERS:  # ComfyUI's schedulers; its default is "normal"
        chosen = explicit if explicit is not None else SCHEDULES_BY_ID[COMFYUI_DEFAULT_SCHEDULE]
        if chosen.id not in COMFYUI_SCHEDULES:
            raise UserInputError(f"schedule type {chosen.label!r} is not one of ComfyUI's schedulers, and "
                                 f"{spec.id!r} is ComfyUI's name, which sdkit computes as ComfyUI does",
                                 hint=f"ComfyUI's schedulers: {', '.join(COMFYUI_SCHEDULES)}; A1111's name "
                                      f"({spec.display_name!r}) takes A1111's, {DIFFUSERS_PREFIX}{spec.id} diffusers'")
        return ResolvedSampler(spec, chosen.id, vocabulary)
    chosen = explicit if explicit is not None else SCHEDULES_BY_ID[spec.default_schedule]
    if vocabulary == A1111 and spec.a1111_faithful:  # sdkit.sampling's schedules, not diffusers' settings
        if chosen.id not in A1111_SCHEDULES:
            raise UserInputError(
                f"schedule type {chosen.label!r} is not one sdkit computes as A1111 does",
                hint="schedule types with A1111's sampler names: " + ", ".join(A1111_SCHEDULES))
        return ResolvedSampler(spec, chosen.id, vocabulary)
    if not chosen.supported:
        _find_schedule_or_fail(chosen.id)  # raises with the nearest schedule type
    if chosen.id not in spec.schedule_types:
        allowed = ", ".join(spec.schedule_types)
        raise UserInputError(
            f"sampler {spec.display_name!r} cannot use schedule type {chosen.label!r} in diffusers",
            hint=f"schedule types for {spec.id}: {allowed} (or automatic = {spec.default_schedule})",
        )
    return ResolvedSampler(spec, chosen.id, vocabulary)


def _sampler_named_by_schedule(schedule: str | None, name: str | None) -> SamplerSpec | None:
    """The sampler a diffusers scheduler class given as the schedule names (`--scheduler EulerDiscreteScheduler`).

    diffusers calls the class a "scheduler" and ComfyUI calls the schedule type one, and `--scheduler`
    is an alias of `--schedule`; so a diffusers user's class name arrives here. It is accepted as the
    sampler it names (the one `--sampler` finds for that name, with its default schedule), rather than
    refused: no class name is also a schedule type, so the meaning is never in doubt. Only class names
    are taken this way (names ending in "Scheduler"); a short sampler name given as a schedule ("euler")
    is refused with a hint, since some ("ddim") are schedule types too. None when `schedule` is not a
    sampler's name; raises when it is one but cannot be used as such.
    """
    if not schedule or find_schedule(schedule) is not None:
        return None
    table = sampler_table()
    spec = table.find(schedule)
    if spec is None:
        return None  # an unknown schedule type: the caller reports it with did-you-mean
    if not name_key(schedule).endswith("scheduler"):
        raise UserInputError(
            f"{schedule!r} is a sampler ({spec.display_name}), not a schedule type",
            hint=f"use --sampler {spec.id} (--schedule takes {', '.join(s.id for s in SCHEDULES if s.supported)})",
        )
    if not spec.supported:
        raise _unsupported_sampler(schedule, spec)
    if name is not None and name_key(name) not in _MODEL_DEFAULT_KEYS:
        chosen = table.find(name)
        if chosen is None or chosen.id != spec.id:
            raise UserInputError(
                f"--schedule {schedule!r} names the sampler {spec.display_name!r} ({spec.id}), but sampler "
                f"{name!r} is set too (by --sampler, the preset or the mode's defaults)",
                hint=f"pass the sampler once: --sampler {schedule}, or drop --schedule/--scheduler",
            )
    return spec


def scheduler_config(scheduler_or_config: Any) -> dict[str, Any]:
    """A scheduler config as a plain dict that names its class (`_class_name`).

    Takes a config mapping (as saved in scheduler_config.json) or a live scheduler object, whose
    `.config` lacks the class name.
    """
    if isinstance(scheduler_or_config, Mapping):
        return dict(scheduler_or_config)
    config = dict(getattr(scheduler_or_config, "config", {}) or {})
    config.setdefault("_class_name", type(scheduler_or_config).__name__)
    return config


def describe_scheduler_config(config: Mapping[str, Any] | Any) -> ResolvedSampler | None:
    """Recognise a model's own scheduler config as one of our samplers and schedule types.

    Picks the supported sampler with the same diffusers class whose settings all agree with the
    config (the one agreeing on the most settings). None when no sampler fits.
    """
    config = scheduler_config(config)
    class_name = config.get("_class_name")
    best: tuple[int, SamplerSpec] | None = None
    for spec in sampler_table().samplers.values():
        if not spec.supported or spec.scheduler_class != class_name:
            continue
        matched = 0
        for key, value in spec.scheduler_kwargs.items():
            if key in config and config[key] != value:
                break
            matched += key in config
        else:
            if best is None or matched > best[0]:
                best = (matched, spec)
    if best is None:
        return None
    spec = best[1]
    schedule = "uniform"
    for candidate in SCHEDULES:
        if candidate.sigmas_flag and config.get(candidate.sigmas_flag):
            schedule = candidate.id
    if schedule not in spec.schedule_types:
        schedule = spec.default_schedule
    return ResolvedSampler(spec, schedule)


def a1111_names(resolved: ResolvedSampler, base_scheduler_config: Mapping[str, Any] | Any | None = None
                ) -> tuple[str, str]:
    """(Sampler, Schedule type) labels for infotext, in A1111's vocabulary ("DPM++ 2M", "Karras").

    For the model's own scheduler, pass the model's scheduler config so the scheduler can be named;
    without it (or when it fits no known sampler) the diffusers class name is used.
    """
    if resolved.spec is not None:
        return resolved.spec.display_name, SCHEDULES_BY_ID[resolved.schedule].label
    described = describe_scheduler_config(base_scheduler_config) if base_scheduler_config else None
    if described is not None and described.spec is not None:
        schedule = described.schedule if resolved.schedule == AUTOMATIC else resolved.schedule
        return described.spec.display_name, SCHEDULES_BY_ID[schedule].label
    config = scheduler_config(base_scheduler_config) if base_scheduler_config is not None else {}
    class_name = str(config.get("_class_name") or "Automatic")
    return class_name, SCHEDULES_BY_ID[resolved.schedule].label
