"""Read a preset file's bytes, bounded: only regular files, at most `MAX_PRESET_BYTES`, as UTF-8 text.

Kept apart from the YAML parser so the preset index (`index.py`) can read and fingerprint a file
without importing yaml; the parser gets the same bytes, so what is checked is what was fingerprinted.
"""

from __future__ import annotations

import stat
from pathlib import Path

from sdkit.presets.model import PresetError, PresetProblem

# A preset is a few dozen lines; refusing big files keeps a stray dataset out.
MAX_PRESET_BYTES = 128 * 1024

_TOO_BIG_HINT = "a preset is a short YAML file; check that this is the file you meant"


def read_preset_bytes(path: Path) -> bytes:
    """The file's bytes; `PresetError` when it is missing, not a regular file or too big."""
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise PresetError(path, [PresetProblem("", "is a folder, not a preset file")],
                              "give a .yaml file inside it")
        if not stat.S_ISREG(info.st_mode):
            # A pipe would block the read and a device would never end it.
            raise PresetError(path, [PresetProblem("", "is not a regular file")], "give a .yaml file")
        if info.st_size > MAX_PRESET_BYTES:
            raise PresetError(path, [PresetProblem("", f"file is larger than {MAX_PRESET_BYTES} bytes")], _TOO_BIG_HINT)
        with path.open("rb") as file:
            raw = file.read(MAX_PRESET_BYTES + 1)  # the file may have grown since stat
        if len(raw) > MAX_PRESET_BYTES:
            raise PresetError(path, [PresetProblem("", f"file is larger than {MAX_PRESET_BYTES} bytes")], _TOO_BIG_HINT)
        return raw
    except FileNotFoundError:
        raise PresetError(path, [PresetProblem("", "no such file")], "check the path") from None
    except OSError as error:
        raise PresetError(path, [PresetProblem("", f"cannot be read: {error.strerror or error}")]) from None


def decode_preset_text(raw: bytes, path: Path) -> str:
    """The bytes of a preset file as text; `PresetError` when they are not UTF-8."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise PresetError(path, [PresetProblem("", f"is not UTF-8 text ({error.reason})")],
                          "save the preset as UTF-8") from None
