"""Read a demo-model image's pixels and report its background colour, shape colour and shape class.

numpy and Pillow only (no torch), so tests and the evaluation script can score any image, generated or drawn.
Method: every pixel takes its nearest palette colour; the border's majority colour is the background; the
most common other colour is the shape's; the shape's mask (pixels of that colour) is then compared by its
fill ratio and row-width profile with an ideal square, circle and upward triangle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from sdkit.demo.shapes import COLOURS, SHAPES, Combo

_NAMES = list(COLOURS)
_PALETTE = np.array([COLOURS[name] for name in _NAMES], dtype=np.float32)
#: Below this share of the image, no shape is reported (a blank or washed-out image).
MIN_SHAPE_FRACTION = 0.02
# Features of ideal shapes: (area / bounding-box area, mean width of the top quarter of rows / max width,
# the same for the bottom quarter). A triangle is narrow on top and wide below; a square is full everywhere.
_PROTOTYPES = {
    "square": np.array([1.0, 1.0, 1.0]),
    "circle": np.array([0.785, 0.58, 0.58]),
    "triangle": np.array([0.5, 0.13, 0.87]),
}


@dataclass(frozen=True)
class Reading:
    """What the evaluator sees in one image; `shape` and `colour` are None when no shape stands out."""

    background: str
    colour: str | None
    shape: str | None
    shape_fraction: float

    def scores(self, expected: Combo) -> dict[str, bool]:
        """Which of the three judgements match `expected`."""
        return {
            "background": self.background == expected.background,
            "colour": self.colour == expected.colour,
            "shape": self.shape == expected.shape,
        }


def palette_labels(image: Image.Image | np.ndarray) -> np.ndarray:
    """Index (into COLOURS) of each pixel's nearest palette colour, as an H x W int array."""
    pixels = np.asarray(image.convert("RGB") if isinstance(image, Image.Image) else image, dtype=np.float32)
    distances = ((pixels[:, :, None, :] - _PALETTE[None, None, :, :]) ** 2).sum(axis=-1)
    return distances.argmin(axis=-1)


def read_image(image: Image.Image | np.ndarray) -> Reading:
    """Score one image: background colour, shape colour and shape class, from the pixels alone."""
    labels = palette_labels(image)
    border = np.concatenate([labels[:2].ravel(), labels[-2:].ravel(), labels[:, :2].ravel(), labels[:, -2:].ravel()])
    background = int(np.bincount(border, minlength=len(_NAMES)).argmax())
    counts = np.bincount(labels.ravel(), minlength=len(_NAMES))
    counts[background] = 0
    colour = int(counts.argmax())
    fraction = float(counts[colour]) / labels.size
    if fraction < MIN_SHAPE_FRACTION:
        return Reading(_NAMES[background], None, None, fraction)
    return Reading(_NAMES[background], _NAMES[colour], classify_mask(labels == colour), fraction)


def classify_mask(mask: np.ndarray) -> str:
    """The ideal shape (square, circle or triangle) whose features are nearest to the mask's."""
    return min(SHAPES, key=lambda shape: float(np.abs(mask_features(mask) - _PROTOTYPES[shape]).sum()))


def mask_features(mask: np.ndarray) -> np.ndarray:
    """(fill ratio, top-quarter width ratio, bottom-quarter width ratio) of the mask's main body."""
    row_widths = mask.sum(axis=1).astype(np.float32)
    col_heights = mask.sum(axis=0).astype(np.float32)
    # Rows and columns with only a few stray pixels are specks, not the shape: they would stretch the box.
    rows = np.flatnonzero(row_widths >= max(2.0, 0.1 * row_widths.max()))
    cols = np.flatnonzero(col_heights >= max(2.0, 0.1 * col_heights.max()))
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    body = mask[top:bottom, left:right]
    widths = body.sum(axis=1).astype(np.float32)
    quarter = max(1, len(widths) // 4)
    widest = max(float(widths.max()), 1.0)
    return np.array(
        [
            float(body.mean()),
            float(widths[:quarter].mean()) / widest,
            float(widths[-quarter:].mean()) / widest,
        ]
    )


def score_images(images: list[Image.Image], expected: list[Combo]) -> dict[str, float]:
    """Share of images (0..1) whose background, shape colour and shape class match the expected combos."""
    totals = {"background": 0, "colour": 0, "shape": 0}
    for image, combo in zip(images, expected, strict=True):
        for key, correct in read_image(image).scores(combo).items():
            totals[key] += int(correct)
    return {key: value / max(len(images), 1) for key, value in totals.items()}


def colour_shares(image: Image.Image | np.ndarray) -> dict[str, float]:
    """Share of the image's pixels (0..1) nearest to each palette colour: a continuous colour score."""
    counts = np.bincount(palette_labels(image).ravel(), minlength=len(_NAMES))
    return {name: float(count) / counts.sum() for name, count in zip(_NAMES, counts, strict=True)}
