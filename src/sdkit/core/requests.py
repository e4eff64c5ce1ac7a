"""What a user asks for, per task, before defaults are applied.

Every field is optional: a request is one layer (flags or preset) of the final parameters. Engine
defaults fill what both leave unset, and `parse_params` turns the merged request into frozen params.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict

from sdkit.core.tasks import Task

RngSource = Literal["cpu", "nv", "device"]  # nv: A1111's CPU reimplementation of CUDA's randn
EmphasisMode = Literal["original", "no-norm", "ignore", "none"]
DeviceName = str  # "auto", "cpu", "cuda", "cuda:1", "mps"
# The device names sdkit knows, checked when a run is planned (so --dry-run refuses --device tpu);
# whether that device exists is known only once torch is imported (sdkit.runtime.device).
DEVICE_NAME = re.compile(r"auto|cpu|mps|(cuda|xpu)(:\d{1,3})?")
DtypeName = Literal["auto", "fp32", "fp16", "bf16"]
# Where an SD model's UNet and VAE run (sdkit.engines.openvino: auto picks OpenVINO only where it is faster).
BackendName = Literal["auto", "torch", "openvino"]


class RequestBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    device: DeviceName | None = None
    dtype: DtypeName | None = None
    backend: BackendName | None = None


class Txt2ImgRequest(RequestBase):
    prompt: str | None = None
    negative_prompt: str | None = None
    steps: int | None = None
    cfg_scale: float | None = None
    width: int | None = None
    height: int | None = None
    batch_size: int | None = None
    batch_count: int | None = None
    seed: int | None = None
    sampler: str | None = None
    schedule: str | None = None
    clip_skip: int | None = None
    emphasis: EmphasisMode | None = None
    loras: list[str] | None = None  # "NAME" or "NAME:WEIGHT" (`--lora`), besides the prompt's <lora:...> tags
    rng: RngSource | None = None
    ensd: int | None = None
    variation_seed: int | None = None
    variation_strength: float | None = None
    seed_resize_from_width: int | None = None
    seed_resize_from_height: int | None = None
    comfyui_batch_size: int | None = None
    comfyui_batch_index: int | None = None
    attention_slicing: bool | None = None
    vae_tiling: bool | None = None
    cpu_offload: bool | None = None
    upscale: str | None = None  # an upscaler model applied to each image before it is saved
    upscale_engine: str | None = None
    upscale_scale: float | None = None
    upscale_tile: int | None = None
    upscale_tile_overlap: int | None = None
    # A1111's hires fix (txt2img only, see TXT2IMG_ONLY): on with a scale or a target width/height.
    hires_scale: float | None = None
    hires_width: int | None = None
    hires_height: int | None = None
    hires_upscaler: str | None = None
    hires_steps: int | None = None
    hires_denoise: float | None = None
    hires_sampler: str | None = None
    hires_schedule: str | None = None
    hires_prompt: str | None = None
    hires_negative_prompt: str | None = None
    hires_cfg_scale: float | None = None


class Img2ImgRequest(Txt2ImgRequest):
    image: str | None = None
    strength: float | None = None


class InpaintRequest(Img2ImgRequest):
    mask: str | None = None
    mask_blur: int | None = None


class UpscaleRequest(RequestBase):
    image: str | None = None
    scale: float | None = None
    tile: int | None = None
    tile_overlap: int | None = None


REQUEST_TYPES: dict[Task, type[RequestBase]] = {
    Task.TXT2IMG: Txt2ImgRequest,
    Task.IMG2IMG: Img2ImgRequest,
    Task.INPAINT: InpaintRequest,
    Task.UPSCALE: UpscaleRequest,
}


# Fields img2img and inpaint inherit from txt2img but refuse: the hires fix is a second pass of txt2img.
TXT2IMG_ONLY = frozenset(name for name in Txt2ImgRequest.model_fields if name.startswith("hires_"))


def request_fields(task: Task) -> set[str]:
    """The parameter names a task accepts (presets and flags are checked against these)."""
    fields = set(REQUEST_TYPES[task].model_fields)
    return fields if task is Task.TXT2IMG else fields - TXT2IMG_ONLY
