"""Images into the latents a pipeline samples in, the way sdkit encodes them everywhere it does.

The VAE posterior's mean, scaled (and shifted, or normalised with SDXL-style latents_mean/std), not a
sample from it: a sample would draw from the images' generators, and the noise that follows would no
longer be the first draw of each image's generator, as it is in A1111.
"""

from __future__ import annotations

from typing import Any


def encode_images(pipeline: Any, images: list[Any]) -> Any:
    """PIL images (already at the size to sample) as scaled latents, in the VAE's dtype."""
    return encode_pixels(pipeline, pipeline.image_processor.preprocess(images))


def encode_pixels(pipeline: Any, pixels: Any) -> Any:
    """A (B, 3, H, W) tensor in [-1, 1] as scaled latents, in the VAE's dtype."""
    import torch

    vae = pipeline.vae
    device = pipeline._execution_device
    upcast = vae.dtype == torch.float16 and bool(getattr(vae.config, "force_upcast", False))
    original_dtype = vae.dtype
    if upcast:  # SDXL's VAE overflows in fp16, which is why its pipelines upcast it too
        vae.to(dtype=torch.float32)
    try:
        with torch.inference_mode():
            latents = vae.encode(pixels.to(device=device, dtype=vae.dtype)).latent_dist.mode()
    finally:
        if upcast:
            vae.to(dtype=original_dtype)
    config = vae.config
    mean, std = getattr(config, "latents_mean", None), getattr(config, "latents_std", None)
    if mean is not None and std is not None:
        shape = (1, latents.shape[1], 1, 1)
        mean_t = torch.tensor(mean).view(shape).to(latents)
        std_t = torch.tensor(std).view(shape).to(latents)
        latents = (latents - mean_t) * config.scaling_factor / std_t
    else:
        latents = (latents - (getattr(config, "shift_factor", None) or 0.0)) * config.scaling_factor
    return latents.to(dtype=original_dtype)
