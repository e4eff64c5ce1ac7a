"""Presets: versioned YAML files that name a task, optionally an engine, mode and model, and parameters.

The public API, for `sdkit generate` and other commands:
- `load_preset(name_or_path)` -> `Preset` (validated, migrated to the current schema version)
- `list_presets()` -> `list[PresetInfo]` (the winning preset of each name, invalid ones flagged)
- `preset_changes(preset, defaults)` -> what the preset changes against an engine's defaults
- `diff_presets(a, b)` -> field-by-field differences
- `preset_json_schema()` -> the JSON Schema of a preset file
Nothing here imports torch, diffusers or an engine.
"""

from sdkit.presets.compare import FieldDifference, diff_presets, preset_changes
from sdkit.presets.load import is_file_reference, list_presets, load_preset
from sdkit.presets.model import Preset, PresetError, PresetInfo, PresetProblem
from sdkit.presets.schema import CURRENT_SCHEMA_VERSION, preset_json_schema

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
