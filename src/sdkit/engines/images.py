"""Init images and masks for img2img and inpaint, at the output size (opened by `sdkit.files.images`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sdkit.core.errors import UserInputError
from sdkit.files.images import open_image


def load_image(path: str | Path, size: tuple[int, int]) -> Any:
    """The init image as RGB at the output size (resized with Lanczos when it differs, as A1111 does)."""
    from PIL import Image

    image = open_image(path).convert("RGB")
    if image.size != size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    return image


def load_mask(path: str | Path, size: tuple[int, int], blur: int) -> Any:
    """The inpaint mask as greyscale at the output size: white is repainted, black is kept."""
    from PIL import Image, ImageFilter

    mask = open_image(path, role="mask")
    if mask.mode in ("RGBA", "LA"):
        # A transparent-background mask: paint where it is opaque.
        mask = mask.getchannel("A")
    mask = mask.convert("L")
    if mask.size != size:
        mask = mask.resize(size, Image.Resampling.NEAREST)
    if mask.getextrema() == (0, 0):
        raise UserInputError(f"the mask {path} is all black, so nothing would be inpainted",
                             "paint the area to change in white")
    if blur > 0:
        mask = mask.filter(ImageFilter.GaussianBlur(blur))
    return mask
