"""Startup time of whole processes: `sdkit --help`, `sdkit presets list` against `python -c "import diffusers"`."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class StartupTiming:
    name: str
    command: tuple[str, ...]
    seconds: tuple[float, ...]

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "command": list(self.command), "median_s": statistics.median(self.seconds),
                "min_s": min(self.seconds), "max_s": max(self.seconds), "runs": len(self.seconds)}


def startup_commands(python: str | None = None) -> dict[str, tuple[str, ...]]:
    """The commands timed, keyed by what a reader sees; the `sdkit` script beside Python when installed."""
    python = python or sys.executable
    script = Path(python).with_name("sdkit")
    sdkit = (str(script),) if script.is_file() else (python, "-m", "sdkit")
    return {
        "python -c pass": (python, "-c", "pass"),
        "sdkit --help": (*sdkit, "--help"),
        "sdkit presets list": (*sdkit, "presets", "list"),
        "python -c 'import diffusers'": (python, "-c", "import diffusers"),
    }


def time_startup(runs: int = 5, names: Sequence[str] | None = None, python: str | None = None) -> list[StartupTiming]:
    """Run each command `runs` times, round-robin so that changing machine load hits all alike."""
    commands = startup_commands(python)
    chosen = {name: commands[name] for name in (names or commands)}
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_COLOR": "1"}
    seconds: dict[str, list[float]] = {name: [] for name in chosen}
    for _ in range(max(1, runs)):
        for name, command in chosen.items():
            started = time.perf_counter()
            completed = subprocess.run(command, capture_output=True, env=env, check=False)
            elapsed = time.perf_counter() - started
            if completed.returncode != 0:
                from sdkit.core.errors import RuntimeFailure

                raise RuntimeFailure(f"{name!r} failed with exit code {completed.returncode}: "
                                     f"{completed.stderr.decode(errors='replace').strip()[-300:]}",
                                     "run the command by hand to see why")
            seconds[name].append(elapsed)
    return [StartupTiming(name, chosen[name], tuple(values)) for name, values in seconds.items()]
