"""Where presets come from and which one a name means.

A preset is a file `<folder>/<name>.yaml` (or `.yml`) in one of these folders, searched in order:
1. the user's preset folder (`paths().user_presets_dir`),
2. folders shipped by plugins (entry points in `sdkit.presets` of other distributions; an entry's
   object is a folder path or a callable returning one), in the registry's distribution order,
3. sdkit's built-in presets (the `builtin` entry of sdkit's own distribution).
The first folder that has a name wins. Two plugins with the same name get a warning naming both, so
there is never a silent winner; a user's preset hiding a plugin or built-in one is on purpose and
`presets list` shows who won. A name can never leave its folder: `..`, absolute names and symlinks
that point outside are refused.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sdkit.core.errors import UnknownKeyError, UserInputError
from sdkit.core.text import quoted
from sdkit.presets.model import SOURCE_BUILTIN, SOURCE_USER
from sdkit.registry import PRESETS, PluginLoadError, PluginWarning, registry
from sdkit.runtime.paths import paths

log = logging.getLogger(__name__)

PRESET_SUFFIXES = (".yaml", ".yml")
# Each part of a name: letters, digits, `_`, `-`, `.`, `+`, not starting with a dot (no `..`, no hidden files).
_NAME_PART = re.compile(r"^[A-Za-z0-9_+\-][A-Za-z0-9_.+\-]*$")
# Names are short (`txt2img/basic`); a longer one is a mistake, and may be no file name at all.
_MAX_NAME = 200


@dataclass(frozen=True)
class PresetFolder:
    """One place presets are read from, and the label `presets list` shows for it."""

    source: str
    folder: Path
    plugin: bool = False


def _folder_of(obj: Any) -> Path:
    """An entry point's object is a folder path, or a callable returning one (so it can be computed)."""
    if callable(obj):
        obj = obj()
    if isinstance(obj, (str, os.PathLike)):
        return Path(obj)
    raise TypeError(f"expected a folder path or a callable returning one, got {type(obj).__name__}")


def preset_folders() -> list[PresetFolder]:
    """Every preset folder in search order: the user's, then plugins', then the built-ins."""
    folders = [PresetFolder(SOURCE_USER, paths().user_presets_dir)]
    presets_registry = registry(PRESETS)
    builtin: list[PresetFolder] = []
    plugins: list[PresetFolder] = []
    for key, entry in presets_registry.entries().items():
        try:
            folder = _folder_of(presets_registry.get(key))
        except (PluginLoadError, TypeError) as error:
            # A broken plugin must not break presets: skip it and say why.
            log.warning("skipping the presets of %s: %s", entry.source, error)
            continue
        if entry.builtin:
            builtin.append(PresetFolder(SOURCE_BUILTIN, folder))
        else:
            plugins.append(PresetFolder(entry.distribution, folder, plugin=True))
    if not builtin:
        # sdkit run from a source tree that was never installed has no entry-point metadata.
        from sdkit.presets.builtin import PRESETS_FOLDER

        builtin.append(PresetFolder(SOURCE_BUILTIN, Path(PRESETS_FOLDER)))
    plugins.sort(key=lambda item: item.source.lower())
    return folders + plugins + builtin


def check_preset_name(name: str) -> str:
    """`name` in its canonical form (`txt2img/basic`), or `UserInputError` if it could leave its folder
    or cannot be a file name."""
    canonical = name.replace("\\", "/")
    for suffix in PRESET_SUFFIXES:
        canonical = canonical.removesuffix(suffix)
    parts = canonical.split("/")
    if len(canonical) > _MAX_NAME or canonical.startswith("/") or re.match(r"^[A-Za-z]:", canonical) or not all(
            _NAME_PART.match(part) for part in parts):
        raise UserInputError(
            # Shown whole up to a bound: a path the user typed is recognised by its end as much as its start.
            f"{repr(name) if len(name) <= _MAX_NAME + 40 else quoted(name)} is not a valid preset name",
            f"a name is a relative path like `txt2img/basic` (letters, digits, `-`, `_`, `.`; no `..`; at most "
            f"{_MAX_NAME} characters); "
            "to use a file elsewhere, give its path ending in .yaml",
        )
    return canonical


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except (ValueError, OSError):
        return False
    return True


def _file_in(folder: PresetFolder, name: str) -> Path | None:
    """The file for `name` in `folder`, or None; refuses one that resolves outside the folder."""
    for suffix in PRESET_SUFFIXES:
        candidate = folder.folder / f"{name}{suffix}"
        try:
            present = candidate.is_file() or candidate.is_symlink()
        except OSError:  # a name too long for the file system is in no folder
            present = False
        if present:
            if not _inside(candidate, folder.folder):
                raise UserInputError(
                    f"preset {name!r} in {folder.folder} ({folder.source}) points outside its folder",
                    f"replace the link {candidate} with a copy of the file it points to",
                )
            return candidate
    return None


def _names_in(folder: PresetFolder) -> dict[str, Path]:
    """Every preset name in one folder and its file (`.yaml` wins over `.yml`)."""
    found: dict[str, Path] = {}
    if not folder.folder.is_dir():
        return found
    for root, dirs, files in os.walk(folder.folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for file_name in sorted(files):
            stem, suffix = os.path.splitext(file_name)
            if suffix not in PRESET_SUFFIXES or file_name.startswith("."):
                continue
            relative = Path(root, stem).relative_to(folder.folder).as_posix()
            if suffix == ".yml" and relative in found:
                continue
            found[relative] = Path(root, file_name)
    return found


def _warn_plugin_collision(name: str, winner: PresetFolder, loser: PresetFolder) -> None:
    warnings.warn(f"preset {name!r} is shipped by the plugins {winner.source} and {loser.source}; "
                  f"using {winner.source}'s", PluginWarning, stacklevel=3)


def resolve_name(name: str) -> tuple[PresetFolder, Path]:
    """The folder and file a preset name means; `UnknownKeyError` (with did-you-mean) if none has it."""
    canonical = check_preset_name(name)
    folders = preset_folders()
    found: list[tuple[PresetFolder, Path]] = []
    for folder in folders:
        path = _file_in(folder, canonical)
        if path is not None:
            found.append((folder, path))
    if not found:
        known = {known_name for folder in folders for known_name in _names_in(folder)}
        raise UnknownKeyError("preset", canonical, known,
                              hint=None if known else "no presets found; is sdkit installed correctly?")
    winner = found[0]
    for other in found[1:]:
        if winner[0].plugin and other[0].plugin:
            _warn_plugin_collision(canonical, winner[0], other[0])
    if len(found) > 1:
        log.debug("preset %r from %s hides the one from %s", canonical, winner[0].source,
                  ", ".join(folder.source for folder, _ in found[1:]))
    return winner


def list_preset_files(
        folders: list[PresetFolder] | None = None) -> list[tuple[str, PresetFolder, Path, tuple[str, ...]]]:
    """(name, folder, file, sources it hides) of every winning preset in `folders` (default: all), by name."""
    winners: dict[str, tuple[PresetFolder, Path]] = {}
    hidden: dict[str, list[str]] = {}
    for folder in preset_folders() if folders is None else folders:
        for name, path in _names_in(folder).items():
            if name in winners:
                winner = winners[name][0]
                if winner.plugin and folder.plugin:
                    _warn_plugin_collision(name, winner, folder)
                hidden[name].append(folder.source)
                continue
            winners[name] = (folder, path)
            hidden[name] = []
    return [(name, folder, path, tuple(hidden[name])) for name, (folder, path) in sorted(winners.items())]
