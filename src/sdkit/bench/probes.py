"""Measuring one run from the outside: UNet and VAE-decode time through module hooks, peak memory.

The same probes are attached to sdkit's pipeline and to the plain-diffusers baseline, so whatever they
cost, both sides pay it equally.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sdkit.bench.timing import synchronize


class StageTimer:
    """Adds up the wall time spent inside the text encoders, the UNet and the VAE decoder (their forwards).

    Forward hooks, not wrapped methods: nothing about the models changes, and removing the hooks
    leaves them exactly as they were.
    """

    def __init__(self, device: str = "cpu") -> None:
        # On a GPU the forwards only queue work: wait for it at both edges, or the times are launch times.
        self._device = device
        self.unet_seconds = 0.0
        self.unet_calls = 0
        self.vae_seconds = 0.0
        self.text_seconds = 0.0
        self._handles: list[Any] = []
        self._started: dict[str, float] = {}

    def _pre(self, stage: str) -> Any:
        def hook(module: Any, args: Any) -> None:
            synchronize(self._device)
            self._started[stage] = time.perf_counter()
        return hook

    def _post(self, stage: str) -> Any:
        def hook(module: Any, args: Any, output: Any) -> None:
            synchronize(self._device)
            elapsed = time.perf_counter() - self._started.pop(stage, time.perf_counter())
            if stage == "unet":
                self.unet_seconds += elapsed
                self.unet_calls += 1
            elif stage == "vae":
                self.vae_seconds += elapsed
            else:
                self.text_seconds += elapsed
        return hook

    def attach(self, unet: Any, vae: Any, text_encoders: list[Any] | tuple[Any, ...] = ()) -> StageTimer:
        # vae.decode is not a forward; its decoder is (post_quant_conv before it is a 1x1 conv: noise).
        modules = [("unet", unet), ("vae", vae.decoder)]
        # Each encoder under its own key: SDXL runs two, one after the other.
        modules += [(f"text{index}", encoder) for index, encoder in enumerate(text_encoders) if encoder is not None]
        for stage, module in modules:
            self._handles.append(module.register_forward_pre_hook(self._pre(stage)))
            self._handles.append(module.register_forward_hook(self._post(stage)))
        return self

    def reset(self) -> None:
        self.unet_seconds = self.vae_seconds = self.text_seconds = 0.0
        self.unet_calls = 0

    def detach(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()


def current_rss_mb() -> float | None:
    """This process's resident memory now, in MiB (Linux /proc; psutil elsewhere)."""
    value = _proc_status_kb("VmRSS")
    if value is not None:
        return value / 1024
    try:
        import psutil

        return psutil.Process().memory_info().rss / 1024**2
    except ImportError:
        return None


def reset_peak_rss() -> bool:
    """Start a new peak-RSS window (Linux: writing 5 to clear_refs resets VmHWM). False if impossible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float | None:
    """The peak resident memory since the last `reset_peak_rss` (or since start), in MiB."""
    value = _proc_status_kb("VmHWM")
    if value is not None:
        return value / 1024
    try:
        import resource
        import sys

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 1024**2 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB elsewhere
    except ImportError:
        return None


def _proc_status_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def reset_gpu_peak(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def gpu_peak_mb(device: str) -> float | None:
    """Peak memory torch allocated on the GPU since `reset_gpu_peak`, in MiB; None on the CPU."""
    if not device.startswith("cuda"):
        return None
    import torch

    torch.cuda.synchronize(device)
    return torch.cuda.max_memory_allocated(device) / 1024**2
