"""The plain-diffusers baseline: the same job written the way a diffusers user would, without sdkit.

It loads the model folder with `from_pretrained`, sets the same scheduler class and config, and draws
the same per-image CPU-generator noise (A1111's rule, which sdkit follows) so that both sides compute
the same images and the time ratio measures sdkit's own cost only.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sdkit.core.errors import UserInputError


@dataclass(frozen=True)
class BaselineJob:
    """Everything the baseline needs to repeat one sdkit cell."""

    prompt: str
    negative_prompt: str
    steps: int
    cfg_scale: float
    width: int
    height: int
    seeds: tuple[int, ...]
    scheduler_class: type
    scheduler_config: dict[str, Any]


class DiffusersBaseline:
    """A `StableDiffusionPipeline` (or SDXL's) loaded straight from a diffusers folder."""

    def __init__(self, folder: Path, family: str, device: str, dtype: Any, vae_dtype: Any = None) -> None:
        import diffusers

        if not (Path(folder) / "model_index.json").is_file():
            raise UserInputError(f"the plain-diffusers baseline needs a diffusers folder, and {folder} is not one",
                                 "benchmark a diffusers folder, or pass --no-baseline")
        with warnings.catch_warnings():
            # diffusers 0.42 renamed torch_dtype to dtype and warns; older versions know torch_dtype only.
            warnings.simplefilter("ignore", FutureWarning)
            if family == "sdxl":
                self.pipeline = diffusers.StableDiffusionXLPipeline.from_pretrained(folder, torch_dtype=dtype)
            else:
                self.pipeline = diffusers.StableDiffusionPipeline.from_pretrained(
                    folder, torch_dtype=dtype, safety_checker=None, feature_extractor=None,
                    requires_safety_checker=False)
        self.pipeline.to(device)
        self.pipeline.set_progress_bar_config(disable=True)
        self.device = device
        self.dtype = dtype
        # A VAE in another precision than the rest (sdkit's fp32 VAE beside a bf16 UNet on the CPU): the
        # usual diffusers recipe is to ask for latents and decode them yourself.
        self.vae_dtype = vae_dtype if vae_dtype is not None and vae_dtype != dtype else None
        if self.vae_dtype is not None:
            self.pipeline.vae.to(self.vae_dtype)

    def run(self, job: BaselineJob) -> list[Any]:
        """The images of one batch, as PIL images."""
        import torch

        pipe = self.pipeline
        pipe.scheduler = job.scheduler_class.from_config(job.scheduler_config)
        generators = [torch.Generator("cpu").manual_seed(seed) for seed in job.seeds]
        factor = pipe.vae_scale_factor
        shape = (pipe.vae.config.latent_channels, job.height // factor, job.width // factor)
        latents = torch.stack([torch.randn(shape, generator=generator) for generator in generators])
        latents = latents.to(device=self.device, dtype=self.dtype)
        count = len(job.seeds)
        result = pipe(prompt=[job.prompt] * count, negative_prompt=[job.negative_prompt] * count,
                      height=job.height, width=job.width, num_inference_steps=job.steps,
                      guidance_scale=job.cfg_scale, generator=generators, latents=latents,
                      output_type="latent" if self.vae_dtype is not None else "pil")
        if self.vae_dtype is None:
            return list(result.images)
        with torch.no_grad():
            # Scaled in the UNet's dtype, then converted: the order the pipeline's own decode uses.
            scaled = (result.images / pipe.vae.config.scaling_factor).to(self.vae_dtype)
            decoded = pipe.vae.decode(scaled, return_dict=False)[0]
        return list(pipe.image_processor.postprocess(decoded, output_type="pil"))
