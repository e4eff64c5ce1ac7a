"""Small state that outlives a run: the last preset applied (for export-debug), cached model hashes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sdkit.files.atomic import replace_file
from sdkit.runtime.paths import paths


def read_json_dict(path: Path) -> dict[str, Any]:
    """A JSON object from `path`, or {} when the file is missing, unreadable or not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_json_atomic(path: Path, data: Any) -> None:
    """Write `data` as JSON to `path`, replacing it atomically (readers never see half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_file(path, json.dumps(data, indent=2, sort_keys=True, default=str))


def read_state() -> dict[str, Any]:
    return read_json_dict(paths().state_file)


def update_state(**values: Any) -> None:
    """Merge `values` into the state file (best effort: a read-only home must not stop a run)."""
    state = read_state()
    state.update(values)
    try:
        write_json_atomic(paths().state_file, state)
    except OSError:
        pass


def remember_preset(name: str, source: str, effective: dict[str, Any]) -> None:
    update_state(last_preset={"name": name, "source": source, "effective": effective})


def last_preset() -> dict[str, Any] | None:
    value = read_state().get("last_preset")
    return value if isinstance(value, dict) else None
