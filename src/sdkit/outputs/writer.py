"""Write result images and their sidecars: numbered, whole or not at all, and never over an existing file.

Images are named `NNNNN-<label>.png`, the number one more than the highest in the folder. The writing
itself is `sdkit.files.atomic.create_first_free`: when another process takes a number meanwhile, the
image simply takes the next one, and nothing is ever replaced.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from sdkit.core.errors import UserInputError
from sdkit.files.atomic import create_file, create_first_free

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


def numbered_names(folder: Path, label: str, suffix: str) -> Iterator[str]:
    """`NNNNN-<label><suffix>` from the next free number in `folder` on, endlessly."""
    for number in itertools.count(_next_number(folder)):
        yield f"{number:05d}-{label}{suffix}"


def write_png(folder: Path, label: str, image: Any, pnginfo: Any | None = None) -> Path:
    """Save a PIL image as a new PNG (with optional text chunks) in `folder`."""

    def write(stream: IO[bytes]) -> None:
        image.save(stream, format="PNG", pnginfo=pnginfo)

    return create_first_free(folder, numbered_names(folder, label, ".png"), write)


def write_sidecar(image_path: Path, data: dict[str, Any]) -> Path:
    """Write `<image>.json` beside an image, atomically; refuses to replace an existing file."""
    payload = json.dumps(data, indent=2, default=str, ensure_ascii=False).encode("utf-8")
    return create_file(image_path.with_suffix(".json"), payload)
