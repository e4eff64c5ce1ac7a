"""k-diffusion itself as the oracle for sdkit.sampling: its samplers, schedules and wrappers, as A1111 runs them.

A1111 v1.10 samples with crowsonkb/k-diffusion's functions (`k_diffusion.sampling`) around its own CFG
denoiser and k-diffusion's `CompVisDenoiser` / `CompVisVDenoiser` (`k_diffusion.external`). The PyPI
release k-diffusion 0.1.1.post1 holds the same sampler functions; it is installed for tests only, with
`--no-deps`, because its package `__init__` imports training code (clip, wandb, ...) that sdkit does not
need. `load_k_diffusion()` therefore loads the two submodules through a stand-in package object whose
path is the installed folder, so the `__init__` never runs.

What else lives here is what A1111 puts around those functions, written from its code
(modules/sd_samplers_kdiffusion.py, sd_samplers_common.py, rng.py, processing.py):
- `A1111ImageNoise`: one CPU torch generator per image seed; the first draw is the initial noise, later
  draws are what k-diffusion's `torch.randn_like` returns under A1111's TorchHijack (ancestral noise);
- `brownian_noise_sampler`: `BrownianTreeNoiseSampler(x·σ₀, min σ > 0, max σ, seed=[the batch's seeds])`;
- `CompVisUNet`: a diffusers UNet behind the `apply_model(x, t, cond)` that the CompVis wrappers call;
- `A1111CFG`: cond and uncond in one batch (cond first), denoised = uncond + (cond − uncond)·scale;
- `decode_a1111`: VAE decode, clamp((x + 1)/2), ×255, uint8 by truncation.
"""

from __future__ import annotations

import functools
import importlib.util
import sys
import types
from collections.abc import Sequence
from typing import Any

import pytest
import torch

INSTALL_LINE = "pip install --no-deps k-diffusion==0.1.1.post1 torchdiffeq"


def load_k_diffusion() -> tuple[Any, Any]:
    """(k_diffusion.sampling, k_diffusion.external), or a test failure that says how to install them."""
    if "k_diffusion" not in sys.modules:
        spec = importlib.util.find_spec("k_diffusion")  # finds the folder without running its __init__
        if spec is None or not spec.submodule_search_locations:
            pytest.fail(f"k-diffusion (the oracle of these tests) is not installed: {INSTALL_LINE}")
        stand_in = types.ModuleType("k_diffusion")
        stand_in.__path__ = list(spec.submodule_search_locations)
        sys.modules["k_diffusion"] = stand_in
    try:
        import k_diffusion.external
        import k_diffusion.sampling
    except ImportError as error:  # torchdiffeq or torchsde missing
        pytest.fail(f"k-diffusion's sampling module cannot be imported ({error}): {INSTALL_LINE}")
    return k_diffusion.sampling, k_diffusion.external


@functools.cache
def demo_pipeline() -> Any:
    """The bundled demo model as a plain diffusers pipeline, loaded once per test session."""
    from diffusers import StableDiffusionPipeline

    from sdkit.demo import DEMO_MODEL_DIR

    pipeline = StableDiffusionPipeline.from_pretrained(DEMO_MODEL_DIR, local_files_only=True, safety_checker=None,
                                                       requires_safety_checker=False)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


class AlphasModel:
    """The least a CompVis wrapper needs from a model: `alphas_cumprod` (and `apply_model` in subclasses)."""

    def __init__(self, alphas_cumprod: torch.Tensor) -> None:
        self.alphas_cumprod = alphas_cumprod


