"""`sdkit benchmark upscale`: every dtype x tile x tiles-per-call combination, timed and compared with the first."""

from __future__ import annotations

import json

import pytest
from cli_helpers import run_sdkit

from sdkit.bench.upscale import UpscaleBenchConfig, bench_image, random_upscaler, run_upscale_benchmark
from sdkit.core.errors import UserInputError

# One RRDB block instead of 23: the same code path in a fraction of the time.
SMALL = {"size": 32, "tiles": (0, 24), "tile_overlap": 4, "blocks": 1, "threads": 1}


def test_untiled_runs_are_not_repeated_per_batch_size():
    config = UpscaleBenchConfig(tiles=(0, 64), batch_sizes=(1, 4), dtypes=("fp32", "bf16"))
    assert config.combinations() == [("fp32", 0, 1), ("fp32", 64, 1), ("fp32", 64, 4),
                                     ("bf16", 0, 1), ("bf16", 64, 1), ("bf16", 64, 4)]


def test_the_random_upscaler_has_x4plus_shape():
    upscaler = random_upscaler(blocks=1)
    assert (upscaler.architecture, upscaler.scale, upscaler.num_filters) == ("ESRGAN", 4, 64)
    assert bench_image(40, 30).size == (40, 30)


def test_every_combination_is_timed_and_compared_with_the_first():
    messages: list[str] = []
    report = run_upscale_benchmark(UpscaleBenchConfig(**SMALL, batch_sizes=(1, 2), repeats=2, warmup=1),
                                   progress=messages.append)
    assert report.threads_used == 1
    assert [(row.tile, row.tile_overlap, row.batch_size) for row in report.rows] == [(0, 0, 1), (24, 4, 1), (24, 4, 2)]
    for row in report.rows:
        assert len(row.seconds) == len(row.cpu_seconds) == 2  # warm-up not counted
        assert row.megapixels_out == pytest.approx(128 * 128 / 1e6)
        assert row.megapixels_per_second == pytest.approx(row.megapixels_out / min(row.seconds))
    untiled, tiled_one, tiled_two = report.rows
    assert untiled.max_difference is None and untiled.psnr_db is None  # the reference itself
    # Tiles blend their overlaps, so tiled output is close to, not equal to, untiled output ...
    assert 0 < tiled_one.max_difference <= 10 and tiled_one.psnr_db > 40
    # ... and how many tiles go into one call does not change it.
    assert (tiled_two.max_difference, tiled_two.psnr_db) == (tiled_one.max_difference, tiled_one.psnr_db)
    assert len(messages) == 1 + 3 * 3  # building, then three rounds of three combinations


@pytest.mark.parametrize(("overrides", "message"), [
    ({"tiles": (24,), "tile_overlap": 12}, "less than half the tile"),
    ({"dtypes": ("fp8",)}, "unknown dtypes: fp8"),
    ({"blocks": 0}, "--blocks must be at least 1"),
])
def test_bad_configs_are_user_errors(overrides, message):
    with pytest.raises(UserInputError, match=message):
        UpscaleBenchConfig(**{**SMALL, **overrides}).check()


def test_through_the_cli(capsys, tmp_path):
    json_file = tmp_path / "upscale.json"
    result = run_sdkit(capsys, "benchmark", "upscale", "--size", "16", "--tiles", "0,12", "--tile-overlap", "2",
                       "--blocks", "1", "--threads", "1", "--json", json_file)
    assert result.exit_code == 0, result.output
    assert "16x16 -> 64x64" in result.stdout and "MP out/s" in result.stdout
    rows = json.loads(json_file.read_text())["rows"]
    assert [(row["tile"], row["batch_size"]) for row in rows] == [(0, 1), (12, 1)]
    assert rows[1]["max_difference"] is not None
