"""The OpenVINO stand-ins: a converted part compiled per input shape, and the `forward`s that call it.

`CompiledPart` reads one IR (dynamic dims) and compiles it for each distinct set of input shapes it is
called with, keeping the last `KEEP_SHAPES` (a compile costs ~3 s for SD 1.5's UNet; each compiled
copy holds its own repacked weights, so not all of them). Static shapes: on a 2-core AVX2 EPYC an SD
1.5 UNet compiled for its exact shape ran faster than one compiled with dynamic dims (docs/openvino.md).

`attach_unet` and `attach_vae` replace the instance's `forward` only: the module keeps its config,
dtype, device, hooks and weights, so diffusers' pipelines and sdkit's A1111 denoiser call it as before.
A call that the IR does not cover goes to the class's own torch forward: active LoRA adapters (they
change the weights), ControlNet residuals, attention masks, class labels, and latent sizes the traced
up-sampling does not fit.
"""

from __future__ import annotations

import logging
import sys
from collections import OrderedDict
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# Compiled shapes kept per part: the hires fix (two sizes) and A1111's split cond/uncond calls (two token
# lengths) fit in 3. A large part keeps one: each compiled copy holds its own repacked weights (3.4 GB for
# SD 1.5's UNet), and a compile (~3 s) is small beside one of its steps.
KEEP_SHAPES = 3
KEEP_SHAPES_LARGE = 1
LARGE_PARAMETERS = 200_000_000
UNET_EXTRA_KEYS = ("text_embeds", "time_ids")


class CompiledPart:
    """One converted part, compiled by OpenVINO for the CPU per set of input shapes."""

    def __init__(self, model_file: Path | Callable[[], Path], label: str, parameters: int = 0) -> None:
        """`model_file` may be a function that converts the part on its first call (the VAE encoder:
        only img2img and inpaint need it)."""
        self.label = label
        self._keep = KEEP_SHAPES_LARGE if parameters >= LARGE_PARAMETERS else KEEP_SHAPES
        self._model_file = model_file
        self._model: Any = None
        self._compiled: OrderedDict[tuple[tuple[int, ...], ...], Any] = OrderedDict()
        self.calls = 0  # calls served by OpenVINO (tests and the infotext read it)
        self.compiles = 0

    def __call__(self, arrays: list[Any]) -> Any:
        import numpy as np

        shapes = tuple(tuple(int(size) for size in array.shape) for array in arrays)
        compiled = self._compiled.pop(shapes, None)
        if compiled is None:
            if len(self._compiled) >= self._keep:
                self._compiled.popitem(last=False)  # before compiling: never two large copies at once
            compiled = self._compile(shapes)
        self._compiled[shapes] = compiled  # most recently used last
        while len(self._compiled) > self._keep:
            self._compiled.popitem(last=False)
        self.calls += 1
        result = compiled(arrays)[0]
        return np.array(result, copy=True)  # the request's buffer is reused by its next call

    def _compile(self, shapes: tuple[tuple[int, ...], ...]) -> Any:
        import torch

        if self._model is None:
            model_file = self._model_file if isinstance(self._model_file, Path) else self._model_file()
            self._model = _core().read_model(model_file)
        log.info("compiling the OpenVINO %s for inputs %s", self.label, shapes)
        self._model.reshape({index: list(shape) for index, shape in enumerate(shapes)})
        self.compiles += 1
        # fp32 always, also where the CPU has bf16 (OpenVINO's default there): the image must equal the
        # torch backend's within fp32 rounding. Threads: the count torch was given (sdkit runs small
        # models on one thread, `runtime/placement.py`).
        settings = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY",
                    "INFERENCE_NUM_THREADS": torch.get_num_threads()}
        return _core().compile_model(self._model, "CPU", settings)


@cache
def _core() -> Any:
    """One OpenVINO runtime per process, shared by every part."""
    import openvino

    return openvino.Core()


def _arrays(tensors: list[Any]) -> list[Any]:
    import torch

    return [tensor.detach().to(device="cpu", dtype=torch.float32).contiguous().numpy() for tensor in tensors]


