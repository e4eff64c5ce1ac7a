"""Run the sdkit CLI in-process or as a real process, and capture what a user would see."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_sdkit(capsys, *args: str) -> CliResult:
    """Call `sdkit ARGS` in this process (fast); `capsys` is pytest's fixture."""
    from sdkit.cli.app import main

    capsys.readouterr()
    try:
        main([str(arg) for arg in args])
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    captured = capsys.readouterr()
    return CliResult(code, captured.out, captured.err)


def run_sdkit_process(*args: str, env: dict[str, str] | None = None, cwd: str | None = None,
                      timeout: float = 300) -> CliResult:
    """Run `python -m sdkit ARGS` as a separate process (for startup, sys.modules and signal tests)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    completed = subprocess.run(
        [sys.executable, "-m", "sdkit", *map(str, args)],
        capture_output=True, text=True, env=full_env, cwd=cwd, timeout=timeout,
    )
    return CliResult(completed.returncode, completed.stdout, completed.stderr)


def generate_images(capsys, out, *args: str, prompt: str = "a red circle on a blue background") -> list[tuple]:
    """`sdkit generate` on the demo model at 64², CFG 3, 4 steps, seed 9 (ARGS override them), into `out`:
    (RGB array, infotext fields, path) of each image made, in order."""
    import json
    from pathlib import Path

    import numpy as np
    from PIL import Image

    from sdkit.outputs.infotext import parse_infotext

    result = run_sdkit(capsys, "generate", "--prompt", prompt, "-W", "64", "-H", "64", "--cfg-scale", "3",
                       "--steps", "4", "--seed", "9", "--output-dir", str(out), *args, "--json")
    assert result.exit_code == 0, result.output
    made = []
    for image in json.loads(result.stdout)["images"]:
        with Image.open(image["path"]) as png:
            made.append((np.asarray(png.convert("RGB")), parse_infotext(png.text["parameters"]).fields,
                         Path(image["path"])))
    return made
