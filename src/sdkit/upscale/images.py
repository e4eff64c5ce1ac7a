"""Image modes for upscaling: split an image into what the model sees and what is resized, and back.

The model sees colour (3 channels) or grey (1 channel) as float32 in [0, 1]. Alpha is never sent
through the model (which could add texture to it and would double the work): it is resized with
Lanczos, clamped so it cannot ring (see `resize_alpha`). The output keeps the input's mode where it
can (RGB, RGBA, L, LA, 16-bit grey, bilevel); palette images become RGB, or RGBA if they have
transparency, since the upscaled colours no longer fit a palette; CMYK and other colour spaces
become RGB.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sdkit.core.errors import UserInputError

if TYPE_CHECKING:
    import numpy as np
    from PIL.Image import Image

SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")


@dataclass
class Planes:
    """An image as float planes: `colour` is (H, W, C) with C 3 or 1; `alpha` is (H, W) or None."""

    colour: np.ndarray
    alpha: np.ndarray | None
    output_mode: str  # the mode of the finished image


def check_size(image: Image, label: str = "the image") -> None:
    width, height = image.size
    if width <= 0 or height <= 0:
        raise UserInputError(f"{label} has no pixels ({width}x{height})", "pass a non-empty image")


def to_planes(image: Image) -> Planes:
    """Split `image` into float colour/grey planes and an optional alpha plane."""
    import numpy as np

    mode = image.mode
    if mode in ("1", "L", "LA", "La") or mode in SIXTEEN_BIT_MODES:
        if mode in SIXTEEN_BIT_MODES:
            grey = np.asarray(image, dtype=np.float64).clip(0, 65535) / 65535.0
            return Planes(grey.astype(np.float32)[:, :, None], None, "I;16")
        alpha = None
        if mode in ("LA", "La"):
            image = image.convert("LA")
            alpha = np.asarray(image.getchannel("A"), dtype=np.float32) / 255.0
        grey = np.asarray(image.convert("L"), dtype=np.float32) / 255.0
        output_mode = {"1": "1", "L": "L"}.get(mode, "LA")
        return Planes(grey[:, :, None], _drop_opaque(alpha), output_mode)
    has_alpha = mode in ("RGBA", "RGBa", "PA") or (mode == "P" and "transparency" in image.info)
    if has_alpha:
        image = image.convert("RGBA")
        alpha = np.asarray(image.getchannel("A"), dtype=np.float32) / 255.0
        colour = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
        return Planes(colour, _drop_opaque(alpha), "RGBA")
    colour = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    return Planes(colour, None, "RGB")


def _drop_opaque(alpha: np.ndarray | None) -> np.ndarray | None:
    """An all-opaque alpha stays implicit (nothing to resize; it is filled back at the end)."""
    if alpha is None or float(alpha.min()) >= 1.0:
        return None
    return alpha


def resize_plane(plane: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize one (H, W) float plane with Lanczos (Pillow's 32-bit float mode keeps full precision)."""
    import numpy as np
    from PIL import Image

    if plane.shape[1] == width and plane.shape[0] == height:
        return plane
    resized = Image.fromarray(np.ascontiguousarray(plane, dtype=np.float32)).resize(
        (width, height), Image.Resampling.LANCZOS)
    return np.asarray(resized, dtype=np.float32)


def _neighbourhood(plane: np.ndarray, reduce: str) -> np.ndarray:
    """The min or max of each pixel's 3x3 neighbourhood."""
    import numpy as np

    padded = np.pad(plane, 1, mode="edge")
    height, width = plane.shape
    shifted = [padded[dy:dy + height, dx:dx + width] for dy in range(3) for dx in range(3)]
    return getattr(np, reduce).reduce(shifted)


def resize_alpha(alpha: np.ndarray, width: int, height: int) -> np.ndarray:
    """Lanczos, clamped to the range of the input's 3x3 neighbourhood (no ringing halos).

    Plain Lanczos rings next to a hard edge: fully transparent pixels would turn faintly opaque and
    show whatever colour they hold. Clamping keeps edges as sharp as Lanczos makes them and keeps
    0 and 1 exact where the input is uniformly transparent or opaque.
    """
    import numpy as np
    from PIL import Image

    smooth = resize_plane(alpha, width, height)
    if smooth is alpha:
        return alpha

    def nearest(plane: np.ndarray) -> np.ndarray:
        image = Image.fromarray(np.ascontiguousarray(plane, dtype=np.float32))
        return np.asarray(image.resize((width, height), Image.Resampling.NEAREST), dtype=np.float32)

    low = nearest(_neighbourhood(alpha, "minimum"))
    high = nearest(_neighbourhood(alpha, "maximum"))
    return np.clip(smooth, low, high)


def resize_planes(colour: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize (H, W, C) float planes channel by channel."""
    import numpy as np

    if colour.shape[1] == width and colour.shape[0] == height:
        return colour
    return np.stack([resize_plane(colour[:, :, c], width, height) for c in range(colour.shape[2])], axis=2)


def from_planes(colour: np.ndarray, alpha: np.ndarray | None, output_mode: str) -> Image:
    """Assemble the finished image in `output_mode` from float planes of the output size."""
    import numpy as np
    from PIL import Image

    height, width = colour.shape[:2]
    if output_mode == "I;16":
        values = np.rint(colour[:, :, 0].clip(0, 1) * 65535.0).astype(np.uint16)
        return Image.fromarray(values)  # uint16 -> I;16
    to_bytes = lambda plane: np.rint(plane.clip(0, 1) * 255.0).astype(np.uint8)  # noqa: E731
    if colour.shape[2] == 1:
        grey = Image.fromarray(to_bytes(colour[:, :, 0]))
        if output_mode == "1":
            return grey.point(lambda value: 255 if value >= 128 else 0).convert("1", dither=Image.Dither.NONE)
        if output_mode == "LA":
            opacity = to_bytes(alpha) if alpha is not None else np.full((height, width), 255, np.uint8)
            return Image.merge("LA", (grey, Image.fromarray(opacity)))
        return grey
    rgb = Image.fromarray(to_bytes(colour))
    if output_mode == "RGBA":
        opacity = to_bytes(alpha) if alpha is not None else np.full((height, width), 255, np.uint8)
        rgb.putalpha(Image.fromarray(opacity))
    return rgb
