"""The Ray scenarios of test_batch_ray.py, run as one script inside a private network namespace.

`python ray_scenario.py WORK` starts one local Ray instance through sdkit's own executor and, on it:
1. a real `sdkit batch --executor ray --address <this instance>` process on seeds 1-2 (8 of the 16
   images), stopped with SIGINT once its first image is in the manifest (it must exit 130);
2. the 16-image job file on 2 workers, into WORK/ray;
3. seeds 1-2 again into WORK/killed, with one worker's process killed (SIGKILL) after the first image;
4. the stopped run of (1) resumed, into WORK/stopped.
The 8-image runs are a subset of the 16 (same keys), so every file can be compared with the local run.
It writes what it saw to WORK/results.json; the test asserts on that and on the files. Never run it
outside a network namespace: Ray tries to reach the network when it starts.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sdkit.batch.ray_executor import RayExecutor, RayOptions
from sdkit.batch.runner import prepare, run_batch
from sdkit.run.events import NullEvents

SUBSET_SEEDS = "1-2"


def _manifest_lines(folder: Path) -> list[dict]:
    try:
        text = (folder / "manifest.jsonl").read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines() if line.endswith("}")]


def _stopped_cli_run(jobs: Path, folder: Path, address: str) -> dict:
    """A real driver process, sent SIGINT (Ctrl-C) once it has finished its first image."""
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, "-m", "sdkit", "batch", str(jobs), "--output-dir", str(folder),
                                "--executor", "ray", "--address", address, "--workers", "1", "--seed", SUBSET_SEEDS],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while time.monotonic() - started < 180 and process.poll() is None and not _manifest_lines(folder):
        time.sleep(0.02)
    signalled = process.poll() is None
    if signalled:
        process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    return {"returncode": process.returncode, "signalled": signalled, "stdout": stdout[-3000:],
            "stderr": stderr[-3000:], "lines_after_stop": _manifest_lines(folder),
            "seconds": time.monotonic() - started}


def main(work: Path) -> None:
    jobs = work / "jobs.yaml"
    results: dict = {"timings": {}}
    began = time.monotonic()
    executor = RayExecutor(RayOptions(workers=2))
    with executor:
        results["timings"]["ray_start"] = time.monotonic() - began
        results["ray_temp_dir"] = executor.cluster.temp_dir
        results["cli"] = _stopped_cli_run(jobs, work / "stopped", executor.cluster.address)
        results["timings"]["cli"] = time.monotonic() - began

        batch = prepare(jobs, {})
        results["ray"] = run_batch(batch, work / "ray", NullEvents(), executor=executor).describe()
        results["timings"]["ray_run"] = time.monotonic() - began

        killed: dict = {}

        def kill_a_worker(summary, item, status) -> None:
            if status == "done" and not killed:
                victim = next(worker for worker in summary.workers if worker["alive"] and worker["pid"])
                killed.update(victim)
                os.kill(victim["pid"], signal.SIGKILL)

        subset = prepare(jobs, {"seed": SUBSET_SEEDS})
        results["killed_run"] = run_batch(subset, work / "killed", NullEvents(), executor=executor,
                                          on_progress=kill_a_worker).describe()
        results["killed_worker"] = killed
        results["timings"]["killed_run"] = time.monotonic() - began

        results["resumed"] = run_batch(subset, work / "stopped", NullEvents(), executor=executor).describe()
        results["timings"]["resumed"] = time.monotonic() - began
    results["ray_temp_dir_left"] = bool(results["ray_temp_dir"]) and os.path.exists(results["ray_temp_dir"])
    results["timings"]["closed"] = time.monotonic() - began
    (work / "results.json").write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
