"""Migrations that bring an older preset up to the current schema version, one version at a time.

As OneTrainer does with its `migration_N` functions, `MIGRATIONS[n]` turns a version-n preset into a
version-n+1 one, and `migrate` runs them in a loop until the preset is current. Each migration also
says where every new key came from, so an error in a migrated preset still points at the right line
of the file the user wrote.

Schema version 0 (sdkit 0.x) kept every parameter at the top level beside `task`, named the engine
`pipeline`, and used A1111-style names:

    schema_version: 0            schema_version: 1
    task: txt2img                task: txt2img
    pipeline: sdxl          ->   engine: sdxl
    cfg: 6                       params:
    sampler_name: DPM++ 2M         cfg_scale: 6
    scheduler: karras              sampler: DPM++ 2M
    size: 1024x1024                schedule: karras
    denoising_strength: 0.5        width: 1024
                                   height: 1024
                                   strength: 0.5
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sdkit.presets.schema import CURRENT_SCHEMA_VERSION

KeyPath = tuple[str, ...]
# new key path -> the key path in the file as written (for line numbers)
Origins = dict[KeyPath, KeyPath]
Migration = Callable[[dict[str, Any]], tuple[dict[str, Any], Origins]]

# Top-level keys of version 0 that stayed top-level keys (under a new name) in version 1.
_V0_HEADER = {"schema_version": "schema_version", "task": "task", "pipeline": "engine", "mode": "mode",
              "model": "model", "description": "description"}
# Version-0 parameter names that were renamed; every other top-level key was a parameter already.
_V0_RENAMED_PARAMS = {
    "cfg": "cfg_scale",
    "sampler_name": "sampler",
    "scheduler": "schedule",
    "denoising_strength": "strength",
    "negative": "negative_prompt",
    "tile_size": "tile",
}
# Version-0 names that changed, for hints when one turns up in a current file.
V0_KEYS = {**_V0_RENAMED_PARAMS, "pipeline": "engine", "size": "width"}
_SIZE = re.compile(r"^\s*(\d+)\s*[xX×]\s*(\d+)\s*$")


def _split_size(size: Any) -> tuple[Any, Any] | None:
    """`512x768`, `[512, 768]` or a single number (square) -> (width, height); None if unreadable."""
    if isinstance(size, str) and (match := _SIZE.match(size)):
        return int(match.group(1)), int(match.group(2))
    if isinstance(size, list) and len(size) == 2:
        return size[0], size[1]
    if isinstance(size, int) and not isinstance(size, bool):
        return size, size
    return None


def migrate_v0_to_v1(data: dict[str, Any]) -> tuple[dict[str, Any], Origins]:
    """Move parameters under `params`, rename the engine key and the A1111-style parameter names."""
    migrated: dict[str, Any] = {}
    params: dict[str, Any] = {}
    origins: Origins = {}
    for key, value in data.items():
        if key in _V0_HEADER:
            migrated[_V0_HEADER[key]] = value
            origins[(_V0_HEADER[key],)] = (key,)
        elif key == "size" and (sides := _split_size(value)) is not None:
            params["width"], params["height"] = sides
            origins[("params", "width")] = origins[("params", "height")] = (key,)
        else:
            # Unknown keys move too: the version-1 validation then reports them, at their line.
            new_key = _V0_RENAMED_PARAMS.get(str(key), str(key))
            params[new_key] = value
            origins[("params", new_key)] = (key,)
    migrated["schema_version"] = 1
    migrated["params"] = params
    return migrated, origins


MIGRATIONS: dict[int, Migration] = {0: migrate_v0_to_v1}


def migrate(data: dict[str, Any], version: int) -> tuple[dict[str, Any], Origins]:
    """Run every migration from `version` up to the current one.

    Returns the migrated data and, for each of its key paths that moved, the path in the original.
    """
    origins: Origins = {}
    while version < CURRENT_SCHEMA_VERSION:
        data, step_origins = MIGRATIONS[version](data)
        # Chain the mappings so each new path points at the key the user actually wrote.
        origins = {new: origins.get(old, old) for new, old in step_origins.items()}
        version += 1
    return data, origins
