"""Opening the images a user gives sdkit (init images, masks, images to upscale), the one way it is done.

`open_image` turns every way a file can be unusable into a `UserInputError` (exit 2) that names the file,
says what was expected and hints at a fix: a missing path, a folder, a file Pillow cannot read, a
truncated one, an empty image, and an image too large to decode safely. The size is read from the
header and checked against sdkit's pixel limit *before* decoding, so a decompression bomb never gets
decoded, and Pillow's own bomb error and warning never reach the user. `read_image_size` reads only the
header, for callers that need the size without the pixels.

Pillow is imported inside the functions: importing this module stays light.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sdkit.core.errors import UserInputError

if TYPE_CHECKING:
    from PIL.Image import Image

log = logging.getLogger(__name__)

# 128 megapixels: above every common camera frame (the largest, 100-MP medium format, are 11648x8736 =
# 102 MP) and an 11,000 x 11,000 scan, yet a decoded image at the limit is at most 512 MB (RGBA, 8 bit).
# Nothing sdkit does needs more: SD engines work at a few megapixels, and the upscaler's input is
# multiplied by its scale. Pillow's own default (89 MP, a warning; 179 MP, an error) would warn on such
# camera frames and is global to the process, so sdkit applies its own limit instead.
DEFAULT_MAX_IMAGE_PIXELS = 128_000_000
MAX_PIXELS_VARIABLE = "SDKIT_MAX_IMAGE_PIXELS"

_READ_ERRORS = (OSError, SyntaxError, ValueError, EOFError)  # what Pillow raises for a broken file
_ACCEPTED = "a PNG, JPEG or WebP file"

# Pillow's bomb limit is one global; it is swapped for sdkit's only while sdkit opens a file.
_PILLOW_LIMIT_LOCK = threading.Lock()


def max_image_pixels() -> int:
    """The largest image (width x height) sdkit decodes: `SDKIT_MAX_IMAGE_PIXELS`, or the default."""
    raw = os.environ.get(MAX_PIXELS_VARIABLE, "").strip()
    if not raw:
        return DEFAULT_MAX_IMAGE_PIXELS
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if limit <= 0:
        raise UserInputError(f"{MAX_PIXELS_VARIABLE}={raw!r} is not a number of pixels",
                             f"set it to a positive whole number (the default is {DEFAULT_MAX_IMAGE_PIXELS}), "
                             "or unset it")
    return limit


def read_image_size(path: str | Path) -> tuple[int, int] | None:
    """(width, height) from the image's header, without decoding it; None if it cannot be read.

    The size is returned even when it is over the pixel limit (`open_image` refuses such images with a
    message); None also for a header that says the image has no pixels.
    """
    from PIL import Image

    image_path = Path(path).expanduser()
    if not image_path.is_file():  # a named pipe or device would block the read for ever
        return None
    try:
        with _pillow_limit_held(), Image.open(image_path) as opened:
            width, height = opened.size
    except _READ_ERRORS:
        return None
    if width <= 0 or height <= 0:
        return None
    return width, height


def open_image(path: str | Path, *, role: str = "input image") -> Image:
    """Open and fully decode an image file; anything unusable is a `UserInputError` naming the file.

    `role` says what the image is for ("input image", "mask", ...) and starts every message. The
    image is decoded here, so a truncated file fails now and not halfway through a run. Of an
    animated image the first frame is used, with a warning.
    """
    from PIL import Image, UnidentifiedImageError

    image_path = Path(path).expanduser()
    if not image_path.exists():
        raise UserInputError(f"{role} not found: {image_path}",
                             "check the path; a relative path starts from the current folder")
    if image_path.is_dir():
        raise UserInputError(f"{role} {image_path} is a folder, not an image file",
                             f"pass {_ACCEPTED} (one of the files inside it, for example)")
    if not image_path.is_file():  # a named pipe or a device: reading it could block for ever
        raise UserInputError(f"{role} {image_path} is not a regular file", f"pass {_ACCEPTED}")
    limit = max_image_pixels()
    try:
        with _pillow_limit_held(), Image.open(image_path) as opened:
            width, height = opened.size
            _check_dimensions(image_path, role, width, height, limit)
            # Pillow also checks frames as it decodes them (a GIF frame may outgrow the header); its
            # error comes at twice its setting, so half of ours stops exactly what ours would.
            Image.MAX_IMAGE_PIXELS = (limit + 1) // 2
            frames = getattr(opened, "n_frames", 1)
            opened.load()
            image = opened.copy()  # detached from the file, which `with` closes
    except Image.DecompressionBombError as error:  # a frame larger than the header said
        raise UserInputError(f"{role} {image_path} is too large to decode safely: a frame in it is over "
                             f"the limit of {limit / 1e6:g} megapixels", _too_large_hint(limit)) from error
    except PermissionError as error:
        raise UserInputError(f"{role} {image_path} cannot be read: {error.strerror or error}",
                             "check the file's permissions") from error
    except UnidentifiedImageError as error:
        raise UserInputError(f"{role} {image_path} is not a readable image (not an image format sdkit can read)",
                             f"pass {_ACCEPTED}") from error
    except _READ_ERRORS as error:
        raise UserInputError(f"{role} {image_path} is not a readable image ({type(error).__name__}: {error})",
                             f"pass {_ACCEPTED}; a truncated or damaged file must be saved again") from error
    if frames > 1:
        log.warning("%s %s has %d frames; only the first is used", role, image_path, frames)
    return image


def _check_dimensions(image_path: Path, role: str, width: int, height: int, limit: int) -> None:
    if width <= 0 or height <= 0:
        raise UserInputError(f"{role} {image_path} has no pixels ({width}x{height})", "pass a non-empty image")
    if width * height > limit:
        raise UserInputError(
            f"{role} {image_path} is too large to open safely: {width}x{height} is "
            f"{width * height / 1e6:.1f} megapixels, over the limit of {limit / 1e6:g} megapixels",
            _too_large_hint(limit))


def _too_large_hint(limit: int) -> str:
    return (f"downscale it first, or raise the limit with {MAX_PIXELS_VARIABLE} "
            f"(now {limit} pixels) if you trust the file")


@contextmanager
def _pillow_limit_held() -> Iterator[None]:
    """Pillow's decompression-bomb limit off (sdkit checks the header itself) and its warning silenced.

    The code inside may set `Image.MAX_IMAGE_PIXELS` as it needs; the global is restored afterwards,
    and the lock keeps two sdkit threads from restoring each other's value.
    """
    from PIL import Image

    with _PILLOW_LIMIT_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved
