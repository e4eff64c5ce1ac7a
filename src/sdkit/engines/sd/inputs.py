"""img2img and inpaint inputs at the output size, from images sdkit has already opened and checked."""

from __future__ import annotations

import logging
from typing import Any

from sdkit.plugin import UserInputError

log = logging.getLogger(__name__)


def init_image(image: Any, size: tuple[int, int]) -> Any:
    """The init image as RGB at the output size (resized with Lanczos when it differs, as A1111 does)."""
    from PIL import Image

    image = image.convert("RGB")
    if image.size != size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    return image


def inpaint_mask(mask: Any, size: tuple[int, int], blur: int, label: str, announce: bool = True) -> Any:
    """The inpaint mask as greyscale at the output size: white is repainted, black is kept.

    A mask with an alpha channel is read from its alpha (opaque is repainted) only when the alpha
    varies; otherwise from its brightness, as every other mask. Which one was used is logged when
    `announce` is set (the engine sets it for a run's first batch only, so it is said once).
    """
    from PIL import Image, ImageFilter

    mask = mask_channel(mask, label, announce)
    mask = mask.convert("L")
    if mask.size != size:
        mask = mask.resize(size, Image.Resampling.NEAREST)
    if mask.getextrema() == (0, 0):
        raise UserInputError(f"the mask {label} is all black, so nothing would be inpainted",
                             "paint the area to change in white")
    if blur > 0:
        mask = mask.filter(ImageFilter.GaussianBlur(blur))
    return mask


def mask_channel(mask: Any, label: str, announce: bool = True) -> Any:
    """The channel a mask is read from: its alpha where the alpha varies, else the image as it is.

    A painted-on-transparent mask carries the area in its alpha. But many RGBA masks are ordinary
    white-on-black drawings saved with a fully opaque alpha channel, and reading that alpha would
    repaint the whole image without a word; so a constant alpha is ignored and the brightness counts.
    """
    say = log.info if announce else log.debug
    if "A" not in mask.getbands():
        say("mask %s: read from its brightness (white is repainted)", label)
        return mask
    alpha = mask.getchannel("A")
    low, high = alpha.getextrema()
    if low == high:
        say("mask %s: its alpha channel is %d everywhere, so the mask is read from its brightness "
            "(white is repainted)", label, low)
        return mask
    (log.warning if announce else log.debug)(
        "mask %s: read from its alpha channel (opaque is repainted, transparent is kept), not from its "
        "brightness", label)
    return alpha
