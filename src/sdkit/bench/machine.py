"""What machine a benchmark ran on: CPU model and flags, cores, RAM, GPU, load, torch and diffusers versions."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from typing import Any

from sdkit.runtime import machine


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def machine_info(with_torch: bool = True) -> dict[str, Any]:
    """Plain data describing this machine; `with_torch=False` stays light (no torch import)."""
    from sdkit import __version__

    cpu, total_bytes = machine.cpu(), machine.memory().total_bytes
    info: dict[str, Any] = {
        "cpu": cpu.model or platform.machine(),
        "cpu_flags": cpu.notable_flags,
        "cores": os.cpu_count(),
        "ram_gib": round(total_bytes / 1024**3, 1) if total_bytes else None,
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
