"""`sdkit.bench.quality`: PSNR on known arrays and images, the largest pixel difference, pixel hashes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from sdkit.bench.quality import array_psnr, max_difference, pixels_hash, psnr


def test_array_psnr_with_a_fixed_peak():
    reference = np.zeros((4, 4))
    other = np.full((4, 4), 10.0)  # every value off by 10: MSE 100
    assert array_psnr(reference, other, peak=255.0) == pytest.approx(10 * math.log10(255**2 / 100))
    assert math.isinf(array_psnr(reference, reference.copy(), peak=255.0))


def test_array_psnr_defaults_to_the_references_range():
    reference = np.array([-2.0, 0.0, 2.0, 0.0])  # range 4
    other = reference + np.array([0.5, -0.5, 0.5, -0.5])  # MSE 0.25
    assert array_psnr(reference, other) == pytest.approx(10 * math.log10(16 / 0.25))
    # CPU tensors (a UNet's noise prediction) work as they are.
    assert array_psnr(torch.tensor(reference), torch.tensor(other)) == pytest.approx(array_psnr(reference, other))


def test_array_psnr_refuses_different_shapes():
    with pytest.raises(ValueError, match="shapes"):
        array_psnr(np.zeros(4), np.zeros(5))


def test_psnr_of_image_batches():
    black, grey = Image.new("RGB", (8, 8), (0, 0, 0)), Image.new("RGB", (8, 8), (10, 10, 10))
    assert math.isinf(psnr([black], [black.copy()]))
    assert psnr([black], [grey]) == pytest.approx(10 * math.log10(255**2 / 100))
    # Over a batch the squared error is averaged over all pixels: one image off by 10, one exact -> MSE 50.
    assert psnr([black, black], [grey, black]) == pytest.approx(10 * math.log10(255**2 / 50))
    with pytest.raises(ValueError, match="2 images with 1"):
        psnr([black, black], [grey])
    with pytest.raises(ValueError, match="shapes"):
        psnr([black], [Image.new("RGB", (4, 8))])


def test_max_difference_in_levels():
    image = Image.new("RGB", (4, 4), (100, 100, 100))
    changed = image.copy()
    changed.putpixel((2, 1), (100, 93, 104))
    assert max_difference(image, changed) == 7
    assert max_difference(image, image.copy()) == 0


def test_pixels_hash_sees_one_changed_pixel():
    image = Image.new("RGB", (4, 4), (1, 2, 3))
    changed = image.copy()
    changed.putpixel((0, 0), (1, 2, 4))
    assert pixels_hash([image]) == pixels_hash([image.copy()]) != pixels_hash([changed])
