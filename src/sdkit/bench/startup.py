"""Startup time of whole processes: `sdkit --help`, `sdkit presets list` against `python -c "import diffusers"`.

With `every_command`, also each other command that does not generate (`CLI_COMMANDS`), the set the
"instant command line" target (<= 0.25 s each on a 2-core machine) is about. Each run records its wall
time and the CPU time the process used (user + system), which a busy machine inflates far less.
"""

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
    cpu_seconds: tuple[float, ...] = ()  # user + system time of each run's process

    def describe(self) -> dict[str, Any]:
        described = {"name": self.name, "command": list(self.command), "median_s": statistics.median(self.seconds),
                     "min_s": min(self.seconds), "max_s": max(self.seconds), "runs": len(self.seconds)}
        if self.cpu_seconds:
            described["cpu_median_s"] = statistics.median(self.cpu_seconds)
        return described


# The other commands that do not generate, after `sdkit --help` and `sdkit presets list`; `{png}` is a
# PNG with A1111 parameters written for the run.
CLI_COMMANDS: dict[str, tuple[str, ...]] = {
    "sdkit --version": ("--version",),
    "sdkit presets list --json": ("presets", "list", "--json"),
    "sdkit presets show txt2img/basic": ("presets", "show", "txt2img/basic"),
    "sdkit presets validate txt2img/basic": ("presets", "validate", "txt2img/basic"),
    "sdkit presets schema": ("presets", "schema"),
    "sdkit samplers list": ("samplers", "list"),
    "sdkit models list": ("models", "list"),
    "sdkit plugins list": ("plugins", "list"),
    "sdkit inspect image.png": ("inspect", "{png}"),
    "sdkit prompt --help": ("prompt", "--help"),
    "sdkit prompt 'a (cat:1.2)'": ("prompt", "a (cat:1.2)"),
}


def _write_png(folder: Path) -> Path:
    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a cat\nNegative prompt: a dog\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, "
                                "Size: 8x8, Model: demo")
    path = folder / "image.png"
    Image.new("RGB", (8, 8)).save(path, pnginfo=info)
    return path


def startup_commands(python: str | None = None, every_command: bool = False,
                     png: str = "image.png") -> dict[str, tuple[str, ...]]:
    """The commands timed, keyed by what a reader sees; the `sdkit` script beside Python when installed."""
    python = python or sys.executable
    script = Path(python).with_name("sdkit")
    sdkit = (str(script),) if script.is_file() else (python, "-m", "sdkit")
    commands = {
        "python -c pass": (python, "-c", "pass"),
        "sdkit --help": (*sdkit, "--help"),
        "sdkit presets list": (*sdkit, "presets", "list"),
    }
    if every_command:
        commands.update({name: (*sdkit, *(png if part == "{png}" else part for part in arguments))
                         for name, arguments in CLI_COMMANDS.items()})
    commands["python -c 'import diffusers'"] = (python, "-c", "import diffusers")
    return commands


def time_startup(runs: int = 5, names: Sequence[str] | None = None, python: str | None = None,
                 every_command: bool = False) -> list[StartupTiming]:
    """Run each command `runs` times, round-robin so that changing machine load hits all alike."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="sdkit-startup-") as folder:
        png = str(_write_png(Path(folder))) if every_command else "image.png"
        return _time_commands(startup_commands(python, every_command, png), runs, names)


def _children_cpu_seconds() -> float:
    """CPU time (user + system) of the finished child processes so far; 0 where the OS cannot say."""
    try:
        import resource
    except ImportError:  # Windows
        return 0.0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _time_commands(commands: dict[str, tuple[str, ...]], runs: int, names: Sequence[str] | None) -> list[StartupTiming]:
    chosen = {name: commands[name] for name in (names or commands)}
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_COLOR": "1"}
    seconds: dict[str, list[float]] = {name: [] for name in chosen}
    cpu_seconds: dict[str, list[float]] = {name: [] for name in chosen}
    for _ in range(max(1, runs)):
        for name, command in chosen.items():
            cpu_before = _children_cpu_seconds()
            started = time.perf_counter()
            completed = subprocess.run(command, capture_output=True, env=env, check=False)
            elapsed = time.perf_counter() - started
            cpu_seconds[name].append(_children_cpu_seconds() - cpu_before)
            if completed.returncode != 0:
                from sdkit.core.errors import RuntimeFailure

                raise RuntimeFailure(f"{name!r} failed with exit code {completed.returncode}: "
                                     f"{completed.stderr.decode(errors='replace').strip()[-300:]}",
                                     "run the command by hand to see why")
            seconds[name].append(elapsed)
    return [StartupTiming(name, chosen[name], tuple(values), tuple(cpu_seconds[name]))
            for name, values in seconds.items()]
