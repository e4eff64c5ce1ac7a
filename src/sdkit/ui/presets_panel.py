"""The presets panel's logic: the list with its filters, one preset's YAML and diff, Apply, restore.

The same `sdkit.presets` calls as `sdkit presets list/show` and `generate --preset`, so the panel lists
what the CLI lists and refuses what the CLI refuses, with the same message and hint. Applying a preset
remembers it in sdkit's state folder, where `generate --preset` remembers it too, and the UI restores
it when it starts. Nothing here imports gradio.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sdkit.ui.form import preset_form_changes, preset_form_values
from sdkit.ui.notices import captured_warnings

ALL = "all"
LIST_HEADERS = ["name", "task", "engine", "mode", "source", "description"]


def preset_rows(task: str = ALL, source: str = ALL) -> list[list[str]]:
    """`sdkit presets list` as rows, filtered by task and source; an invalid file shows its problems."""
    from sdkit.presets import list_presets

    rows = []
    for info in list_presets():
        if task != ALL and (info.task is None or info.task.value != task):
            continue
        if source != ALL and info.source != source:
            continue
        if info.error is not None:
            rows.append([info.name, "invalid", "", "", info.source, info.error])
            continue
        shadows = "".join(f" (hides {hidden})" for hidden in info.shadows)
        rows.append([info.name, info.task.value if info.task else "", info.engine or "-",
                     info.mode.value if info.mode else "", info.source + shadows, info.description])
    return rows


def preset_sources() -> list[str]:
    """The sources the source filter offers: every source that has a preset now, after `all`."""
    from sdkit.presets import list_presets

    return [ALL, *sorted({info.source for info in list_presets()})]


def preset_names() -> list[str]:
    from sdkit.presets import list_presets

    return [info.name for info in list_presets()]


def preset_yaml(name: str) -> str:
    """The preset as `sdkit presets show NAME` prints it: validated and migrated, with where it is from."""
    import yaml

    from sdkit.presets.load import read_preset

    preset = read_preset(name)
    lines = [f"# preset {preset.name} from {preset.source}: {preset.path}"]
    if preset.migrated_from is not None:
        lines.append(f"# migrated from schema_version {preset.migrated_from}; save this output to update the file")
    text = yaml.safe_dump(preset.effective(), sort_keys=False, allow_unicode=True, default_flow_style=False)
    return "\n".join(lines) + "\n" + text


def _cell(value: Any) -> str:
    return "(blank)" if value is None else str(value)


def preset_diff_rows(name: str, values: Sequence[Any]) -> list[list[str]]:
    """What Apply would change in the form as it is now: field, now, after."""
    from sdkit.presets.load import read_preset

    return [[change.field, _cell(change.current), _cell(change.preset)]
            for change in preset_form_changes(read_preset(name), values)]


@dataclass(frozen=True)
class AppliedPreset:
    """A preset put on the form: the form's new values, and the warnings it brought (migration)."""

    name: str
    task: str
    values: list[Any]
    warnings: list[str] = field(default_factory=list)


def apply_preset(name: str, remember: bool = True) -> AppliedPreset:
    """Load `name` as `generate --preset` does; raises its `SdkitError` (the form then stays as it was)."""
    from sdkit.presets import load_preset
    from sdkit.runtime.state import remember_preset

    with captured_warnings() as captured:
        preset = load_preset(name)
    if remember:
        remember_preset(preset.name, preset.source, preset.effective())
    return AppliedPreset(preset.name, preset.task.value, preset_form_values(preset), captured.messages)


def remembered_preset_name() -> str | None:
    """The last preset applied (in the UI or by `generate --preset`), from the state folder."""
    from sdkit.runtime.state import last_preset

    remembered = last_preset()
    name = remembered.get("name") if remembered else None
    return name if isinstance(name, str) and name else None
