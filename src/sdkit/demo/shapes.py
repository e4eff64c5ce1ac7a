"""The procedural data set of the demo model: one coloured shape on a background of another colour.

Everything here is plain data plus small pure functions (numpy and Pillow only), so the trainer, the
evaluator and the tests all draw from one definition of colours, shapes, captions and held-out combinations.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

#: The palette. Colours are far apart in RGB so that a pixel's nearest palette colour is unambiguous.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 170, 50),
    "blue": (30, 60, 220),
    "yellow": (240, 220, 40),
    "orange": (250, 140, 10),
    "purple": (140, 50, 180),
    "white": (245, 245, 245),
    "black": (20, 20, 20),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle")

#: The resolution the model is trained at (and the pipeline's default size).
IMAGE_SIZE = 64
#: Shape side lengths, in pixels of a 64-pixel image: large, so a small VAE can draw them crisply.
MIN_SIDE, MAX_SIDE = 26, 44


@dataclass(frozen=True)
class Combo:
    """One colour x shape x background combination."""

    colour: str
    shape: str
    background: str

    @property
    def caption(self) -> str:
        return caption(self.colour, self.shape, self.background)


#: Combinations never shown in training. Every colour appears once as a shape colour and at least once
#: as a background, and every shape appears several times, so held-out prompts only recombine known words.
HELD_OUT: tuple[Combo, ...] = (
    Combo("green", "triangle", "purple"),
    Combo("yellow", "square", "black"),
    Combo("blue", "circle", "orange"),
    Combo("white", "triangle", "red"),
    Combo("orange", "circle", "green"),
    Combo("purple", "square", "yellow"),
    Combo("black", "circle", "white"),
    Combo("red", "square", "blue"),
    Combo("green", "circle", "black"),
    Combo("yellow", "triangle", "blue"),
    Combo("white", "square", "purple"),
    Combo("black", "triangle", "orange"),
)
_HELD_OUT_SET = frozenset(HELD_OUT)


def caption(colour: str, shape: str, background: str) -> str:
    """The caption the model is trained with, e.g. "a red circle on a blue background"."""
    return f"a {colour} {shape} on a {background} background"


def all_combos() -> list[Combo]:
    """Every valid combination (shape colour differs from background), in a fixed order."""
    return [
        Combo(colour, shape, background)
        for colour in COLOURS
        for shape in SHAPES
        for background in COLOURS
        if colour != background
    ]


def seen_combos() -> list[Combo]:
    """The combinations the training set draws from."""
    return [combo for combo in all_combos() if combo not in _HELD_OUT_SET]


def vocabulary() -> list[str]:
    """Every word a caption can contain, in a fixed order (the tokenizer's word list)."""
    return ["a", "on", "background", *COLOURS, *SHAPES]


def draw(combo: Combo, rng: random.Random, size: int = IMAGE_SIZE) -> Image.Image:
    """Draw `combo` at a random size and position; no anti-aliasing, so colours stay exact."""
    scale = size / IMAGE_SIZE
    side = round(rng.randint(MIN_SIDE, MAX_SIDE) * scale)
    left, top = rng.randint(0, size - side), rng.randint(0, size - side)
    return draw_at(combo, left, top, side, size)


def draw_at(combo: Combo, left: int, top: int, side: int, size: int = IMAGE_SIZE) -> Image.Image:
    """Draw `combo` with its bounding box at (left, top), `side` pixels wide and high."""
    image = Image.new("RGB", (size, size), COLOURS[combo.background])
    pen = ImageDraw.Draw(image)
    right, bottom = left + side - 1, top + side - 1
    fill = COLOURS[combo.colour]
    if combo.shape == "circle":
        pen.ellipse([left, top, right, bottom], fill=fill)
    elif combo.shape == "square":
        pen.rectangle([left, top, right, bottom], fill=fill)
    elif combo.shape == "triangle":
        pen.polygon([((left + right) / 2, top), (left, bottom), (right, bottom)], fill=fill)
    else:
        raise ValueError(f"unknown shape {combo.shape!r}")
    return image


def sample_training_set(count: int, seed: int) -> tuple[np.ndarray, list[str]]:
    """`count` seen-combination images (uint8, N x H x W x 3) and their captions, reproducible by seed."""
    rng = random.Random(seed)
    combos = seen_combos()
    images = np.empty((count, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    captions: list[str] = []
    for index in range(count):
        combo = rng.choice(combos)
        images[index] = np.asarray(draw(combo, rng))
        captions.append(combo.caption)
    return images, captions