class CompVisUNet(AlphasModel):
    """A diffusers UNet2DConditionModel seen as an ldm model: apply_model(x, t, cond) -> the raw output."""

    def __init__(self, unet: Any, alphas_cumprod: torch.Tensor) -> None:
        super().__init__(alphas_cumprod)
        self.unet = unet

    def apply_model(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.unet(x, t, encoder_hidden_states=cond, return_dict=False)[0]


class A1111CFG:
    """A1111's CFGDenoiser for one plain prompt: one batch [cond images, uncond images], then the mix."""

    def __init__(self, wrapped: Any, cond: torch.Tensor, uncond: torch.Tensor, scale: float) -> None:
        self.wrapped, self.cond, self.uncond, self.scale = wrapped, cond, uncond, scale

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        images = x.shape[0]
        out = self.wrapped(torch.cat([x, x]), torch.cat([sigma, sigma]), cond=torch.cat([self.cond, self.uncond]))
        uncond_out = out[images:]
        denoised = uncond_out.clone()
        for index in range(images):
            denoised[index] += (out[index] - uncond_out[index]) * (1.0 * self.scale)
        return denoised


class A1111ImageNoise:
    """Per-image CPU generators: `first()` the initial noise, each call the next draw (A1111's ImageRNG)."""

    def __init__(self, seeds: Sequence[int], shape: Sequence[int]) -> None:
        self.shape = tuple(shape)
        self.generators = [torch.Generator("cpu").manual_seed(int(seed)) for seed in seeds]

    def _draw(self) -> torch.Tensor:
        return torch.stack([torch.randn(self.shape, generator=generator) for generator in self.generators])

    def first(self) -> torch.Tensor:
        return self._draw()

    def __call__(self, sigma: Any = None, sigma_next: Any = None) -> torch.Tensor:
        return self._draw()


def brownian_noise_sampler(kd_sampling: Any, x: torch.Tensor, sigmas: torch.Tensor, seeds: Sequence[int]) -> Any:
    """A1111's `create_noise_sampler`: one tree per image of the batch, over the schedule's non-zero range."""
    sigma_min, sigma_max = sigmas[sigmas > 0].min(), sigmas.max()
    return kd_sampling.BrownianTreeNoiseSampler(x, sigma_min, sigma_max, seed=[int(seed) for seed in seeds])


def decode_a1111(vae: Any, latents: torch.Tensor) -> list[Any]:
    """A1111's decode: VAE(latents / scaling), clamp((x + 1)/2, 0, 1), ×255, astype(uint8)."""
    import numpy as np

    with torch.inference_mode():
        decoded = vae.decode(latents / vae.config.scaling_factor, return_dict=False)[0].float()
    pixels = torch.clamp((decoded + 1.0) / 2.0, min=0.0, max=1.0)
    return [(255.0 * np.moveaxis(image.cpu().numpy(), 0, 2)).astype(np.uint8) for image in pixels]


def a1111_lcm_wrapper(kd_sampling: Any, kd_external: Any, model: Any) -> Any:
    """A1111's LCMCompVisDenoiser, restated over k-diffusion's DiscreteEpsDDPMDenoiser (whose quantized
    σ → index is A1111's nearest-σ snap): the model's ᾱ at timesteps 19, 39, …, 999; t = index·20 + 19;
    the UNet's output taken as ε; then c_out·denoised + c_skip·x at 10·t with σ_data = 0.5."""
    skip, original = 20, 50

    class LCMWrapper(kd_external.DiscreteEpsDDPMDenoiser):
        def __init__(self) -> None:
            picked = torch.zeros(original, dtype=torch.float32)
            for offset in range(original):  # filled from the top, as A1111 fills it
                picked[original - 1 - offset] = model.alphas_cumprod[1000 - 1 - offset * skip]
            super().__init__(model, picked, quantize=True)

        def get_sigmas(self, n: int) -> torch.Tensor:
            start, end = self.sigma_to_t(self.sigma_max), self.sigma_to_t(self.sigma_min)
            return kd_sampling.append_zero(self.t_to_sigma(torch.linspace(start, end, n)))

        def sigma_to_t(self, sigma: torch.Tensor, quantize: Any = None) -> torch.Tensor:
            return super().sigma_to_t(sigma, quantize=True) * skip + (skip - 1)

        def t_to_sigma(self, t: torch.Tensor) -> torch.Tensor:
            return super().t_to_sigma(((t - (skip - 1)) / skip).float().clamp(min=0, max=len(self.sigmas) - 1))

        def get_eps(self, x: torch.Tensor, t: torch.Tensor, cond: Any = None) -> torch.Tensor:
            return self.inner_model.apply_model(x, t, cond)

        def forward(self, x: torch.Tensor, sigma: torch.Tensor, **kwargs: Any) -> torch.Tensor:
            denoised = super().forward(x, sigma, **kwargs)
            scaled = self.sigma_to_t(sigma).reshape(-1, *[1] * (x.ndim - 1)) * 10.0
            c_skip = 0.5**2 / (scaled**2 + 0.5**2)
            c_out = scaled / (scaled**2 + 0.5**2) ** 0.5
            return c_out * denoised + c_skip * x

    return LCMWrapper()
