"""Compare presets: with an engine's defaults (for the run log) and with each other (`presets diff`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sdkit.presets.model import Preset
from sdkit.presets.schema import TOP_LEVEL_KEYS


def preset_changes(preset: Preset, defaults: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """What the preset sets differently from the engine's defaults: `{param: {"default": d, "preset": p}}`.

    A parameter the defaults lack has default None. Parameters equal to the default are left out,
    so the log shows only what the preset actually changed.
    """
    changes: dict[str, dict[str, Any]] = {}
    for key, value in preset.params.items():
        if key not in defaults or defaults[key] != value:
            changes[key] = {"default": defaults.get(key), "preset": value}
    return changes


@dataclass(frozen=True)
class FieldDifference:
    """One field that two presets set differently; `None` where a preset leaves it unset."""

    field: str
    a: Any
    b: Any


def _flatten(preset: Preset) -> dict[str, Any]:
    data = preset.effective()
    params = data.pop("params")
    flat = {key: value for key, value in data.items() if key != "schema_version"}
    flat.update({f"params.{key}": value for key, value in params.items()})
    return flat


def diff_presets(a: Preset, b: Preset) -> list[FieldDifference]:
    """Field-by-field differences of two effective presets: header fields first, then params."""
    flat_a, flat_b = _flatten(a), _flatten(b)
    fields = set(flat_a) | set(flat_b)
    header = [key for key in TOP_LEVEL_KEYS if key in fields]
    params = sorted(key for key in fields if key.startswith("params."))
    return [FieldDifference(key, flat_a.get(key), flat_b.get(key))
            for key in header + params if flat_a.get(key) != flat_b.get(key)]
