"""A1111's variation seeds and "seed resize from" in sdkit.sampling's initial noise (its ImageRNG.first)."""

from __future__ import annotations

import math

import pytest
import torch

from sdkit.sampling.noise import ImageGenerators, Variation, paste_centred, slerp

SHAPE = (4, 8, 8)


def draw(seed: int, shape=SHAPE, count: int = 1) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=generator) for _ in range(count)]


def test_slerp_ends_are_its_inputs_and_its_middle_keeps_the_norm():
    low, high = draw(1)[0], draw(2)[0]
    assert torch.allclose(slerp(0.0, low, high), low, atol=1e-6)
    assert torch.allclose(slerp(1.0, low, high), high, atol=1e-6)
    # Along each great circle (norms over dim 1, as A1111 takes them) the blend of two unit-norm,
    # orthogonal-ish noises keeps the norm: sin²-weights of a spherical interpolation.
    low_unit = low / torch.norm(low, dim=1, keepdim=True)
    high_unit = high / torch.norm(high, dim=1, keepdim=True)
    middle = slerp(0.5, low_unit, high_unit)
    assert torch.allclose(torch.norm(middle, dim=1), torch.ones(SHAPE[0], SHAPE[2]), atol=1e-5)


def test_slerp_of_nearly_parallel_noise_uses_a1111s_linear_formula():
    low = draw(3)[0]
    high = low * 1.0001
    assert torch.equal(slerp(0.25, low, high), low * 0.25 + high * 0.75)


def test_paste_centred_puts_the_small_noise_in_the_middle_and_crops_a_larger_one():
    full = torch.zeros(1, 6, 8)
    small = torch.ones(1, 2, 4)
    pasted = paste_centred(small, full)
    assert pasted[0, 2:4, 2:6].eq(1).all() and pasted.sum() == 8
    big = torch.arange(100.0).view(1, 10, 10)
    cropped = paste_centred(big, torch.zeros(1, 6, 6))
    assert torch.equal(cropped, big[:, 2:8, 2:8])


def test_variation_blends_each_images_seed_with_its_variation_seed():
    generators = ImageGenerators([7, 7], SHAPE, variation=Variation((100, 101), 0.3))
    first = generators.first()
    seed_noise, seed_next = draw(7, count=2)
    for index, subseed in enumerate((100, 101)):
        assert torch.equal(first[index], slerp(0.3, seed_noise, draw(subseed)[0]))
    assert not torch.equal(first[0], first[1])
    # The image's generator moved on by exactly one draw, as without variation (ancestral noise).
    assert torch.equal(generators(None, None)[0], seed_next)


def test_seed_resize_pastes_the_seeds_small_noise_into_a_full_draw():
    generators = ImageGenerators([5], SHAPE, variation=Variation(resize_from=(4, 4)))
    [first] = generators.first()
    small, full = draw(5, (4, 4, 4))[0], draw(5)[0]
    assert torch.equal(first[:, 2:6, 2:6], small)
    assert torch.equal(first[:, :2], full[:, :2]) and torch.equal(first[:, :, 6:], full[:, :, 6:])


def test_resize_to_the_same_size_and_strength_zero_change_nothing():
    plain = ImageGenerators([9], SHAPE).first()
    assert torch.equal(ImageGenerators([9], SHAPE, variation=Variation(resize_from=(8, 8))).first(), plain)
    assert torch.equal(ImageGenerators([9], SHAPE, variation=Variation((4,), 0.0)).first(), plain)


@pytest.mark.parametrize("source", ["cpu", "nv"])
def test_full_strength_gives_the_variation_seeds_own_noise(source):
    varied = ImageGenerators([1], SHAPE, source, variation=Variation((2,), 1.0)).first()
    assert torch.allclose(varied, ImageGenerators([2], SHAPE, source).first(), atol=1e-5)
    assert math.isclose(float(varied.std()), 1.0, abs_tol=0.2)


def test_a_variation_seed_per_image_is_required():
    with pytest.raises(ValueError):
        ImageGenerators([1, 2], SHAPE, variation=Variation((3,), 0.5))
