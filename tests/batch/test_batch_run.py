"""Batch runs on the bundled demo model: one load for many jobs, resume, stop, failures recorded."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_helpers import run_sdkit

from sdkit.batch.manifest import Manifest
from sdkit.batch.runner import prepare, run_batch
from sdkit.core.errors import Interrupted
from sdkit.run import execute as execute_module
from sdkit.run.events import NullEvents

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "batch" / "sweep.yaml"


def _manifest(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]


def _files_by_key(folder: Path) -> dict[str, bytes]:
    return {line["key"]: (folder / line["file"]).read_bytes() for line in _manifest(folder) if line["status"] == "done"}


def test_example_sweep_loads_the_model_once_and_a_rerun_skips_everything(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(execute_module, "_loaded_models", {})  # count this run's loads only
    run = tmp_path / "run"
    first = run_sdkit(capsys, "batch", EXAMPLE, "--output-dir", run, "--json")
    assert first.exit_code == 0, first.output
    result = json.loads(first.stdout)
    assert (result["done"], result["skipped"], result["failed"]) == (4, 0, 0)
    assert len(execute_module._loaded_models) == 1  # four jobs, one model load
    lines = _manifest(run)
    assert [line["status"] for line in lines] == ["done"] * 4
    assert {(line["params"]["sampler"], line["params"]["cfg_scale"]) for line in lines} == {
        (s, c) for s in ("Euler a", "DPM++ 2M") for c in (2, 5)}
    from PIL import Image

    for line in lines:
        with Image.open(run / line["file"]) as image:
            assert image.size == (64, 64)
            assert f"Sampler: {line['params']['sampler']}" in image.info["parameters"]
            assert line["params"]["prompt"] in image.info["parameters"]
    _check_grid(run, lines, result["grids"])
    again = run_sdkit(capsys, "batch", EXAMPLE, "--output-dir", run)
    assert again.exit_code == 0, again.output
    assert "0 made, 4 skipped" in again.stderr
    assert len(list(run.glob("0*.png"))) == 4 and len(list(run.glob("grid-*.png"))) == 1  # nothing new: no new grid
    restarted = run_sdkit(capsys, "batch", EXAMPLE, "--output-dir", run, "--restart", "--json")
    assert json.loads(restarted.stdout)["done"] == 4
    assert len(list(run.glob("0*.png"))) == 8 and len(list(run.glob("grid-*.png"))) == 2  # nothing overwritten


def _check_grid(run: Path, lines: list[dict], grids: list[str]) -> None:
    """The example's grid: samplers across, CFG scales down, each cell the very image, labels drawn."""
    from PIL import Image

    assert len(grids) == 1 and Path(grids[0]).parent == run
    with Image.open(grids[0]) as opened:
        grid = opened.convert("RGB")
        info = opened.info
    layout = json.loads(info["sdkit-grid"])
    assert layout["columns"] == ["Euler a", "DPM++ 2M"] and layout["rows"] == [2, 5]
    assert 'X Type: sampler, X Values: "Euler a, DPM++ 2M", Y Type: cfg_scale, Y Values: "2, 5"' in info["parameters"]
    column_width, left, top = layout["column_width"], layout["left"], layout["top"]
    assert layout["cell"] == [64, 64] and left > 0 and top > 0 and column_width >= 64
    assert grid.size[0] >= left + 2 * column_width and grid.size[1] > top + 2 * 64  # the legend below
    for line in lines:
        column = layout["columns"].index(line["params"]["sampler"])
        row = layout["rows"].index(line["params"]["cfg_scale"])
        x, y = left + column * column_width + (column_width - 64) // 2, top + row * 64
        with Image.open(run / line["file"]) as image:
            assert grid.crop((x, y, x + 64, y + 64)).tobytes() == image.convert("RGB").tobytes()

    def has_text(box: tuple[int, int, int, int]) -> bool:
        return min(grid.crop(box).convert("L").getdata()) < 100  # dark label pixels on the white margin

    for column in range(2):  # a label above each column, one left of each row
        assert has_text((left + column * column_width, 0, left + (column + 1) * column_width, top))
    for row in range(2):
        assert has_text((0, top + row * 64, left, top + (row + 1) * 64))
    assert not has_text((0, 0, left, top))  # the corner stays empty


