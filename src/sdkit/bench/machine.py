"""What machine a benchmark ran on: CPU model and flags, cores, RAM, GPU, load, torch and diffusers versions."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

# The CPU flags that decide which dtype and kernels are fast; the full list would drown the header.
INTERESTING_FLAGS = ("avx", "avx2", "fma", "f16c", "avx512f", "avx512_bf16", "avx512_fp16", "avx512_vnni",
                     "amx_bf16", "amx_int8", "amx_tile", "neon", "asimd")


def _cpuinfo() -> tuple[str, list[str]]:
    """The CPU model name and its interesting flags, from /proc/cpuinfo where there is one."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return platform.processor() or platform.machine(), []
    model = next((line.split(":", 1)[1].strip() for line in text.splitlines()
                  if line.startswith(("model name", "Model", "Hardware"))), platform.machine())
    flags_line = next((line for line in text.splitlines() if line.startswith(("flags", "Features"))), "")
    flags = set(flags_line.split(":", 1)[-1].split())
    return model, [flag for flag in INTERESTING_FLAGS if flag in flags]


def _ram_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except (OSError, ValueError):
        pass
    try:
        import psutil  # accelerate depends on it, so it is usually there

        return round(psutil.virtual_memory().total / 1024**3, 1)
    except ImportError:
        return None


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def machine_info(with_torch: bool = True) -> dict[str, Any]:
    """Plain data describing this machine; `with_torch=False` stays light (no torch import)."""
    from sdkit import __version__

    model, flags = _cpuinfo()
    info: dict[str, Any] = {
        "cpu": model,
        "cpu_flags": flags,
        "cores": os.cpu_count(),
        "ram_gib": _ram_gib(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "sdkit": __version__,
        "torch": _version("torch"),
        "diffusers": _version("diffusers"),
        "transformers": _version("transformers"),
        "load_average": [round(value, 2) for value in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "gpu": None,
    }
    if with_torch:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        info["cpu_capability"] = torch.backends.cpu.get_cpu_capability()
        if torch.cuda.is_available():
            props = torch.cuda.get_device_properties(0)
            info["gpu"] = f"{props.name}, {props.total_memory / 1024**3:.0f} GiB"
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            info["gpu"] = "Apple MPS"
    return info


def describe_machine(info: dict[str, Any]) -> str:
    """One or two lines for a report header."""
    flags = ", ".join(info.get("cpu_flags") or []) or "no SIMD flags read"
    parts = [f"{info['cpu']} ({flags})", f"{info['cores']} cores", f"{info['ram_gib']} GiB RAM",
             f"GPU: {info['gpu'] or 'none'}"]
    versions = f"torch {info['torch']}, diffusers {info['diffusers']}, sdkit {info['sdkit']}, Python {info['python']}"
    load = info.get("load_average")
    if load:
        versions += f"; load average {load[0]:.1f}"
    return " · ".join(parts) + "\n" + versions