def adapters_active(module: Any) -> bool:
    """True when PEFT (LoRA) adapter layers in `module` are enabled: its weights are not the IR's then."""
    if "peft" not in sys.modules:
        return False  # no adapter was ever loaded in this process
    from peft.tuners.tuners_utils import BaseTunerLayer

    for layer in module.modules():
        if isinstance(layer, BaseTunerLayer) and not layer.disable_adapters:
            # A layer whose adapters were all deleted still exists, and calls its original alone.
            held = [getattr(layer, name, {}) for name in layer.adapter_layer_names]
            if any(name in modules for name in layer.active_adapters for modules in held):
                return True
    return False


class _FallbackNotice:
    """Says once per reason why a call ran in torch (debug level afterwards)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self._said: set[str] = set()

    def __call__(self, reason: str) -> None:
        (log.debug if reason in self._said else log.info)("the %s runs in torch for this call: %s", self.label, reason)
        self._said.add(reason)


def attach_unet(unet: Any, part: CompiledPart, extra_inputs: tuple[str, ...]) -> None:
    """Make `unet(...)` run on `part`, with diffusers' UNet2DConditionModel signature and outputs."""
    import torch
    from diffusers.models.unets.unet_2d_condition import UNet2DConditionOutput

    torch_forward = type(unet).forward.__get__(unet)
    up_factor = 2 ** (len(unet.config.block_out_channels) - 1)
    fallback = _FallbackNotice("UNet")

    def forward(sample: Any, timestep: Any, encoder_hidden_states: Any = None, *args: Any, **kwargs: Any) -> Any:
        return_dict = kwargs.get("return_dict", True)
        reason = _unet_fallback(sample, encoder_hidden_states, args, kwargs, up_factor)
        if reason is None and adapters_active(unet):
            reason = "LoRA adapters are active"
        if reason is not None:
            fallback(reason)
            return torch_forward(sample, timestep, encoder_hidden_states, *args, **kwargs)
        batch = sample.shape[0]
        timesteps = torch.as_tensor(timestep, dtype=torch.float32).reshape(-1)
        if timesteps.numel() != batch:
            timesteps = timesteps.expand(batch)  # diffusers passes one timestep for the whole batch
        inputs = [sample, timesteps, encoder_hidden_states]
        added = kwargs.get("added_cond_kwargs") or {}
        inputs += [added[key] for key in UNET_EXTRA_KEYS if key in extra_inputs]
        if "timestep_cond" in extra_inputs:
            inputs.append(kwargs["timestep_cond"])
        result = torch.from_numpy(part(_arrays(inputs))).to(dtype=sample.dtype)
        return UNet2DConditionOutput(sample=result) if return_dict else (result,)

    unet.forward = forward


def _unet_fallback(sample: Any, encoder_hidden_states: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
                   up_factor: int) -> str | None:
    """Why this UNet call cannot run on the IR (None: it can)."""
    if args or encoder_hidden_states is None:
        return "positional arguments beyond the text conditioning"
    unsupported = [key for key in ("class_labels", "attention_mask", "down_block_additional_residuals",
                                   "mid_block_additional_residual", "down_intrablock_additional_residuals",
                                   "encoder_attention_mask") if kwargs.get(key) is not None]
    if unsupported:
        return f"{', '.join(unsupported)} given"
    attention = kwargs.get("cross_attention_kwargs") or {}
    if any(key != "scale" for key in attention):
        return "cross-attention arguments given"
    if sample.shape[-1] % up_factor or sample.shape[-2] % up_factor:
        # The traced up-sampling doubles sizes; diffusers' own forward handles odd sizes explicitly.
        return f"latent size {sample.shape[-1]}x{sample.shape[-2]} is not a multiple of {up_factor}"
    return None


def attach_vae(vae: Any, decoder: CompiledPart, encoder: CompiledPart | None) -> None:
    """Make the VAE's decoder (and encoder) modules run on their IR; the VAE's own methods stay torch."""
    import torch

    def swap(module: Any, part: CompiledPart) -> None:
        torch_forward = type(module).forward.__get__(module)
        fallback = _FallbackNotice(part.label)

        def forward(sample: Any, *args: Any, **kwargs: Any) -> Any:
            if args or any(value is not None for value in kwargs.values()):
                fallback("extra arguments given")
                return torch_forward(sample, *args, **kwargs)
            if adapters_active(module):
                fallback("adapters are active")
                return torch_forward(sample)
            return torch.from_numpy(part(_arrays([sample]))).to(dtype=sample.dtype)

        module.forward = forward

    swap(vae.decoder, decoder)
    if encoder is not None:
        swap(vae.encoder, encoder)
