"""The SD engine's ComfyUI path: a batch drawn as ComfyUI's KSampler node draws it (issue 16).

`sample` equals these ComfyUI graphs on the loaded model's own UNet and VAE (sdkit.sampling.comfyui):
- txt2img: EmptyLatentImage(batch_size) → KSampler(seed, steps, cfg, sampler_name, scheduler, denoise 1)
  → VAEDecode → SaveImage;
- img2img: LoadImage → VAEEncode → KSampler(…, denoise) → VAEDecode → SaveImage;
- inpaint: LoadImage → VAEEncode, LoadImageMask → SetLatentNoiseMask → KSampler(…, denoise) → VAEDecode
  → SaveImage; the mask image's grey level (1 = redraw, not binarised) is resized bilinearly to the latent
  size, as ComfyUI's `prepare_mask` does. A 9-channel inpainting UNet also gets the mask and the masked
  image's latents after its input, as diffusers prepares them (not ComfyUI's concat: not ComfyUI-exact).
`batch` is ComfyUI's batch (noise seed, batch size, the positions drawn here); `conditions` is
`a1111.text_conditions(…)` built for len(batch.positions) images. ComfyUI's `_gpu` sampler names are
aliases of the plain ones; their Brownian tree is the CPU one (ComfyUI's on a CPU).
Decode: `a1111.decode` (VAEDecode's clamp((x + 1)/2, 0, 1) and SaveImage's 255·x cast to uint8).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sdkit.engines.sd.a1111 import inpaint_inputs, step_progress, stopped_by_user
from sdkit.plugin import StepEvents

if TYPE_CHECKING:
    from sdkit.engines.sd.pipelines import LoadedModel
    from sdkit.samplers import ResolvedSampler
    from sdkit.sampling.comfyui import ComfyBatch

# sampling.comfyui's COMFYUI_SAMPLER_IDS and COMFYUI_SCHEDULES, without torch (a test keeps them equal).
COMFYUI_SAMPLER_IDS = ("euler", "euler_ancestral", "heun", "dpm_2", "dpm_2_ancestral", "lms", "dpmpp_2s_ancestral",
                       "dpmpp_sde", "dpmpp_2m", "dpmpp_2m_sde", "dpmpp_2m_sde_heun", "dpmpp_3m_sde", "ddim", "lcm",
                       "ddpm", "ipndm", "ipndm_v")
COMFYUI_SCHEDULES = ("normal", "karras", "exponential", "sgm_uniform", "simple", "ddim_uniform", "beta",
                     "linear_quadratic", "kl_optimal")


def comfy_table(loaded: LoadedModel) -> Any:
    """ComfyUI's σ table of the model (ModelSamplingDiscrete from its beta schedule)."""
    from sdkit.sampling.comfyui import ComfyTable

    return ComfyTable.from_scheduler_config(loaded.scheduler_config)


def latent_noise_mask(mask_image: Any, size: tuple[int, int], factor: int) -> Any:
    """SetLatentNoiseMask's mask at latent size: grey level / 255, bilinear, shape (1, 1, H/f, W/f)."""
    import numpy as np
    import torch

    width, height = size
    grey = mask_image.convert("L")
    if grey.size != (width, height):
        grey = grey.resize((width, height))
    mask = torch.from_numpy(np.asarray(grey, dtype=np.float32) / 255.0)[None, None]
    return torch.nn.functional.interpolate(mask, size=(height // factor, width // factor), mode="bilinear")


def sample(loaded: LoadedModel, pipeline: Any, resolved: ResolvedSampler, conditions: Callable[[int], Any], *,
           batch: ComfyBatch, cfg_scale: float, steps: int, size: tuple[int, int], events: StepEvents,
           init_latents: Any = None, denoise: float | None = None, inpaint: tuple[Any, Any] | None = None,
           before: int = 0, after: int = 0) -> Any:
    """The sampled latents (len(batch.positions), C, H/8, W/8), float32, as ComfyUI's KSampler.

    `init_latents`: img2img's scaled init latents (one row or one per position); `inpaint` is (init image,
    mask image) at the output size, and then the init latents come from it; `denoise` is KSampler's.
    """
    import torch

    from sdkit.sampling.comfyui import comfyui_latents
    from sdkit.sampling.denoiser import UNetDenoiser

    table = comfy_table(loaded)
    prediction = loaded.scheduler_config.get("prediction_type") or "epsilon"
    denoiser = UNetDenoiser(pipeline.unet, table, conditions, cfg_scale=cfg_scale, prediction_type=prediction)
    width, height = size
    factor = pipeline.vae_scale_factor
    shape = (int(pipeline.vae.config.latent_channels), height // factor, width // factor)
    arguments: dict[str, Any] = dict(table=table, steps=steps, batch=batch, latent_shape=shape,
                                     schedule=resolved.schedule, callback=step_progress(events, before, after),
                                     denoise=1.0 if denoise is None else denoise)
    with torch.inference_mode():
        if inpaint is not None:
            image, mask_image = inpaint
            init_latents, _, denoiser.concat = inpaint_inputs(pipeline, image, mask_image, len(batch.positions), size)
            arguments["latent_mask"] = latent_noise_mask(mask_image, size, factor)
        if init_latents is not None:
            arguments["init_latents"] = init_latents.to(torch.float32)
        latents = comfyui_latents(denoiser, resolved.id, **arguments)
    if events.should_stop():
        raise stopped_by_user()
    return latents
