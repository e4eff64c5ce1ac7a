"""Ctrl-C and SIGTERM before any image exists: the run ends at once, exit 130, with a message and a log entry.

These run sdkit as a real process and signal it, as a terminal or a process manager would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


def start(*args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "sdkit", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def wait_for_line(process: subprocess.Popen, words: str) -> list[str]:
    """stderr lines up to the first that holds `words` (or to the end, if the process ends first)."""
    lines = []
    while True:
        line = process.stderr.readline()
        lines.append(line)
        if words in line or not line:
            return lines


def catches_sigterm(pid: int) -> bool:
    """Whether the process has a handler for SIGTERM (the caught-signals mask in /proc)."""
    status = Path(f"/proc/{pid}/status").read_text()
    caught = int(next(line for line in status.splitlines() if line.startswith("SigCgt:")).split()[1], 16)
    return bool(caught & (1 << (signal.SIGTERM - 1)))


@pytest.mark.parametrize("signals", [[signal.SIGTERM], [signal.SIGINT, signal.SIGINT]],
                         ids=["sigterm", "two-ctrl-c"])
def test_a_stop_while_the_model_loads_ends_the_run_at_once(tmp_path, sdkit_home, tiny_pipeline_dir, signals):
    out = tmp_path / "out"
    process = start("--verbose", "generate", "--prompt", "a fox", "--model", str(tiny_pipeline_dir("sd1")),
                    "--steps", "2", "--width", "64", "--height", "64", "--output-dir", str(out))
    before = wait_for_line(process, "loading tiny-sd1 (diffusers")  # the engine has begun to load
    assert process.poll() is None, "".join(before)
    sent = time.monotonic()
    for number in signals:
        process.send_signal(number)
        time.sleep(0.05)
    _, stderr = process.communicate(timeout=60)
    took = time.monotonic() - sent
    assert process.returncode == 130, stderr
    # "While loading" in the message shows where the stop landed; the time, that it did not wait for the
    # load to end (6-15 s alone, longer beside another test worker): 8 s leaves room for a busy machine.
    assert took < 8, f"the stop took {took:.1f}s"
    name = signal.Signals(signals[0]).name
    assert f"stopped by {name} while loading the model; nothing was made" in stderr
    assert "Traceback" not in stderr
    assert not out.exists() or list(out.iterdir()) == []
    log_text = (sdkit_home / "logs" / "sdkit.log").read_text()
    assert "Interrupted: stopped by" in log_text


def test_sigterm_during_startup_is_a_stop_not_a_kill(sdkit_home):
    process = start("--version")
    deadline = time.monotonic() + 30
    while not catches_sigterm(process.pid):  # the first moment a handler exists
        assert process.poll() is None and time.monotonic() < deadline, "sdkit never handled SIGTERM"
        time.sleep(0.001)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, (process.returncode, stderr)
    assert "interrupted" in stderr and "Traceback" not in stderr and stdout == ""
