"""The preset index: what each preset file holds, cached, so unchanged files skip yaml and pydantic.

Parsing a preset with the bounded YAML loader and validating it against the request models costs
about a quarter of a second of imports and model building, which `presets list` used to pay on every
call. The index (`preset-index.json` in sdkit's cache folder) keeps, per file, the validated preset or
the problems that make it invalid, stamped with the file's size, modification time and a CRC-32 of its
bytes. An entry is used only while all three still match the file as read now (the bytes are read
every time: a preset is small, and an edit within the file system's timestamp granularity changes the
CRC all the same). The whole index is used only while the code that decides what a file holds is the
code that wrote it (`code_fingerprint`: sdkit's version, its `presets` and `core` source files, and
the PyYAML and pydantic installations). It is written atomically and only when something changed; a
missing, unreadable or corrupt index is ignored and rebuilt, and one that cannot be written is skipped.

The JSON Schema of preset files (`presets schema`) is cached the same way, in `preset-schema.json`.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import zlib
from collections.abc import Iterable
from importlib.util import find_spec
from pathlib import Path
from types import MappingProxyType
from typing import Any

from sdkit import __version__
from sdkit.core.tasks import Mode, Task
from sdkit.presets.model import Preset, PresetError, PresetProblem
from sdkit.presets.reading import read_preset_bytes
from sdkit.runtime.paths import paths

log = logging.getLogger(__name__)

INDEX_FORMAT = 1
INDEX_FILE_NAME = "preset-index.json"
SCHEMA_FILE_NAME = "preset-schema.json"
# Files given by path (`presets validate ./mine.yaml`) are indexed too; the oldest entries beyond this go.
MAX_ENTRIES = 1000
# Whose source decides what a preset file holds: sdkit's packages here, and these libraries.
_SDKIT_PACKAGES = ("presets", "core")
_LIBRARIES = ("yaml", "pydantic", "pydantic_core")


def index_path() -> Path:
    return paths().cache_dir / INDEX_FILE_NAME


def schema_cache_path() -> Path:
    return paths().cache_dir / SCHEMA_FILE_NAME


def code_fingerprint() -> list[str]:
    """What the cached results depend on besides the files themselves, as comparable text.

    Source files are stamped by size and modification time, so an edited checkout or an upgraded
    library invalidates the caches without importing anything.
    """
    stamps = [f"sdkit {__version__}", f"python {sys.version}"]
    sdkit_folder = Path(__file__).resolve().parent.parent
    for package in _SDKIT_PACKAGES:
        with os.scandir(sdkit_folder / package) as entries:
            for entry in sorted(entries, key=lambda item: item.name):
                if entry.name.endswith(".py"):
                    info = entry.stat()
                    stamps.append(f"{package}/{entry.name} {info.st_size} {info.st_mtime_ns}")
    for library in _LIBRARIES:
        spec = find_spec(library)
        origin = spec.origin if spec is not None else None
        if origin is None or not os.path.exists(origin):
            stamps.append(f"{library} missing")
            continue
        info = os.stat(origin)
        stamps.append(f"{library} {origin} {info.st_size} {info.st_mtime_ns}")
    return stamps


def _load_json(path: Path, fingerprint: list[str]) -> dict[str, Any] | None:
    """The cache document at `path` if it was written by this code, else None (missing, corrupt, stale)."""
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:  # unreadable or not JSON: rebuilt, never trusted
        log.debug("ignoring the cache file %s: %s", path, error)
        return None
    if not isinstance(data, dict) or data.get("format") != INDEX_FORMAT or data.get("code") != fingerprint:
        return None
    return data


def _save_json(path: Path, data: dict[str, Any]) -> None:
    """Write a cache document atomically; a cache that cannot be written is only a slower next run."""
    from sdkit.files.atomic import replace_file

    try:
        text = json.dumps(data, ensure_ascii=False, allow_nan=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_file(path, text)
    except (OSError, TypeError, ValueError) as error:
        log.debug("could not write the cache file %s: %s", path, error)


def _preset_entry(preset: Preset) -> dict[str, Any]:
    return {"task": preset.task.value, "engine": preset.engine, "mode": preset.mode.value, "model": preset.model,
            "description": preset.description, "params": dict(preset.params),
            "schema_version": preset.schema_version, "migrated_from": preset.migrated_from}


def _error_entry(error: PresetError) -> dict[str, Any]:
    return {"problems": [[problem.field, problem.message, problem.line, problem.hint] for problem in error.problems],
            "hint": error.hint}


def _rebuild(entry: dict[str, Any], path: Path, name: str, source: str) -> Preset:
    """The preset (or, raised, the `PresetError`) an index entry records, for the file at `path`."""
    if "error" in entry:
        recorded = entry["error"]
        problems = [PresetProblem(field, message, line, hint) for field, message, line, hint in recorded["problems"]]
        raise PresetError(path, problems, recorded["hint"])
    held = entry["preset"]
    return Preset(name=name, source=source, path=path, schema_version=held["schema_version"], task=Task(held["task"]),
                  engine=held["engine"], mode=Mode(held["mode"]), model=held["model"],
                  description=held["description"], params=MappingProxyType(held["params"]),
                  migrated_from=held["migrated_from"])


class PresetIndex:
    """The index for one command: open it, `read` presets through it, `save` it (only if it changed)."""

    def __init__(self, path: Path, fingerprint: list[str], entries: dict[str, Any]) -> None:
        self.path = path
        self.fingerprint = fingerprint
        self.entries = entries
        self.changed = False
        self.reused = 0  # files answered from the index this time
        self.validated = 0  # files parsed and validated this time

    @classmethod
    def open(cls) -> PresetIndex:
        path = index_path()
        fingerprint = code_fingerprint()
        data = _load_json(path, fingerprint)
        entries = data.get("files") if data is not None else None
        if not isinstance(entries, dict):
            entries = {}
        return cls(path, fingerprint, entries)

    def read(self, path: Path, *, name: str, source: str) -> Preset:
        """The validated preset in the file at `path`; `PresetError` when it is invalid.

        A file that cannot be read at all (missing, a folder, too big) is reported and not indexed.
        """
        raw = read_preset_bytes(path)
        key = os.path.abspath(path)
        try:
            info = os.stat(path)
        except OSError:
            info = None
        stamp = {"size": len(raw), "mtime_ns": info.st_mtime_ns if info else None, "crc": zlib.crc32(raw)}
        entry = self.entries.get(key)
        if isinstance(entry, dict) and info is not None and all(entry.get(k) == v for k, v in stamp.items()):
            try:
                preset = _rebuild(entry, path, name, source)
            except PresetError:
                self.reused += 1
                raise
            except (KeyError, TypeError, ValueError) as damage:  # a hand-edited or damaged entry: read afresh
                log.debug("ignoring the index entry of %s: %s", key, damage)
            else:
                self.reused += 1
                return preset
        from sdkit.presets.validate import preset_from_bytes

        self.validated += 1
        try:
            preset = preset_from_bytes(raw, path, name=name, source=source)
        except PresetError as error:
            self._store(key, {**stamp, "error": _error_entry(error)}, info)
            raise
        self._store(key, {**stamp, "preset": _preset_entry(preset)}, info)
        return preset

    def _store(self, key: str, entry: dict[str, Any], info: os.stat_result | None) -> None:
        if info is None:
            return
        self.entries.pop(key, None)
        self.entries[key] = entry  # the most recently read last, so the oldest are dropped first
        self.changed = True

    def forget_unlisted(self, folders: Iterable[Path], listed: Iterable[Path]) -> None:
        """Drop the entries of files that are gone from `folders` (a listing saw every file there)."""
        prefixes = tuple(os.path.join(os.path.abspath(folder), "") for folder in folders)
        kept = {os.path.abspath(path) for path in listed}
        for key in [key for key in self.entries if key.startswith(prefixes) and key not in kept]:
            del self.entries[key]
            self.changed = True

    def save(self) -> None:
        if not self.changed:
            return
        for key in list(self.entries)[:max(0, len(self.entries) - MAX_ENTRIES)]:
            del self.entries[key]
        _save_json(self.path, {"format": INDEX_FORMAT, "code": self.fingerprint, "files": self.entries})
        self.changed = False


def cached_json_schema() -> dict[str, Any]:
    """`preset_json_schema()`, from the cache while the code that builds it has not changed."""
    path = schema_cache_path()
    fingerprint = code_fingerprint()
    data = _load_json(path, fingerprint)
    if data is not None and isinstance(data.get("schema"), dict):
        return data["schema"]
    from sdkit.presets.schema import preset_json_schema

    schema = preset_json_schema()
    _save_json(path, {"format": INDEX_FORMAT, "code": fingerprint, "schema": schema})
    return schema