class StopAfter(NullEvents):
    """Asks to stop once `images` images have started and the next one is being drawn (like a Ctrl-C)."""

    def __init__(self, images: int) -> None:
        self.started = 0
        self.images = images

    def image_started(self, index: int, total: int, steps: int) -> None:
        self.started += 1

    def should_stop(self) -> bool:
        return self.started > self.images


def test_a_stopped_run_resumes_to_the_files_of_an_uninterrupted_one(tmp_path):
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text("- prompt: a {red|blue|green} square\n  sampler: Euler\n  steps: 2\n  width: 64\n  height: 64\n"
                    "  seed: 3-5\n", encoding="utf-8")
    batch = prepare(jobs, {})
    whole = run_batch(batch, tmp_path / "whole", NullEvents())
    assert whole.done == 3
    with pytest.raises(Interrupted):
        run_batch(batch, tmp_path / "stopped", StopAfter(1))
    assert len(Manifest(tmp_path / "stopped").done()) == 1
    assert len(list((tmp_path / "stopped").glob("*.png"))) == 1  # the unfinished image left nothing behind
    resumed = run_batch(prepare(jobs, {}), tmp_path / "stopped", NullEvents())
    assert (resumed.done, resumed.skipped) == (2, 1)
    assert _files_by_key(tmp_path / "stopped") == _files_by_key(tmp_path / "whole")


def test_a_failed_job_is_recorded_and_the_run_goes_on(capsys, tmp_path):
    # A model whose weights are damaged passes planning (its folder is sound) and fails to load.
    from sdkit.demo import DEMO_MODEL_DIR

    broken = tmp_path / "broken-model"
    shutil.copytree(DEMO_MODEL_DIR, broken)
    weights = broken / "unet" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:4096])
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text(f"- prompt: a\n  model: {broken}\n  steps: 2\n  width: 64\n  height: 64\n  seed: 1\n"
                    "- prompt: b\n  steps: 2\n  width: 64\n  height: 64\n  seed: 2\n", encoding="utf-8")
    result = run_sdkit(capsys, "batch", jobs, "--output-dir", tmp_path / "run")
    assert result.exit_code == 1, result.output
    assert "1 of 2 image(s) failed" in result.stderr and "failed: jobs.yaml job 1" in result.stderr
    lines = _manifest(tmp_path / "run")
    assert {line["job"]: line["status"] for line in lines} == {"jobs.yaml job 1": "failed", "jobs.yaml job 2": "done"}
    assert next(line for line in lines if line["status"] == "failed")["error"]
    again = run_sdkit(capsys, "batch", jobs, "--output-dir", tmp_path / "run", "--json")
    assert json.loads(again.stdout)["skipped"] == 1 and json.loads(again.stdout)["failed"] == 1  # retried, not skipped
    # --fail-fast: nothing after the first failure (the broken model's job runs first: jobs sort by model).
    fast = run_sdkit(capsys, "batch", jobs, "--output-dir", tmp_path / "fast", "--fail-fast", "--json")
    assert fast.exit_code == 2 and "--fail-fast" in fast.stderr  # 2: the damaged file is the user's input
    statuses = [line["status"] for line in _manifest(tmp_path / "fast")]
    assert statuses[-1] == "failed" and len(statuses) == statuses.index("failed") + 1


