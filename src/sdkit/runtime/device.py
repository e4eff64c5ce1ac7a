"""Choosing where models run (device) and in which precision (dtype)."""

from __future__ import annotations

import logging
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


def cpu_has_native_bf16() -> bool:
    """True when the CPU computes bf16 natively (AVX512-BF16 or AMX), so bf16 weights run faster."""
    from sdkit.runtime.machine import cpu  # read once per process there

    return cpu().native_bf16


def choose_dtype(requested: str, device: str) -> Any:
    """The torch dtype for the model's heavy parts.

    `auto`: fp16 on CUDA and MPS; on the CPU bf16 where the CPU computes it natively (AVX512-BF16 or
    AMX: a full-size UNet step ran ~1.8x faster than fp32 in one measurement), else fp32, because bf16
    emulated on AVX2 runs about 2x *slower* than fp32 (docs/performance.md has both measurements).
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


def keep_vae_fp32(vae: Any, compute_dtype: Any) -> None:
    """Run `vae` in fp32 inside a pipeline whose other parts compute in `compute_dtype` (bf16 on the CPU).

    diffusers pipelines hand the VAE latents in the UNet's dtype and take its encodings back in that
    dtype, so hooks convert at the VAE's edges: into whatever dtype the VAE's weights have at call time
    (SDXL img2img casts the VAE itself for a while), and encodings back to `compute_dtype`.
    """
    import torch

    vae.to(torch.float32)

    def into_weights_dtype(module: Any, args: tuple) -> tuple:
        weights_dtype = next(module.parameters()).dtype
        return tuple(arg.to(weights_dtype) if isinstance(arg, torch.Tensor) and arg.is_floating_point() else arg
                     for arg in args)

    def back_to_compute(module: Any, args: tuple, output: Any) -> Any:
        return output.to(compute_dtype) if isinstance(output, torch.Tensor) else output

    for name in ("encoder", "quant_conv", "post_quant_conv", "decoder"):
        part = getattr(vae, name, None)
        if part is not None:
            part.register_forward_pre_hook(into_weights_dtype)
    last_encoder_part = getattr(vae, "quant_conv", None) or vae.encoder  # the encoding's final layer
    last_encoder_part.register_forward_hook(back_to_compute)
