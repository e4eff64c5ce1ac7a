"""Turn the data of a preset file into a `Preset`: check its schema version, migrate, validate.

Every problem in a file is collected and reported at once, each with its line, field and a hint.
Parameter ranges are checked with the same rules `parse_params` uses (`range_problems`); sizes only
against the rule every built-in engine shares (positive multiples of 8), since the engine's own range
is checked by `parse_params` once the engine is chosen. No engine is imported.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pydantic import ValidationError

from sdkit.core.errors import closest_matches
from sdkit.core.params import SizeLimits, range_problems
from sdkit.core.requests import REQUEST_TYPES, request_fields
from sdkit.core.tasks import Mode, Task
from sdkit.core.text import clipped, quoted
from sdkit.presets.migrations import MIGRATIONS, V0_KEYS, Origins, migrate
from sdkit.presets.model import Preset, PresetError, PresetProblem
from sdkit.presets.reading import read_preset_bytes
from sdkit.presets.schema import CURRENT_SCHEMA_VERSION, TOP_LEVEL_KEYS, PresetBase
from sdkit.presets.yamlfile import KeyPath, parse_preset_yaml

log = logging.getLogger(__name__)

TASK_NAMES = [task.value for task in Task]
_UPGRADE_HINT = "upgrade sdkit (pip install -U sdkit-cli) or ask the preset's author for an older version"


# Sizes a preset may set before its engine is known; the engine's own limits apply when it runs.
PRESET_SIZE_LIMITS = SizeLimits(min_size=8, max_size=1 << 20, multiple_of=8)


class _Collector:
    """Problems found so far, with lines looked up in the file as the user wrote it."""

    def __init__(self, lines: Mapping[KeyPath, int], origins: Origins) -> None:
        self.lines = lines
        self.origins = origins
        self.problems: list[PresetProblem] = []

    def line_of(self, path: KeyPath) -> int | None:
        # The longest prefix of the path that has a line: an error inside a value points at its key.
        for end in range(len(path), 0, -1):
            written = self.origins.get(path[:end], path[:end])
            if written in self.lines:
                return self.lines[written]
        return None

    def add(self, path: KeyPath, message: str, hint: str | None = None) -> None:
        field = _field_name(path)
        written = self.origins.get(path)
        if written is not None and written != path:  # a migrated key: say what the file calls it
            field += f" (written as `{_field_name(written)}`)"
        self.problems.append(PresetProblem(field, message, self.line_of(path), hint))


def _field_name(path: KeyPath) -> str:
    """`params.steps`; a key is the user's text, so each part is cut short."""
    return ".".join(clipped(part, 40) for part in path)


def _describe_input_error(item: Mapping[str, Any]) -> str:
    message = clipped(str(item["msg"]), 200)
    message = message[:1].lower() + message[1:]
    return f"{quoted(item.get('input'))}: {message}"


def _unknown_top_level_key(key: str, found: _Collector) -> None:
    all_params = set().union(*(request_fields(t) for t in Task))
    if key in V0_KEYS or key in all_params:
        new_name = V0_KEYS.get(key, key)
        where = "engine" if new_name == "engine" else f"params.{new_name}"
        found.add((key,), "unknown key", f"in schema version {CURRENT_SCHEMA_VERSION} this is `{where}`; a "
                                          "file with parameters at the top level needs `schema_version: 0`")
        return
    matches = closest_matches(key, TOP_LEVEL_KEYS)
    message = "unknown key" + (f"; did you mean {', '.join(repr(m) for m in matches)}?" if matches else "")
    found.add((key,), message, f"a preset has only these keys: {', '.join(TOP_LEVEL_KEYS)}")


def _unknown_param(key: str, task: Task, found: _Collector) -> None:
    known = request_fields(task)
    other_tasks = [t.value for t in Task if key in request_fields(t)]
    if other_tasks:
        found.add(("params", key), f"is not a parameter of {task.value}",
                  f"only {', '.join(other_tasks)} take{'s' if len(other_tasks) == 1 else ''} it")
        return
    matches = closest_matches(key, known)
    message = "unknown parameter" + (f"; did you mean {', '.join(repr(m) for m in matches)}?" if matches else "")
    # The hires fix's eleven fields, and the two of a ComfyUI batch's places, are named once, so the hint
    # stays one readable line.
    groups = {"hires_": "hires_* (the hires fix)", "comfyui_batch_": "comfyui_batch_*"}
    shown = sorted(name for name in known if not name.startswith(tuple(groups)))
    shown += [label for prefix, label in groups.items() if any(name.startswith(prefix) for name in known)]
    found.add(("params", key), message, f"{task.value} parameters: {', '.join(shown)}")


