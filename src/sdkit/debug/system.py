"""Facts about the machine for a bug report: OS, CPU, RAM, GPUs, Python, packages, torch and its backends.

Every collector returns plain data and never raises: a fact that cannot be read is recorded with the
reason, because a debug report is most needed on exactly the machines where things are broken. torch is
imported only by `torch_info`, inside a try, and its absence is a fact like any other.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from sdkit.runtime import machine

# Distributions whose versions matter for sdkit bugs (read from metadata, nothing is imported).
VERSIONED_PACKAGES = (
    "sdkit-cli", "torch", "torchvision", "diffusers", "transformers", "accelerate", "safetensors",
    "huggingface-hub", "spandrel", "xformers", "numpy", "Pillow", "pydantic", "typer", "rich",
    "PyYAML", "importlib-metadata", "platformdirs", "nvidia-cudnn-cu12", "pytorch-triton-rocm", "triton",
)

TOOL_TIMEOUT_S = 15


def safely(collector: Callable[[], Any]) -> Any:
    """Run one collector; a failure becomes {"error": ...} instead of stopping the report."""
    try:
        return collector()
    except Exception as error:  # any fact may be unreadable on some machine
        return {"error": f"{type(error).__name__}: {error}"}


def run_tool(args: list[str], timeout: float = TOOL_TIMEOUT_S) -> dict[str, Any]:
    """Output of an external tool, or why there is none."""
    executable = shutil.which(args[0])
    if executable is None:
        return {"available": False}
    try:
        done = subprocess.run([executable, *args[1:]], capture_output=True, text=True, timeout=timeout,
                              check=False)
    except (OSError, subprocess.SubprocessError) as error:
        return {"available": True, "error": f"{type(error).__name__}: {error}"}
    return {"available": True, "command": " ".join(args), "exit_code": done.returncode,
            "output": (done.stdout + done.stderr).strip()}


def os_info() -> dict[str, Any]:
    # platform.node() (the host name) is left out on purpose: it often contains the user's name.
    info: dict[str, Any] = {
        "system": platform.system(),
        "release": platform.release(),
        "version": platform.version(),
        "machine": platform.machine(),
        "platform": platform.platform(),
    }
    os_release = Path("/etc/os-release")
    if os_release.is_file():
        fields = dict(line.split("=", 1) for line in os_release.read_text(errors="replace").splitlines()
                      if "=" in line)
        info["distribution"] = fields.get("PRETTY_NAME", "").strip('"') or None
    if platform.system() == "Darwin":
        info["macos"] = platform.mac_ver()[0]
    if platform.system() == "Windows":
        info["windows"] = platform.win32_ver()[:2]
    return info


def cpu_info() -> dict[str, Any]:
    facts = machine.cpu()
    info: dict[str, Any] = {"model": facts.model, "logical_cores": os.cpu_count(),
                            "physical_cores": facts.physical_cores, "flags": facts.notable_flags}
    if hasattr(os, "sched_getaffinity"):
        info["usable_cores"] = len(os.sched_getaffinity(0))
    return info


def memory_info() -> dict[str, Any]:
    facts = machine.memory()
    return {"total_bytes": facts.total_bytes, "available_bytes": facts.available_bytes,
            "swap_bytes": facts.swap_bytes}


def python_info() -> dict[str, Any]:
    return {
        "version": sys.version,
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "prefix": sys.prefix,
        "virtual_env": sys.prefix != sys.base_prefix,
    }


def package_versions() -> dict[str, str | None]:
    """Installed versions from package metadata (importing diffusers just for a version costs seconds)."""
    versions: dict[str, str | None] = {}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def pip_freeze() -> str:
    """`pip freeze` of the interpreter running sdkit, or a line saying why it is missing."""
    try:
        done = subprocess.run([sys.executable, "-m", "pip", "freeze", "--all"], capture_output=True, text=True,
                              timeout=120, check=False)
    except (OSError, subprocess.SubprocessError) as error:
        return f"# pip freeze failed: {type(error).__name__}: {error}\n"
    if done.returncode != 0:
        return f"# pip freeze exited with {done.returncode}:\n{done.stderr}"
    return done.stdout


def torch_info() -> dict[str, Any]:
    """torch's own view: version, CUDA/ROCm builds, devices. `importable: False` when torch is missing."""
    try:
        import torch
    except Exception as error:  # ImportError, or a broken CUDA library raising OSError
        return {"importable": False, "error": f"{type(error).__name__}: {error}"}
    info: dict[str, Any] = {
        "importable": True,
        "version": torch.__version__,
        "cuda_build": torch.version.cuda,
        "rocm_build": getattr(torch.version, "hip", None),
        "cudnn": safely(lambda: torch.backends.cudnn.version()),
        "cpu_capability": safely(lambda: torch.backends.cpu.get_cpu_capability()),
        "threads": torch.get_num_threads(),
        "mps_available": safely(lambda: torch.backends.mps.is_available()),
    }
    info["cuda_available"] = safely(torch.cuda.is_available)
    devices = []
    if info["cuda_available"] is True:
        for index in range(torch.cuda.device_count()):
            properties = torch.cuda.get_device_properties(index)
            devices.append({
                "index": index,
                "name": properties.name,
                "memory_bytes": properties.total_memory,
                "capability": f"{properties.major}.{properties.minor}",
            })
        info["bf16_supported"] = safely(torch.cuda.is_bf16_supported)
    info["devices"] = devices
    return info


def vendor_tools() -> dict[str, Any]:
    """GPU vendors' own tools, when installed: they work even where torch cannot see the GPU."""
    tools: dict[str, Any] = {}
    if shutil.which("nvidia-smi"):
        tools["nvidia-smi -L"] = run_tool(["nvidia-smi", "-L"])
        tools["nvidia-smi query"] = run_tool([
            "nvidia-smi", "--query-gpu=name,driver_version,memory.total,memory.used,power.limit",
            "--format=csv",
        ])
    if shutil.which("rocm-smi"):
        tools["rocm-smi"] = run_tool(["rocm-smi", "--showproductname", "--showdriverversion",
                                      "--showmeminfo", "vram"])
    if platform.system() == "Darwin":
        tools["system_profiler"] = run_tool(["system_profiler", "SPDisplaysDataType"])
    return tools


def device_nodes() -> dict[str, bool]:
    """The device files sdkit's setup looks at to pick a backend."""
    return {node: Path(node).exists() for node in ("/dev/nvidia0", "/dev/kfd", "/dev/dri")}
