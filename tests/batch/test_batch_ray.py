"""`sdkit batch --executor ray` on a real local Ray instance, inside a private network namespace.

Ray tries to reach cloud-metadata and public DNS addresses when it starts, so Ray runs only inside
`unshare --net` with nothing but loopback: there every other connection fails at once, without
leaving the machine. Where that namespace cannot be made (not root), these tests are skipped, except
under CI, where they fail. One scenario script (`ray_scenario.py`) starts Ray once and runs every
Ray case; meanwhile this process makes the same job file with the local executor, to compare bytes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import run_sdkit

from sdkit.batch.manifest import Manifest

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE.parents[1] / "examples" / "batch" / "sweep.yaml"
IMAGES = 16
SUBSET = 8  # the scenario's killed and stopped runs: seeds 1-2 of the same jobs
# Runs a command in a fresh network namespace whose only interface is loopback.
IN_PRIVATE_NETWORK = ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$0" "$@"']


def _namespace_problem() -> str | None:
    """Why a loopback-only network namespace cannot be made here, or None."""
    if os.geteuid() != 0:
        return "not root: a private network namespace (unshare --net) needs root"
    missing = [tool for tool in ("unshare", "ip") if shutil.which(tool) is None]
    if missing:
        return f"{' and '.join(missing)} not installed (util-linux, iproute2)"
    try:
        made = subprocess.run([*IN_PRIVATE_NETWORK, "true"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"unshare --net failed: {error}"
    return None if made.returncode == 0 else f"unshare --net failed: {made.stderr.strip()[:300]}"


def _jobs(work: Path) -> Path:
    """16 images over two models (the demo model and a copy), two samplers, dynamic prompts."""
    from sdkit.demo import DEMO_MODEL_DIR

    other = work / "other-model"
    shutil.copytree(DEMO_MODEL_DIR, other)
    size = "  sampler: [Euler a, DPM++ 2M]\n  steps: 2\n  width: 64\n  height: 64\n  seed: 1-4\n"
    jobs = work / "jobs.yaml"
    jobs.write_text(f"- prompt: a {{red|blue}} square\n{size}"
                    f"- prompt: a {{green|white}} circle\n  model: {other}\n{size}", encoding="utf-8")
    return jobs


@pytest.fixture(scope="module")
def ray_run(tmp_path_factory):
    problem = _namespace_problem()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"the Ray tests must run in CI, but {problem}")
        pytest.skip(problem)
    work = tmp_path_factory.mktemp("ray")
    jobs = _jobs(work)
    home = work / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "SDKIT_HOME": str(work / "sdkit-home"),
           "SDKIT_MODELS_DIR": str(work / "models")}
    scenario = subprocess.Popen([*IN_PRIVATE_NETWORK, sys.executable, str(HERE / "ray_scenario.py"), str(work)],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        with pytest.MonkeyPatch.context() as patch:  # the local reference, while Ray starts
            patch.setenv("SDKIT_HOME", str(work / "local-home"))
            patch.setenv("SDKIT_MODELS_DIR", str(work / "models"))
            from sdkit.batch.runner import prepare, run_batch
            from sdkit.run.events import NullEvents

            local = run_batch(prepare(jobs, {}), work / "local", NullEvents())
        output, _ = scenario.communicate(timeout=600)
    finally:
        if scenario.poll() is None:
            scenario.kill()
            scenario.communicate()
    assert scenario.returncode == 0 and (work / "results.json").exists(), output[-5000:]
    assert local.done == IMAGES
    results = json.loads((work / "results.json").read_text(encoding="utf-8"))
    return work, results


def _manifest(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]


def _files_by_key(folder: Path) -> dict[str, bytes]:
    return {line["key"]: (folder / line["file"]).read_bytes() for line in _manifest(folder) if line["status"] == "done"}


def _assert_same_as_local(work: Path, folder: Path) -> None:
    """Every image in `folder` is the local run's image of the same key, byte for byte."""
    made, local = _files_by_key(folder), _files_by_key(work / "local")
    assert len(made) == SUBSET and set(made) <= set(local)
    assert all(made[key] == local[key] for key in made)