def _check_schema_version(data: Mapping[str, Any], found: _Collector, path: Path) -> int:
    """The file's schema version; raises `PresetError` when it is missing, unreadable or too new."""
    if "schema_version" not in data:
        raise PresetError(path, [PresetProblem("schema_version", "missing: sdkit cannot tell which preset "
                                               "format this file uses", 1)],
                          f"add `schema_version: {CURRENT_SCHEMA_VERSION}` as the first line "
                          "(files written for sdkit 0.x, with parameters at the top level, are version 0)")
    version = data["schema_version"]
    line = found.line_of(("schema_version",))
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise PresetError(path, [PresetProblem("schema_version", f"{quoted(version)} is not a schema version", line)],
                          f"use a whole number; the current version is {CURRENT_SCHEMA_VERSION}")
    if version > CURRENT_SCHEMA_VERSION:
        raise PresetError(path, [PresetProblem(
            "schema_version", f"{version} is newer than this sdkit understands "
                              f"(it reads versions up to {CURRENT_SCHEMA_VERSION})", line)], _UPGRADE_HINT)
    if version < CURRENT_SCHEMA_VERSION and version not in MIGRATIONS:
        raise PresetError(path, [PresetProblem("schema_version", f"version {version} is no longer supported",
                                               line)], f"rewrite it as version {CURRENT_SCHEMA_VERSION}")
    return version


def _check_task(data: Mapping[str, Any], found: _Collector) -> Task | None:
    if "task" not in data or data["task"] is None:
        found.add(("task",), "missing", f"a preset must name its task: {', '.join(TASK_NAMES)}")
        return None
    try:
        return Task(data["task"])
    except ValueError:
        task = data["task"]
        matches = closest_matches(clipped(task, 40), TASK_NAMES) if isinstance(task, str) else []
        message = f"{quoted(task)} is not a task" + (f"; did you mean {matches[0]!r}?" if matches else "")
        found.add(("task",), message, f"tasks: {', '.join(TASK_NAMES)}")
        return None


def _check_header(data: Mapping[str, Any], found: _Collector) -> PresetBase | None:
    header = {key: value for key, value in data.items() if key not in ("task", "params") and value is not None}
    try:
        return PresetBase.model_validate(header)
    except ValidationError as error:
        for item in error.errors():
            key = str(item["loc"][0]) if item["loc"] else ""
            if item["type"] == "extra_forbidden":
                _unknown_top_level_key(key, found)
            elif key == "mode":
                found.add(("mode",), f"{quoted(item.get('input'))} is not a mode",
                          f"modes: {', '.join(mode.value for mode in Mode)}")
            else:
                found.add(tuple(str(part) for part in item["loc"]), _describe_input_error(item))
        return None


def _check_params(data: Mapping[str, Any], task: Task, found: _Collector) -> dict[str, Any] | None:
    raw = data.get("params")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        found.add(("params",), f"must be a mapping of parameter names to values, not {type(raw).__name__}",
                  "write one `name: value` per line, indented under `params:`")
        return None
    before = len(found.problems)
    request_type = REQUEST_TYPES[task]
    good = dict(raw)
    # Strict: YAML already gives real numbers and booleans, so `steps: "20"` or `steps: true` is a mistake.
    try:
        request_type.model_validate(raw, strict=True)
    except ValidationError as error:
        for item in error.errors():
            loc = tuple(str(part) for part in item["loc"])
            good.pop(item["loc"][0] if item["loc"] else None, None)
            if item["type"] == "extra_forbidden" and len(loc) == 1:
                _unknown_param(loc[0], task, found)
            else:
                found.add(("params", *loc), _describe_input_error(item))
    # The values that passed still get their ranges checked, so one run shows every problem.
    values = request_type.model_validate(good, strict=True).model_dump(exclude_none=True)
    for problem in range_problems({**values, "task": task}, task, PRESET_SIZE_LIMITS):
        if problem.value is None:  # "img2img needs an input image": a preset need not name one
            continue
        found.add(("params", problem.field), f"{quoted(problem.value)} {problem.allowed}", problem.hint)
    if len(found.problems) > before:
        return None
    # Keep the order the user wrote the parameters in.
    return {key: values[key] for key in raw if key in values}


def preset_from_data(data: dict[str, Any], path: Path, lines: Mapping[KeyPath, int], *, name: str,
                     source: str) -> Preset:
    """Validate the data of a preset file (migrating it first if it is older) into a `Preset`."""
    found = _Collector(lines, {})
    version = _check_schema_version(data, found, path)
    if version < CURRENT_SCHEMA_VERSION:
        data, found.origins = migrate(data, version)
    task = _check_task(data, found)
    header = _check_header(data, found)
    params = _check_params(data, task, found) if task is not None else None
    if found.problems or header is None or params is None or task is None:
        hint = None
        if version < CURRENT_SCHEMA_VERSION:
            hint = (f"this file uses schema_version {version} and was migrated to {CURRENT_SCHEMA_VERSION} before "
                    "checking; fix the lines above in the file as written")
        raise PresetError(path, sorted(found.problems, key=lambda problem: problem.line or 1 << 30), hint)
    return Preset(
        name=name,
        source=source,
        path=path,
        schema_version=CURRENT_SCHEMA_VERSION,
        task=task,
        engine=header.engine,
        mode=header.mode,
        model=header.model,
        description=header.description,
        params=MappingProxyType(params),
        migrated_from=version if version < CURRENT_SCHEMA_VERSION else None,
    )


def preset_from_bytes(raw: bytes, path: Path, *, name: str, source: str) -> Preset:
    """Parse, migrate and validate the bytes of the preset file at `path`."""
    data, lines = parse_preset_yaml(raw, path)
    return preset_from_data(data, path, lines, name=name, source=source)


def read_preset_file(path: Path, *, name: str, source: str) -> Preset:
    """Read, migrate and validate the preset file at `path`."""
    return preset_from_bytes(read_preset_bytes(path), path, name=name, source=source)