def test_a_broken_input_image_fails_the_plan(capsys, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_text("not a png", encoding="utf-8")
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text(f"- prompt: a\n  image: {broken}\n  strength: 0.5\n  steps: 2\n  width: 64\n  height: 64\n"
                    "  seed: 1\n", encoding="utf-8")
    result = run_sdkit(capsys, "batch", jobs, "--dry-run")
    assert result.exit_code == 2 and "cannot run" in result.stderr and "broken.png" in result.stderr


def test_sigterm_mid_run_exits_130_and_the_resumed_run_matches_an_uninterrupted_one(tmp_path):
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text("- prompt: a {red|blue} square\n  sampler: Euler\n  steps: 3\n  width: 64\n  height: 64\n"
                    "  seed: 1-8\n", encoding="utf-8")
    run = tmp_path / "run"
    process = subprocess.Popen([sys.executable, "-m", "sdkit", "batch", str(jobs), "--output-dir", str(run)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not ((run / "manifest.jsonl").exists() and _manifest(run)):
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    finished = _manifest(run)
    assert 1 <= len(finished) < 8
    assert sorted(path.name for path in run.glob("*.png")) == sorted(line["file"] for line in finished)
    assert not list(run.glob(".sdkit-*"))  # no partial file left
    batch = prepare(jobs, {})
    resumed = run_batch(batch, run, NullEvents())
    assert resumed.skipped == len(finished) and resumed.done == 8 - len(finished)
    run_batch(batch, tmp_path / "whole", NullEvents())
    assert _files_by_key(run) == _files_by_key(tmp_path / "whole")


def test_jobs_are_ordered_by_model_so_each_loads_once(capsys, tmp_path, monkeypatch):
    from sdkit.demo import DEMO_MODEL_DIR

    other = tmp_path / "other-model"
    shutil.copytree(DEMO_MODEL_DIR, other)
    monkeypatch.setattr(execute_module, "_loaded_models", {})
    size = "  width: 64\n  height: 64\n"
    jobs = tmp_path / "jobs.yaml"
    # Alternating models; within one model only sampler, steps, size and prompt change: no reload.
    jobs.write_text(f"- prompt: a\n  steps: 2\n  seed: 1\n{size}"
                    f"- prompt: b\n  model: {other}\n  steps: 2\n  seed: 2\n{size}"
                    "- prompt: c\n  sampler: Euler\n  steps: 3\n  seed: 3\n  width: 72\n  height: 64\n"
                    f"- prompt: d\n  model: {other}\n  sampler: Euler\n  steps: 3\n  seed: 4\n{size}", encoding="utf-8")
    dry = run_sdkit(capsys, "batch", jobs, "--dry-run", "--json")
    assert json.loads(dry.stdout)["loads"] == 2
    result = run_sdkit(capsys, "batch", jobs, "--output-dir", tmp_path / "run")
    assert result.exit_code == 0, result.output
    assert len(execute_module._loaded_models) == 2
    order = [line["params"]["prompt"] for line in _manifest(tmp_path / "run")]
    assert order in (["a", "c", "b", "d"], ["b", "d", "a", "c"])  # grouped by model, file order within


def test_config_wildcards_folder_and_a_jobs_preset(capsys, tmp_path, sdkit_home):
    folder = tmp_path / "my-wildcards"
    folder.mkdir()
    (folder / "animal.txt").write_text("fox\n", encoding="utf-8")
    (sdkit_home / "config").mkdir(parents=True, exist_ok=True)
    (sdkit_home / "config" / "config.yaml").write_text(f"wildcards_dir: {folder}\n", encoding="utf-8")
    elsewhere = tmp_path / "jobs"
    elsewhere.mkdir()
    jobs = elsewhere / "jobs.jsonl"
    jobs.write_text('{"prompt": "a __animal__", "preset": "txt2img/basic", "seed": 3}\n', encoding="utf-8")
    result = run_sdkit(capsys, "batch", jobs, "--dry-run", "--json", "--steps", "4")
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)["combinations"]
    assert (row["prompt"], row["preset"], row["steps"]) == ("a fox", "txt2img/basic", 4)


def test_a_z_axis_makes_one_grid_per_value(capsys, tmp_path):
    run = tmp_path / "run"
    result = run_sdkit(capsys, "batch", EXAMPLE, "--output-dir", run, "--grid", "x=cfg_scale,z=sampler", "--json")
    assert result.exit_code == 0, result.output
    grids = json.loads(result.stdout)["grids"]
    assert len(grids) == 2
    from PIL import Image

    samplers = set()
    for grid in grids:
        with Image.open(grid) as image:
            layout = json.loads(image.info["sdkit-grid"])
            assert layout["columns"] == [2, 5] and layout["rows"] == [None] and layout["left"] == 0
            assert image.size[0] >= 2 * layout["column_width"] and image.size[1] > layout["top"] + 64  # + legend
            samplers.add(image.info["parameters"].split("Sampler: ")[1].split(",")[0])
    assert samplers == {"Euler a", "DPM++ 2M"}
