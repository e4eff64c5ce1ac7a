"""Stopping a run: finished images stay, no partial file is left, and the exit code is 130."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from sdkit.core.errors import Interrupted
from sdkit.run.execute import execute
from sdkit.run.plan import make_plan


class StopDuringSecondImage:
    def __init__(self) -> None:
        self.current = 0

    def image_started(self, index: int, total: int, steps: int) -> None:
        self.current = index

    def step_finished(self, index: int, step: int, steps: int) -> None:
        pass

    def should_stop(self) -> bool:
        return self.current >= 1


def test_stop_keeps_finished_images_and_leaves_no_partial_file(tmp_path, tiny_pipeline_dir):
    plan = make_plan(model=str(tiny_pipeline_dir("sd1")),
                     flags={"steps": 3, "seed": 1, "batch_count": 3, "width": 64, "height": 64})
    saved = []
    with pytest.raises(Interrupted):
        execute(plan, StopDuringSecondImage(), output_dir=tmp_path / "out", on_saved=saved.append)
    assert [path.name for path in sorted((tmp_path / "out").iterdir())] == ["00000-1.png"]
    assert [image.seed for image in saved] == [1]


def test_sigterm_stops_the_process_with_exit_130(tmp_path, tiny_pipeline_dir):
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        [sys.executable, "-m", "sdkit", "generate", "--model", str(tiny_pipeline_dir("sd1")), "--steps", "4",
         "--seed", "5", "--batch-count", "400", "--width", "64", "--height", "64", "--output-dir", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    deadline = time.monotonic() + 120
    while not list(out.glob("*.png")) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    made = sorted(out.glob("*"))
    assert made and len(made) < 400
    assert all(path.suffix == ".png" and not path.name.startswith(".") for path in made)
    assert "Traceback" not in stderr
