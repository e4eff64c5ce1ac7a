"""Converting a diffusers part to OpenVINO IR once, with dynamic shapes, and saying so while it runs.

`openvino.convert_model` traces the torch module with small example inputs and keeps the batch,
the latent height and width and the number of prompt tokens dynamic, so one conversion serves every
size, batch and prompt length; `stand_ins.py` then compiles it for the exact shapes of each call
(static shapes are OpenVINO's fastest). Weights are saved in fp32 (`compress_to_fp16=False`): the
default fp16 compression of `save_model` costs ~1e-3 relative error, the fp32 IR ~2e-6.

A conversion takes from seconds to minutes for a full-size UNet (SD 1.5's: 20 s on a quiet 2-core AVX2
machine, minutes on a loaded one), so it is announced with an estimate (from this machine's last
conversion, else that measurement) and a progress line every `TICK_SECONDS`.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sdkit.engines.openvino.ir_cache import META_FILE, MODEL_FILE, cache_root, conversion_rate, folder_size_mb

log = logging.getLogger(__name__)

TICK_SECONDS = 20.0
# Tracing and saving cost a few seconds whatever the size, then about this much per million parameters
# (SD 1.5's UNet: 20 s for 860 M on a quiet 2-core AVX2 EPYC, 6.6 min under load 10 with openvino's own
# checked trace); a conversion of a large part done here before replaces it.
FIXED_SECONDS = 5.0
DEFAULT_SECONDS_PER_MILLION = 0.03
LABELS = {"unet": "UNet", "vae-decoder": "VAE decoder", "vae-encoder": "VAE encoder"}

conversions = 0  # conversions done by this process (tests count them: a cached part is never converted)


@dataclass(frozen=True)
class PartSpec:
    """What to convert: a module that takes only tensors, example inputs, and which dims stay dynamic."""

    part: str  # "unet", "vae-decoder", "vae-encoder"
    module: Any  # a torch.nn.Module whose forward takes `input_names` in order and returns one tensor
    input_names: tuple[str, ...]
    example: tuple[Any, ...]
    shapes: tuple[tuple[int, ...], ...]  # -1: dynamic
    parameters: int


def _torch_module_class() -> type:
    import torch

    return torch.nn.Module


def unet_spec(unet: Any) -> PartSpec:
    """The UNet as (sample, timestep, encoder_hidden_states[, text_embeds, time_ids][, timestep_cond])."""
    import torch

    config = unet.config
    extra: list[str] = []
    if getattr(config, "addition_embed_type", None) == "text_time":
        extra += ["text_embeds", "time_ids"]
    if getattr(config, "time_cond_proj_dim", None):
        extra.append("timestep_cond")

    class UNetCall(_torch_module_class()):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.unet = unet

        def forward(self, sample: Any, timestep: Any, encoder_hidden_states: Any, *rest: Any) -> Any:
            named = dict(zip(extra, rest, strict=True))
            added = {key: named[key] for key in ("text_embeds", "time_ids") if key in named} or None
            # The class's own forward: the instance's may already be the OpenVINO stand-in.
            return type(unet).forward(self.unet, sample, timestep, encoder_hidden_states,
                                      timestep_cond=named.get("timestep_cond"), added_cond_kwargs=added,
                                      return_dict=False)[0]

    side = 2 * 2 ** (len(config.block_out_channels) - 1)  # the smallest latent every down/up block fits
    width = int(config.cross_attention_dim)
    example = [torch.randn(2, config.in_channels, side, side), torch.full((2,), 500.0),
               torch.randn(2, 77, width)]
    shapes: list[tuple[int, ...]] = [(-1, config.in_channels, -1, -1), (-1,), (-1, -1, width)]
    if "text_embeds" in extra:
        pooled = int(config.projection_class_embeddings_input_dim) - 6 * int(config.addition_time_embed_dim)
        example += [torch.randn(2, pooled), torch.tensor([[side * 8.0, side * 8.0, 0, 0, side * 8.0, side * 8.0]] * 2)]
        shapes += [(-1, pooled), (-1, 6)]
    if "timestep_cond" in extra:
        example.append(torch.randn(2, int(config.time_cond_proj_dim)))
        shapes.append((-1, int(config.time_cond_proj_dim)))
    return PartSpec("unet", UNetCall().eval(), ("sample", "timestep", "encoder_hidden_states", *extra),
                    tuple(example), tuple(shapes), _count(unet))


def vae_specs(vae: Any) -> list[PartSpec]:
    """The VAE's decoder (latents to pixels) and encoder (pixels to latent moments)."""
    import torch

    class Call(_torch_module_class()):  # type: ignore[misc]
        def __init__(self, module: Any) -> None:
            super().__init__()
            self.inner = module

        def forward(self, sample: Any) -> Any:
            return type(self.inner).forward(self.inner, sample)

    latent_channels = int(vae.config.latent_channels)
    in_channels = int(vae.config.in_channels)
    factor = 2 ** (len(vae.config.block_out_channels) - 1)
    return [
        PartSpec("vae-decoder", Call(vae.decoder).eval(), ("sample",), (torch.randn(1, latent_channels, 8, 8),),
                 ((-1, latent_channels, -1, -1),), _count(vae.decoder)),
        PartSpec("vae-encoder", Call(vae.encoder).eval(), ("sample",),
                 (torch.randn(1, in_channels, 8 * factor, 8 * factor),), ((-1, in_channels, -1, -1),),
                 _count(vae.encoder)),
    ]


