"""Tiled inference: grid, blend weights, and tiled output that matches untiled output without seams."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from sdkit.upscale import load_upscaler, upscale_with
from sdkit.upscale.tiling import Stopped, axis_tiles, axis_weights, run_tiled, tile_grid, tile_starts


@pytest.mark.parametrize("length, tile, overlap", [(100, 32, 8), (33, 32, 8), (64, 32, 0), (200, 64, 31)])
def test_tiles_cover_the_axis_with_at_least_the_overlap(length, tile, overlap):
    starts, size = axis_tiles(length, tile, overlap)
    assert size <= tile
    assert starts[0] == 0 and starts[-1] + size == length
    for before, after in zip(starts, starts[1:], strict=False):
        assert before + size - after >= overlap  # neighbours share at least `overlap` pixels
        assert after > before


def test_tiles_are_shrunk_to_fit_instead_of_repeating_work():
    starts, size = axis_tiles(1024, 512, 32)
    assert len(starts) == 3 and size == 363  # not three 512 px tiles (1536 px of work for 1024)
    assert axis_tiles(512 + 480, 512, 32) == ([0, 480], 512)  # an exact fit keeps full tiles


def test_small_images_and_tiling_off_use_one_tile():
    assert tile_starts(20, 32, 8) == [0]
    assert tile_starts(500, 0, 0) == [0]
    assert len(tile_grid(20, 500, 0, 0)) == 1


@pytest.mark.parametrize("length, tile, overlap, scale", [(100, 32, 8, 4), (90, 40, 12, 2), (33, 32, 8, 1)])
def test_blend_weights_sum_to_one_everywhere(length, tile, overlap, scale):
    total = torch.zeros(length * scale)
    for start, weight in zip(tile_starts(length, tile, overlap), axis_weights(length, tile, overlap, scale),
                             strict=True):
        assert float(weight.min()) > 0
        total[start * scale:start * scale + weight.numel()] += weight
    assert torch.allclose(total, torch.ones_like(total), atol=1e-6)


def nearest_x2(batch: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.interpolate(batch, scale_factor=2, mode="nearest")


def test_a_pointwise_model_comes_out_exactly_the_same_tiled():
    image = torch.rand(1, 3, 50, 70)
    untiled = nearest_x2(image)
    for batch_size in (1, 3):
        tiled = run_tiled(nearest_x2, image, 2, 24, 8, batch_size=batch_size)
        assert torch.allclose(tiled, untiled, atol=1e-6)


def test_progress_per_tile_and_stopping_between_tiles():
    image = torch.rand(1, 3, 40, 40)
    seen = []
    run_tiled(nearest_x2, image, 2, 24, 8, on_tile=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    calls = []

    def stop_after_two() -> bool:
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(Stopped):
        run_tiled(nearest_x2, image, 2, 24, 8, on_tile=lambda done, total: seen.append(done),
                  should_stop=stop_after_two)


def gradient_image(width: int = 72, height: int = 56) -> Image.Image:
    """A smooth two-way gradient: any seam shows as a jump between neighbouring pixels."""
    x = np.linspace(0, 1, width)[None, :]
    y = np.linspace(0, 1, height)[:, None]
    rgb = np.stack([x + 0 * y, y + 0 * x, (x + y) / 2], axis=2)
    return Image.fromarray(np.rint(rgb * 255).astype(np.uint8))


def test_tiled_matches_untiled_closely_and_shows_no_seam(weight_files):
    upscaler = load_upscaler(weight_files["fast_x4"])
    image = gradient_image()
    untiled, _ = upscale_with(upscaler, image, tile=0)
    tiled, fields = upscale_with(upscaler, image, tile=32, tile_overlap=12)
    naive, _ = upscale_with(upscaler, image, tile=32, tile_overlap=0)  # abutting tiles: seams
    assert fields["Postprocess upscaler tile"] == 32 and fields["Postprocess upscaler tile overlap"] == 12
    reference = np.asarray(untiled, dtype=np.int16)
    difference = np.abs(np.asarray(tiled, dtype=np.int16) - reference)
    assert difference.max() <= 2 and difference.mean() < 0.05  # out of 255; measured 1 and 0.006
    naive_difference = np.abs(np.asarray(naive, dtype=np.int16) - reference)
    assert naive_difference.max() > 20  # the same check catches abutting tiles (measured 131)

    def largest_step(error: np.ndarray) -> int:
        """The largest change of the tiled-minus-untiled error between neighbouring pixels: a seam."""
        return max(int(np.abs(np.diff(error, axis=axis)).max()) for axis in (0, 1))

    tiled_error = np.asarray(tiled, dtype=np.int16) - reference
    naive_error = np.asarray(naive, dtype=np.int16) - reference
    assert largest_step(tiled_error) <= 2
    assert largest_step(naive_error) > 20


def test_batched_tiles_give_the_same_result(weight_files):
    upscaler = load_upscaler(weight_files["fast_x4"])
    one, _ = upscale_with(upscaler, gradient_image(), tile=32, tile_overlap=8, batch_size=1)
    four, _ = upscale_with(upscaler, gradient_image(), tile=32, tile_overlap=8, batch_size=4)
    assert np.abs(np.asarray(one, dtype=np.int16) - np.asarray(four, dtype=np.int16)).max() <= 1
