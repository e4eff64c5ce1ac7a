"""img2img and inpaint inputs at the output size, from images sdkit has already opened and checked."""

from __future__ import annotations

from typing import Any

from sdkit.plugin import UserInputError


def init_image(image: Any, size: tuple[int, int]) -> Any:
    """The init image as RGB at the output size (resized with Lanczos when it differs, as A1111 does)."""
    from PIL import Image

    image = image.convert("RGB")
    if image.size != size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    return image


def inpaint_mask(mask: Any, size: tuple[int, int], blur: int, label: str) -> Any:
    """The inpaint mask as greyscale at the output size: white is repainted, black is kept."""
    from PIL import Image, ImageFilter

    if mask.mode in ("RGBA", "LA"):
        # A transparent-background mask: paint where it is opaque.
        mask = mask.getchannel("A")
    mask = mask.convert("L")
    if mask.size != size:
        mask = mask.resize(size, Image.Resampling.NEAREST)
    if mask.getextrema() == (0, 0):
        raise UserInputError(f"the mask {label} is all black, so nothing would be inpainted",
                             "paint the area to change in white")
    if blur > 0:
        mask = mask.filter(ImageFilter.GaussianBlur(blur))
    return mask
