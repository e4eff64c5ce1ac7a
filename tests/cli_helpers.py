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
