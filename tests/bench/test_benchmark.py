"""`sdkit benchmark` on a tiny model: the report's fields, sdkit/diffusers ratios, files, the identical-image check."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys

import pytest
from cli_helpers import run_sdkit

from sdkit.bench import BenchCell, CellResult, SideResult, time_startup
from sdkit.bench.report import RATIO_TARGET

# One thread: on a busy shared machine torch's two threads wait on each other and run tiny models ~10x slower.
ONE_CELL = ("--samplers", "diffusers:euler_a", "--steps", "2", "--batch-sizes", "1", "--warmup", "0", "--threads", "1")


@pytest.fixture(scope="module")
def tiny_sd1(tiny_pipeline_dir):
    return tiny_pipeline_dir("sd1")


def test_one_cell_through_the_cli_reports_every_field(capsys, tmp_path, tiny_sd1):
    json_file, csv_file = tmp_path / "bench.json", tmp_path / "bench.csv"
    result = run_sdkit(capsys, "benchmark", "--model", tiny_sd1, *ONE_CELL, "--repeats", "2", "--dtype", "fp32",
                       "--json", json_file, "--csv", csv_file)
    assert result.exit_code == 0, result.output
    assert "sdkit/diffusers" in result.stdout and "diffusers:euler_a" in result.stdout
    assert "differ between repeats" not in result.stdout

    report = json.loads(json_file.read_text())
    machine = report["machine"]
    assert machine["cores"] >= 1 and machine["torch"] and machine["diffusers"] and machine["cpu"]
    assert set(report["load_seconds"]) == {"sdkit", "diffusers"}
    (cell,) = report["cells"]
    matrix_point = (cell["sampler"], cell["steps"], cell["width"], cell["height"], cell["batch_size"])
    assert matrix_point == ("diffusers:euler_a", 2, 64, 64, 1)
    for name in ("sdkit", "diffusers"):
        side = cell["sides"][name]
        assert side["repeats"] == 2 and len(side["seconds"]) == 2
        assert side["min_s"] <= side["median_s"] <= side["max_s"]
        assert side["s_per_image"] == pytest.approx(side["median_s"])
        assert side["it_per_s"] == pytest.approx(2 / side["median_s"])
        assert side["unet_calls"] == 2  # one CFG-batched UNet call per step
        assert 0 < side["unet_s"] < side["median_s"] and 0 < side["vae_decode_s"] < side["median_s"]
        assert 0 < side["text_encoder_s"] < side["median_s"]
        assert side["outside_models_s"] == pytest.approx(
            side["median_s"] - side["unet_s"] - side["vae_decode_s"] - side["text_encoder_s"], abs=0.05)
        assert side["peak_rss_mb"] > 0
        assert side["images_identical"] is True
    assert len(cell["pair_ratios"]) == 2
    sdkit_side, plain_side = cell["sides"]["sdkit"], cell["sides"]["diffusers"]
    assert cell["ratio_vs_diffusers"] == pytest.approx(sdkit_side["median_s"] / plain_side["median_s"])
    assert cell["cpu_ratio_vs_diffusers"] == pytest.approx(sdkit_side["cpu_s"] / plain_side["cpu_s"])
    assert 0 < cell["sides"]["sdkit"]["cpu_s"]
    assert cell["model_adjusted_ratio"] == pytest.approx(1 + cell["extra_s_vs_diffusers"] / plain_side["median_s"])
    # The baseline really ran the same job: same scheduler, seed and noise give the very same pixels.
    assert cell["same_images_as_diffusers"] is True
    assert cell["sides"]["sdkit"]["image_hashes"] == cell["sides"]["diffusers"]["image_hashes"]

    with csv_file.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["side"] for row in rows] == ["sdkit", "diffusers"]
    assert float(rows[0]["ratio_vs_diffusers"]) == pytest.approx(cell["ratio_vs_diffusers"])
    assert rows[0]["images_identical"] == "True"


def test_bf16_is_compared_with_diffusers_fp32(capsys, tmp_path, tiny_sd1):
    json_file = tmp_path / "bench.json"
    result = run_sdkit(capsys, "benchmark", "--model", tiny_sd1, "--samplers", "diffusers:euler_a", "--steps", "1",
                       "--batch-sizes", "1", "--warmup", "0", "--repeats", "1", "--threads", "1", "--dtype", "bf16",
                       "--json", json_file)
    assert result.exit_code == 0, result.output
    assert "PSNR vs fp32" in result.stdout
    report = json.loads(json_file.read_text())
    assert report["settings"]["dtype_used"] == "bf16"
    assert set(report["load_seconds"]) == {"sdkit", "diffusers", "diffusers-fp32"}
    (cell,) = report["cells"]
    # The baseline mirrors sdkit's fp32 VAE beside the bf16 UNet, so both compute the same images ...
    assert cell["same_images_as_diffusers"] is True
    # ... which are close to, but not the same as, diffusers' fp32 images.
    assert 25 < cell["psnr_vs_diffusers_fp32_db"] < math.inf
    assert cell["speedup_vs_diffusers_fp32"] > 0


def test_a_run_whose_images_change_is_flagged(capsys, tmp_path, tiny_sd1, monkeypatch):
    import torch

    from sdkit.engines.sd import noise as sd_noise

    def unseeded_noise(pipeline, params, batch, loaded):  # ignores the seed: a broken, random run
        shape = (len(batch.seeds), 4, params.height // 8, params.width // 8)
        generators = [torch.Generator().manual_seed(seed) for seed in batch.seeds]
        return torch.randn(shape).to(device=loaded.device, dtype=loaded.dtype), generators

    monkeypatch.setattr(sd_noise, "initial_noise", unseeded_noise)
    json_file = tmp_path / "bench.json"
    result = run_sdkit(capsys, "benchmark", "--model", tiny_sd1, *ONE_CELL, "--repeats", "2", "--no-baseline",
                       "--warmup", "1", "--json", json_file)
    assert result.exit_code == 0, result.output
    assert "sdkit images differ between repeats" in result.stdout
    assert "first run: sdkit" in result.stdout
    assert "flagged" in result.stderr
    (cell,) = json.loads(json_file.read_text())["cells"]
    assert cell["sides"]["sdkit"]["images_identical"] is False
    assert len(cell["sides"]["sdkit"]["warmup_s"]) == 1  # timed apart from the repeats
    assert cell["flags"] == ["sdkit images differ between repeats"]
    assert cell["ratio_vs_diffusers"] is None


def _side(name, seconds, cpu=None, unet=None):
    unet = unet or [0.0] * len(seconds)
    return SideResult(name, seconds=seconds, cpu_seconds=cpu or seconds, unet_seconds=unet,
                      vae_seconds=[0.0] * len(seconds), image_hashes=["a"] * len(seconds))


def _cell(sdkit, diffusers):
    return CellResult(BenchCell("euler_a", 20, 512, 512, 1), {"sdkit": sdkit, "diffusers": diffusers})


def test_ratio_over_target_is_flagged():
    slow = _cell(_side("sdkit", [1.05, 1.1, 9.0]), _side("diffusers", [1.0, 1.0, 1.0]))  # medians: one spike no
    assert slow.ratio == pytest.approx(1.1) and slow.cpu_ratio == pytest.approx(1.1)
    assert slow.extra_seconds == pytest.approx(0.1) and slow.model_adjusted_ratio == pytest.approx(1.1)
    assert slow.flags == [f"sdkit is 1.100x plain diffusers (target <= {RATIO_TARGET})"]
    assert _cell(_side("sdkit", [1.01, 0.99]), _side("diffusers", [1.0, 1.0])).flags == []
    # Wall time over target but CPU time not: the machine was busy, sdkit did no extra work.
    busy = _cell(_side("sdkit", [1.1, 1.1], cpu=[0.8, 0.8]), _side("diffusers", [1.0, 1.0], cpu=[0.8, 0.81]))
    assert busy.cpu_ratio < 1 and busy.flags == []
    # Slower only inside the UNet (the same computation on both sides): load noise, not sdkit's work.
    noisy_unet = _cell(_side("sdkit", [1.2, 1.2], unet=[1.0, 1.0]), _side("diffusers", [1.0, 1.0], unet=[0.8, 0.8]))
    assert noisy_unet.ratio == pytest.approx(1.2) and noisy_unet.extra_seconds == pytest.approx(0.0)
    assert noisy_unet.flags == []


@pytest.mark.parametrize(("args", "message"), [
    (("--steps", "ten"), "--steps: 'ten' is not a whole number"),
    (("--sizes", "big"), "--sizes: 'big' is not a size"),
    (("--batch-sizes", "0"), "--batch-sizes: 0 is below 1"),
    (("--repeats", "0"), "--repeats must be at least 1"),
    (("--no-matrix",), "nothing to do"),
])
def test_bad_options_are_user_errors(capsys, args, message):
    result = run_sdkit(capsys, "benchmark", *args)
    assert result.exit_code == 2
    assert message in result.stderr and "hint:" in result.stderr


def test_startup_timing_returns_numbers():
    timings = time_startup(runs=2, names=["python -c pass", "sdkit --help"])
    assert [timing.name for timing in timings] == ["python -c pass", "sdkit --help"]
    for timing in timings:
        data = timing.describe()
        assert data["runs"] == 2 and 0 < data["min_s"] <= data["median_s"] <= data["max_s"]


def test_the_benchmark_command_module_is_light():
    code = ("import sys, sdkit.cli.benchmark, sdkit.bench; "
            "print(sorted(m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules))")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == "[]"


@pytest.mark.parametrize(("load", "threads", "noted"), [(9.0, (), True), (9.0, ("--threads", "1"), False),
                                                        (0.2, (), False)])
def test_a_busy_machine_gets_the_threads_note(capsys, monkeypatch, tmp_path, load, threads, noted):
    import os

    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    # A model that does not exist stops the run right after the note, before anything is loaded.
    result = run_sdkit(capsys, "benchmark", "--model", tmp_path / "no-such-model", *threads)
    assert result.exit_code == 2
    assert ("--threads 1 is often much faster" in result.stderr) is noted