def test_two_ray_workers_make_the_local_executors_files_byte_for_byte(ray_run):
    work, results = ray_run
    summary = results["ray"]
    assert (summary["executor"], summary["done"], summary["failed"], summary["worker_deaths"]) == ("ray", IMAGES, 0, 0)
    assert [worker["alive"] for worker in summary["workers"]] == [True, True]
    assert sum(worker["images"] for worker in summary["workers"]) == IMAGES
    assert all(worker["pid"] and worker["node"] == "127.0.0.1" for worker in summary["workers"])
    local = _files_by_key(work / "local")
    assert len(local) == IMAGES
    assert _files_by_key(work / "ray") == local  # same keys, same bytes: pixels, infotext and all


def test_a_killed_worker_is_replaced_and_every_image_is_made_exactly_once(ray_run):
    work, results = ray_run
    summary, killed = results["killed_run"], results["killed_worker"]
    assert (summary["done"], summary["failed"], summary["worker_deaths"]) == (SUBSET, 0, 1)
    assert summary["requeued"] >= 1  # what the killed worker held went to another worker
    dead = next(worker for worker in summary["workers"] if worker["pid"] == killed["pid"])
    assert not dead["alive"] and "died" in dead["death"].lower()
    assert len(summary["workers"]) == 3  # a replacement was started
    lines = _manifest(work / "killed")
    assert [line["status"] for line in lines] == ["done"] * SUBSET
    assert len({line["key"] for line in lines}) == SUBSET  # each image exactly once
    assert sorted(path.name for path in (work / "killed").glob("*.png")) == sorted(line["file"] for line in lines)
    _assert_same_as_local(work, work / "killed")


def test_ctrl_c_on_the_driver_exits_130_and_a_rerun_resumes(ray_run):
    work, results = ray_run
    cli = results["cli"]
    assert cli["signalled"] and cli["returncode"] == 130, cli["stderr"]
    assert "stopped by the user" in cli["stderr"] and "run the same command again" in cli["stderr"]
    stopped = cli["lines_after_stop"]
    assert 1 <= len(stopped) < SUBSET and all(line["status"] == "done" for line in stopped)
    resumed = results["resumed"]
    assert (resumed["skipped"], resumed["done"], resumed["failed"]) == (len(stopped), SUBSET - len(stopped), 0)
    folder = work / "stopped"
    assert len(Manifest(folder).done()) == SUBSET and len(list(folder.glob("*.png"))) == SUBSET
    assert not list(folder.glob(".sdkit-*"))  # no partial file left by the stop
    _assert_same_as_local(work, folder)


def test_ray_leaves_nothing_in_the_home_folder(ray_run):
    work, results = ray_run
    # No ~/.ray (Ray's auth token, its usage-stats config) or other Ray files. (Other libraries' files,
    # such as OpenVINO's ~/intel telemetry folder, are not this test's business.)
    assert [path.name for path in (work / "home").iterdir() if "ray" in path.name.lower()] == []
    assert results["ray_temp_dir"] and not results["ray_temp_dir_left"]  # its session folder is removed


def test_without_ray_the_message_says_how_to_install_it(capsys, tmp_path, monkeypatch):
    import importlib.util

    real_find_spec = importlib.util.find_spec

    def find_spec(name, *rest):  # as if Ray were not installed
        return None if name == "ray" else real_find_spec(name, *rest)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    result = run_sdkit(capsys, "batch", EXAMPLE, "--output-dir", tmp_path / "run", "--executor", "ray")
    assert result.exit_code == 2, result.output
    assert "pip install 'sdkit-cli[ray]'" in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(("flags", "message"), [
    (["--workers", "2"], "--workers applies to Ray runs only"),
    (["--address", "auto"], "--address applies to Ray runs only"),
    (["--executor", "rey"], "did you mean 'ray'"),
    (["--executor", "ray", "--workers", "0"], "--workers 0"),
    (["--executor", "ray", "--cpus-per-worker", "0"], "--cpus-per-worker 0"),
    (["--executor", "ray", "--gpus-per-worker", "-1"], "--gpus-per-worker -1"),
    (["--executor", "ray", "--address", " "], "address is empty"),
])
def test_executor_flags_are_checked_before_anything_runs(capsys, tmp_path, flags, message):
    result = run_sdkit(capsys, "batch", EXAMPLE, "--output-dir", tmp_path / "run", *flags)
    assert result.exit_code == 2, result.output
    assert message in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "run").exists()
