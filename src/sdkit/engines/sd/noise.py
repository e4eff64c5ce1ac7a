"""A batch's initial noise with A1111's seed rules: per-image generators, variation seeds, seed resize.

Both of the SD engine's paths start from it: sdkit.sampling (A1111's sampler names) is given the
batch's `Variation`; the diffusers path gets its txt2img latents from `initial_noise`, together with the
per-image generators its scheduler goes on drawing from. diffusers' img2img and inpaint pipelines draw
their noise themselves, so there variation seeds do not act (a warning says so).
"""

from __future__ import annotations

import logging
from typing import Any

from sdkit.engines.sd.pipelines import LoadedModel, noise_device
from sdkit.plugin import SEED_MAX, Batch, Txt2ImgParams

log = logging.getLogger(__name__)


def batch_variation(params: Txt2ImgParams, batch: Batch, factor: int) -> Any:
    """The batch's `sdkit.sampling.noise.Variation`, or None when variation seeds and seed resize are off.

    Image i of the run has variation seed `variation_seed + i`; "seed resize from" is a pixel size,
    turned into the latent size (÷ the VAE's factor, as A1111 divides by 8).
    """
    from sdkit.sampling.noise import Variation

    resize = None
    if params.seed_resize_from_width > 0 and params.seed_resize_from_height > 0:
        resize = (params.seed_resize_from_height // factor, params.seed_resize_from_width // factor)
    if not params.variation_strength and resize is None:
        return None
    seeds = tuple((params.variation_seed + batch.first_index + offset) % (SEED_MAX + 1)
                  for offset in range(len(batch.seeds)))
    return Variation(seeds if params.variation_strength else (), params.variation_strength, resize)


def initial_noise(pipeline: Any, params: Txt2ImgParams, batch: Batch, loaded: LoadedModel) -> tuple[Any, list[Any]]:
    """(txt2img latents, per-image torch generators for the scheduler) of the diffusers path.

    Each image's unit noise comes from its own generator (A1111's rule), in fp32, so an image does not
    depend on its batch. `--rng nv`: the first NV draw of each image; the torch generators, fresh, stay
    for the scheduler's per-step noise.
    """
    import torch

    from sdkit.sampling.noise import ImageGenerators

    factor = pipeline.vae_scale_factor
    shape = (pipeline.vae.config.latent_channels, params.height // factor, params.width // factor)
    variation = batch_variation(params, batch, factor)
    device = noise_device(params.rng, loaded)
    seeds = list(batch.seeds)
    if params.rng == "nv":
        latents = ImageGenerators(seeds, shape, "nv", variation=variation).first()
        generators = [torch.Generator(device).manual_seed(seed) for seed in seeds]
    else:
        source = ImageGenerators(seeds, shape, "device" if params.rng == "device" else "cpu", device,
                                 variation=variation)
        latents = source.first()
        generators = source.torch_generators
    return latents.to(device=loaded.device, dtype=loaded.dtype), generators


def warn_unused_variation(params: Txt2ImgParams, batch: Batch, what: str) -> None:
    """Say once per run that variation seeds / seed resize do not act on `what`."""
    if batch.first_index == 0 and (params.variation_strength or params.seed_resize_from_width > 0):
        log.warning("variation seeds and seed resize are not used for %s: they act under A1111's sampler "
                    "names, and on diffusers' schedulers for txt2img only", what)