def _count(module: Any) -> int:
    return sum(parameter.numel() for parameter in module.parameters())


def convert_part(spec: PartSpec, folder: Path, description: dict[str, Any]) -> Path:
    """Convert `spec` and save its IR as `folder` (complete or not at all); returns its model.xml."""
    global conversions
    import openvino
    import torch

    label = LABELS.get(spec.part, spec.part)
    rate = conversion_rate(spec.part, FIXED_SECONDS) or DEFAULT_SECONDS_PER_MILLION
    estimate = FIXED_SECONDS + rate * spec.parameters / 1e6
    log.warning("converting the %s (%.0f M parameters) to OpenVINO, once for this model: about %s",
                label, spec.parameters / 1e6, _duration(estimate))
    started = time.perf_counter()
    with _ticker(lambda: log.warning("still converting the %s: %s of about %s", label,
                                     _duration(time.perf_counter() - started), _duration(estimate))):
        with torch.no_grad(), warnings.catch_warnings():
            # The tracer warns about every shape test it freezes; the dims that must stay dynamic are
            # declared below, and sizes the frozen tests do not fit run in torch (`stand_ins.py`).
            warnings.simplefilter("ignore")
            # Traced here without torch's re-run check of the trace (openvino's own tracing runs it): the
            # same graph, ~30% sooner. Inputs stay dynamic through `input`.
            traced = torch.jit.trace(spec.module, spec.example, strict=False, check_trace=False)
            converted = openvino.convert_model(
                traced, example_input=spec.example,
                input=[openvino.PartialShape(list(shape)) for shape in spec.shapes])
            del traced
        for port, name in zip(converted.inputs, spec.input_names, strict=True):
            port.get_tensor().set_names({name})
        cache_root().mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{spec.part}-", dir=cache_root()))
        try:
            openvino.save_model(converted, staging / MODEL_FILE, compress_to_fp16=False)
            del converted
            seconds = time.perf_counter() - started
            meta = {**description, "part": spec.part, "parameters": spec.parameters, "convert_s": round(seconds, 2),
                    "openvino": openvino.get_version(), "inputs": dict(zip(spec.input_names, spec.shapes, strict=True)),
                    "peak_rss_mb": _peak_rss_mb(), "ir_mb": round(folder_size_mb(staging), 1)}
            import json

            (staging / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
            try:
                os.rename(staging, folder)  # atomic: a folder is there complete, or not at all
            except OSError:
                if not (folder / MODEL_FILE).is_file():  # not another process's finished copy: a real failure
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    conversions += 1
    log.warning("converted the %s in %s (%.0f MB in %s)", label, _duration(seconds), meta["ir_mb"], folder)
    return folder / MODEL_FILE


class _ticker:
    """Calls `say` every TICK_SECONDS in a daemon thread while the block runs."""

    def __init__(self, say: Callable[[], None]) -> None:
        self._say = say
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="openvino-convert-progress")

    def _run(self) -> None:
        while not self._stop.wait(TICK_SECONDS):
            self._say()

    def __enter__(self) -> _ticker:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _duration(seconds: float) -> str:
    return f"{max(1.0, seconds):.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def _peak_rss_mb() -> float | None:
    """This process's peak resident memory so far (Linux), for the conversion's record."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None
