"""The pixel evaluator reads procedurally drawn shapes correctly, and the data set is what it claims."""

from __future__ import annotations

import random

import numpy as np
import pytest
from PIL import Image, ImageFilter

from sdkit.demo.evaluate import read_image, score_images
from sdkit.demo.shapes import COLOURS, HELD_OUT, SHAPES, Combo, all_combos, draw, draw_at, seen_combos


def drawn_sample(count: int, seed: int) -> tuple[list[Image.Image], list[Combo]]:
    rng = random.Random(seed)
    combos = [rng.choice(all_combos()) for _ in range(count)]
    return [draw(combo, rng) for combo in combos], combos


def test_reads_every_combination_exactly():
    rng = random.Random(0)
    for combo in all_combos():
        reading = read_image(draw(combo, rng))
        assert (reading.background, reading.colour, reading.shape) == (combo.background, combo.colour, combo.shape)


def test_blur_and_noise_do_not_fool_it():
    images, combos = drawn_sample(150, seed=3)
    noise = np.random.default_rng(0)
    softened = []
    for image in images:
        blurred = np.asarray(image.filter(ImageFilter.GaussianBlur(1.2)), dtype=np.float32)
        noisy = np.clip(blurred + noise.normal(0, 12, blurred.shape), 0, 255).astype(np.uint8)
        softened.append(Image.fromarray(noisy))
    assert score_images(softened, combos) == {"background": 1.0, "colour": 1.0, "shape": 1.0}


def test_a_wrong_image_scores_wrong():
    combo = Combo("red", "circle", "blue")
    reading = read_image(draw_at(Combo("yellow", "triangle", "green"), 10, 10, 40))
    assert reading.scores(combo) == {"background": False, "colour": False, "shape": False}


def test_a_blank_image_has_no_shape():
    reading = read_image(Image.new("RGB", (64, 64), COLOURS["purple"]))
    assert reading.background == "purple"
    assert reading.colour is None and reading.shape is None


@pytest.mark.parametrize("shape", SHAPES)
def test_small_and_corner_shapes(shape):
    for left, top, side in ((0, 0, 26), (38, 38, 26), (0, 20, 44), (10, 0, 30)):
        reading = read_image(draw_at(Combo("white", shape, "black"), left, top, side))
        assert reading.shape == shape, (left, top, side)


def test_shape_class_is_not_fooled_by_a_stray_speck():
    image = draw_at(Combo("orange", "triangle", "blue"), 12, 12, 40)
    pixels = np.asarray(image).copy()
    pixels[2, 2] = COLOURS["orange"]
    assert read_image(Image.fromarray(pixels)).shape == "triangle"


def test_held_out_combinations_are_valid_and_unseen():
    valid = set(all_combos())
    assert set(HELD_OUT) <= valid
    assert not set(HELD_OUT) & set(seen_combos())
    assert len(seen_combos()) + len(HELD_OUT) == len(valid)
    assert {combo.colour for combo in HELD_OUT} == set(COLOURS)
    assert {combo.shape for combo in HELD_OUT} == set(SHAPES)
    assert len(COLOURS) >= 8


def test_caption_wording():
    assert Combo("red", "circle", "blue").caption == "a red circle on a blue background"
