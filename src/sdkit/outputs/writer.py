"""Write result images so that nothing is half-written and nothing is ever overwritten.

Each file is written under a temporary name in the target folder, flushed to disk, then hard-linked
to its final name. `os.link` fails when the name exists, so two sdkit processes writing into one folder
at once can never replace each other's files: the loser simply takes the next number.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from sdkit.core.errors import UserInputError

_NUMBERED = re.compile(r"^(\d{5,})-")


def _next_number(folder: Path) -> int:
    numbers = [int(match.group(1)) for name in os.listdir(folder) if (match := _NUMBERED.match(name))]
    return max(numbers, default=-1) + 1


def ensure_output_dir(folder: Path) -> Path:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserInputError(f"cannot create the output folder {folder}: {error.strerror}",
                             "choose another folder with --output-dir") from error
    if not os.access(folder, os.W_OK):
        raise UserInputError(f"the output folder {folder} is not writable", "choose another folder with --output-dir")
    return folder


def write_exclusive(folder: Path, label: str, suffix: str, write: Callable[[IO[bytes]], None]) -> Path:
    """Write a new file `NNNNN-<label><suffix>` in `folder` atomically; never replaces an existing file."""
    handle, temp_name = tempfile.mkstemp(prefix=".sdkit-", suffix=".part", dir=folder)
    temp_path = Path(temp_name)
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        number = _next_number(folder)
        while True:
            final = folder / f"{number:05d}-{label}{suffix}"
            try:
                os.link(temp_path, final)
                return final
            except FileExistsError:
                number += 1
    finally:
        temp_path.unlink(missing_ok=True)


def write_png(folder: Path, label: str, image: Any, pnginfo: Any | None = None) -> Path:
    """Save a PIL image as a new PNG (with optional text chunks) in `folder`."""

    def write(stream: IO[bytes]) -> None:
        image.save(stream, format="PNG", pnginfo=pnginfo)

    return write_exclusive(folder, label, ".png", write)


def write_sidecar(image_path: Path, data: dict[str, Any]) -> Path:
    """Write `<image>.json` beside an image, atomically; refuses to replace an existing file."""
    target = image_path.with_suffix(".json")
    payload = json.dumps(data, indent=2, default=str, ensure_ascii=False).encode("utf-8")
    handle, temp_name = tempfile.mkstemp(prefix=".sdkit-", suffix=".part", dir=image_path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(payload)
            stream.flush()
            os.fsync(stream.fileno())
        os.link(temp_name, target)
    finally:
        Path(temp_name).unlink(missing_ok=True)
    return target
