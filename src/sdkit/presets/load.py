"""The presets API the commands use: load one preset by name or path, list them all.

Files are read through the preset index (`index.py`), so an unchanged file is neither parsed nor
validated again: listing the presets imports no yaml and no pydantic.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sdkit.core.errors import UserInputError
from sdkit.presets.index import PresetIndex
from sdkit.presets.model import SOURCE_FILE, Preset, PresetError, PresetInfo
from sdkit.presets.sources import PRESET_SUFFIXES, check_preset_name, list_preset_files, preset_folders, resolve_name

log = logging.getLogger(__name__)


def _exists(path: Path, *, as_file: bool = False) -> bool:
    """Whether `path` exists (as a file); False also where it cannot be looked up (a name too long)."""
    try:
        return path.is_file() if as_file else path.exists()
    except OSError:
        return False


def is_file_reference(name_or_path: str) -> bool:
    """True when the user means a file: it ends in .yaml/.yml, or it has a path separator and exists.

    A missing `*.yaml` path that is also a preset name (`txt2img/basic.yaml`) is read as that name.
    """
    if name_or_path.lower().endswith(PRESET_SUFFIXES):
        return True
    has_separator = "/" in name_or_path or "\\" in name_or_path
    return has_separator and _exists(Path(name_or_path).expanduser(), as_file=True)


def _names_a_preset(text: str) -> bool:
    try:
        resolve_name(text)
    except UserInputError:
        return False
    return True


def _read_indexed(path: Path, *, name: str, source: str) -> Preset:
    index = PresetIndex.open()
    try:
        return index.read(path, name=name, source=source)
    finally:
        index.save()


def read_preset(name_or_path: str) -> Preset:
    """Like `load_preset`, without the notice about migrated files (for listing and comparing)."""
    if is_file_reference(name_or_path):
        path = Path(name_or_path).expanduser()
        if not _exists(path) and _names_a_preset(name_or_path):
            return read_preset(check_preset_name(name_or_path))  # `txt2img/basic.yaml` as a name
        return _read_indexed(path, name=name_or_path, source=SOURCE_FILE)
    folder, path = resolve_name(name_or_path)
    name = path.relative_to(folder.folder).with_suffix("").as_posix()
    return _read_indexed(path, name=name, source=folder.source)


def load_preset(name_or_path: str) -> Preset:
    """The validated preset a name (`txt2img/basic`) or a file path (`./mine.yaml`) means.

    Names are looked up in the user's folder, then plugins', then the built-ins. Raises
    `UnknownKeyError` for an unknown name, `PresetError` for an invalid file, `UserInputError` for a
    name that would leave its folder. An older file is migrated, with a warning saying so.
    """
    preset = read_preset(name_or_path)
    if preset.migrated_from is not None:
        log.warning("preset %s (%s) uses schema_version %d; sdkit migrated it to version %d. "
                    "`sdkit presets show %s` prints it in the current format.", preset.name, preset.path,
                    preset.migrated_from, preset.schema_version, name_or_path)
    log.debug("preset %r -> %s (source %s, schema_version %d)", preset.name, preset.path, preset.source,
              preset.schema_version)
    return preset


def list_presets() -> list[PresetInfo]:
    """Every preset name with the source that wins it, sorted by name.

    An invalid file is listed with `error` set rather than stopping the listing.
    """
    infos: list[PresetInfo] = []
    index = PresetIndex.open()
    folders = preset_folders()
    files = list_preset_files(folders)
    for name, folder, path, shadows in files:
        try:
            if not path.resolve().is_relative_to(folder.folder.resolve()):
                raise UserInputError(f"{path} points outside {folder.folder}")
            preset = index.read(path, name=name, source=folder.source)
        except PresetError as error:
            problems = "; ".join(problem.describe(path.name) for problem in error.shown_problems)
            if error.more_problems:
                problems += f"; … and {error.more_problems} more"
            infos.append(PresetInfo(name, folder.source, path, shadows=shadows, error=problems))
            continue
        except UserInputError as error:
            infos.append(PresetInfo(name, folder.source, path, shadows=shadows, error=error.message))
            continue
        infos.append(PresetInfo(name, folder.source, path, preset.task, preset.engine, preset.mode,
                                preset.description, shadows))
    index.forget_unlisted([folder.folder for folder in folders], [path for _, _, path, _ in files])
    index.save()
    return infos
