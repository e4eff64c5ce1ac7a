"""Images in requests: base64 (A1111 sends plain base64 or a data URL) decoded and checked before
anything is queued, and result images encoded for responses."""

from __future__ import annotations

import base64
import binascii
import io

from sdkit.core.errors import UserInputError

ACCEPTED_FORMATS = {"PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF"}


def decode_image(text: str | None, field: str, max_pixels: int) -> bytes:
    """The image bytes of a base64 field; a `UserInputError` naming the field when it is not an image."""
    from PIL import Image, UnidentifiedImageError

    if not isinstance(text, str) or not text.strip():
        raise UserInputError(f"{field} is empty", f"send {field} as a base64-encoded PNG or JPEG")
    payload = text.strip()
    if payload.startswith("data:"):
        payload = payload.partition(",")[2]
    try:
        data = base64.b64decode("".join(payload.split()), validate=True)
    except (binascii.Error, ValueError):
        raise UserInputError(f"{field} is not valid base64", f"send {field} as a base64-encoded PNG or JPEG") from None
    try:
        with Image.open(io.BytesIO(data)) as opened:
            width, height = opened.size
            if opened.format not in ACCEPTED_FORMATS:
                raise UserInputError(f"{field} is a {opened.format} image", "send a PNG, JPEG or WebP image")
            if width * height > max_pixels:
                raise UserInputError(f"{field} is {width}x{height} pixels, more than the server's limit of "
                                     f"{max_pixels:,} pixels", "send a smaller image")
            opened.load()  # a truncated or damaged image fails here, not in the queue
    except UserInputError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError):
        raise UserInputError(f"{field} is not a readable image",
                             f"send {field} as a base64-encoded PNG or JPEG") from None
    return data


def encode_png(png: bytes) -> str:
    return base64.b64encode(png).decode("ascii")
