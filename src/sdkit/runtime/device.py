"""Choosing where models run (device) and in which precision (dtype)."""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path
from typing import Any

from sdkit.core.errors import UserInputError

log = logging.getLogger(__name__)

DTYPE_NAMES = ("auto", "fp32", "fp16", "bf16")


def choose_device(requested: str = "auto") -> str:
    """`auto` picks CUDA, then MPS, then the CPU; an explicit device must exist."""
    import torch

    if requested == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    kind = requested.split(":", 1)[0]
    if kind == "cuda" and not torch.cuda.is_available():
        raise UserInputError(f"device {requested!r} was asked for, but torch sees no CUDA GPU",
                             "use --device auto or --device cpu, or install the CUDA build (requirements-cuda.txt)")
    if kind == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise UserInputError("device 'mps' was asked for, but Metal is not available", "use --device cpu")
    if kind not in ("cpu", "cuda", "mps", "xpu"):
        raise UserInputError(f"unknown device {requested!r}", "use auto, cpu, cuda, cuda:N or mps")
    return requested


@lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """True when the CPU computes bf16 natively (AVX512-BF16 or AMX), so bf16 weights run faster."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    flags_line = next((line for line in text.splitlines() if line.startswith("flags")), "")
    flags = set(flags_line.split(":", 1)[-1].split())
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def choose_dtype(requested: str, device: str) -> Any:
    """The torch dtype for the model's heavy parts.

    `auto`: fp16 on CUDA and MPS; on the CPU bf16 where the CPU computes it natively (AVX512-BF16 or
    AMX: a full-size UNet step runs ~1.8x faster than fp32), else fp32, because bf16 emulated on AVX2
    runs about 2x *slower* than fp32 (docs/performance.md has the measurements).
    """
    import torch

    if requested not in DTYPE_NAMES:
        raise UserInputError(f"unknown dtype {requested!r}", f"use one of {', '.join(DTYPE_NAMES)}")
    if requested == "auto":
        kind = device.split(":", 1)[0]
        if kind in ("cuda", "mps"):
            return torch.float16
        return torch.bfloat16 if kind == "cpu" and cpu_has_native_bf16() else torch.float32
    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[requested]


def dtype_label(dtype: Any) -> str:
    import torch

    return {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}.get(dtype, str(dtype))
