"""The launch helpers in tools/: platform detection, overrides, and clear refusals."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_tool(name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {key: value for key, value in os.environ.items() if key != "SDKIT_PLATFORM"}
    full_env.update(env or {})
    return subprocess.run([str(ROOT / "tools" / name), *args], capture_output=True, text=True, env=full_env,
                          timeout=60)


def test_platform_detection_and_override(tmp_path):
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    nvidia_smi = fake_bin / "nvidia-smi"
    nvidia_smi.write_text("#!/bin/sh\nexit 0\n")
    nvidia_smi.chmod(0o755)
    with_nvidia = run_tool("setup", "--print-platform", env={"PATH": f"{fake_bin}:{os.environ['PATH']}"})
    assert with_nvidia.stdout.strip() == "cuda"
    override = run_tool("setup", "--print-platform", env={"SDKIT_PLATFORM": "rocm"})
    assert override.stdout.strip() == "rocm"
    plain = run_tool("setup", "--print-platform", env={"PATH": "/usr/bin:/bin"})
    expected = "cuda" if Path("/dev/nvidia0").exists() else "rocm" if Path("/dev/kfd").exists() else "cpu"
    assert plain.stdout.strip() == expected


def test_bad_platform_and_usage_exit_2():
    bad = run_tool("setup", env={"SDKIT_PLATFORM": "tpu"})
    assert bad.returncode == 2 and "must be cuda, rocm or cpu" in bad.stderr
    assert run_tool("setup", "--bogus").returncode == 2


def test_each_backend_has_a_requirements_file_that_installs_the_project():
    for platform in ("cpu", "cuda", "rocm"):
        text = (ROOT / f"requirements-{platform}.txt").read_text()
        lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
        assert any(line.startswith("torch==") for line in lines)
        assert any(line.startswith("torchvision==") for line in lines)
        assert "-e ." in lines


def test_start_ui_passes_its_flags_to_sdkit_ui():
    result = run_tool("start-ui", "--help")
    assert result.returncode == 0, result.stderr
    assert "Open the web UI" in result.stdout and "--auth" in result.stdout


def test_run_cmd_without_a_command_shows_usage():
    result = run_tool("run-cmd")
    assert result.returncode == 2 and "usage" in result.stderr
