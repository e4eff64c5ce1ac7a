"""Presets: versioned YAML files that name a task, optionally an engine, mode and model, and parameters.

The public API, for `sdkit generate` and other commands:
- `load_preset(name_or_path)` -> `Preset` (validated, migrated to the current schema version)
- `list_presets()` -> `list[PresetInfo]` (the winning preset of each name, invalid ones flagged)
- `preset_changes(preset, defaults)` -> what the preset changes against an engine's defaults
- `diff_presets(a, b)` -> field-by-field differences
- `preset_json_schema()` -> the JSON Schema of a preset file
Nothing here imports torch, diffusers or an engine. The names are imported on first use, so that
`presets list` (answered from the preset index) never imports the yaml and pydantic behind the others.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CURRENT_SCHEMA_VERSION",
    "FieldDifference",
    "Preset",
    "PresetError",
    "PresetInfo",
    "PresetProblem",
    "diff_presets",
    "is_file_reference",
    "list_presets",
    "load_preset",
    "preset_changes",
    "preset_json_schema",
]


def __getattr__(name: str) -> Any:
    # PEP 562: each public name comes from the module that holds it, imported only when asked for.
    if name in ("FieldDifference", "diff_presets", "preset_changes"):
        from sdkit.presets import compare as home
    elif name in ("is_file_reference", "list_presets", "load_preset"):
        from sdkit.presets import load as home
    elif name in ("Preset", "PresetError", "PresetInfo", "PresetProblem"):
        from sdkit.presets import model as home
    elif name in ("CURRENT_SCHEMA_VERSION", "preset_json_schema"):
        from sdkit.presets import schema as home
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(home, name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
