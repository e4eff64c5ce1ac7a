"""Latents as ComfyUI's KSampler computes them, independent of any engine (issue 16).

`comfyui_latents` is ComfyUI's KSampler node (nodes.py `common_ksampler` → comfy/sample.py → comfy/samplers.py
`KSampler`/`CFGGuider`/`KSAMPLER.sample`) on sdkit's denoisers:
- noise: `comfyui_noise` (one generator for the whole batch; `ComfyBatch` says which images this call draws);
- start: x = noise·sqrt(1 + σ₀²) + latent when σ₀ is the table's σ_max (ComfyUI's max_denoise), else
  noise·σ₀ + latent; the latent is zeros for txt2img (EmptyLatentImage), the init latent for img2img;
- sigmas: `comfyui_schedules.comfyui_sigmas` (KSampler's scheduler, denoise and discard rules);
- model: a `UNetDenoiser` is wrapped in `ComfyUNet` (ComfyUI's σ → nearest timestep, x/sqrt(σ² + 1),
  its EPS/V_PREDICTION denoised formulas in its float order, uncond before cond in the UNet batch, CFG
  uncond + (cond − uncond)·scale, cfg 1 without uncond); any other denoise(x, σ) is used as it is;
- inpaint (`latent_mask`, 1 = redraw, at latent size): ComfyUI's KSamplerX0Inpaint. Before every model
  call x = x·m + (noise·σ + latent)·(1 − m) with the same initial noise (ComfyUI's "ddim": a second
  noise seeded seed + 1), and denoised = denoised·m + latent·(1 − m); no blend after the last step;
- samplers: k-diffusion's where ComfyUI kept them, `comfyui_samplers` where it rewrote them; "ddim" is
  ComfyUI's (Euler, with its own inpaint noise).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from sdkit.sampling import comfyui_samplers as comfy
from sdkit.sampling import samplers_ode as ode
from sdkit.sampling import samplers_stochastic as stochastic
from sdkit.sampling.comfyui_noise import BatchBrownianNoise, ComfyBatch, StepNoise, initial_noise
from sdkit.sampling.comfyui_schedules import SCHEDULE_IDS, ComfyTable, comfyui_sigmas
from sdkit.sampling.denoiser import UNetDenoiser
from sdkit.sampling.steps import StepCallback

__all__ = ["COMFYUI_SAMPLER_IDS", "COMFYUI_SCHEDULES", "ComfyBatch", "ComfyTable", "ComfyUNet",
           "comfyui_latents", "comfyui_sigmas"]


@dataclass(frozen=True)
class ComfySampler:
    """One ComfyUI sampler under its sdkit id: its function and which noise it draws."""

    function: Callable[..., Any]
    noise: str = "none"  # "none", "step" (default_noise_sampler) or "brownian" (BrownianTreeNoiseSampler)
    options: tuple[tuple[str, Any], ...] = ()
    random_inpaint_noise: bool = False  # ComfyUI's "ddim": inpaint_options {"random": True}


# Keyed by sdkit's sampler ids; ComfyUI's `_gpu` names are aliases of these in samplers/builtin.py
# (dpmpp_sde_gpu, dpmpp_2m_sde_gpu, dpmpp_2m_sde_heun_gpu, dpmpp_3m_sde_gpu): ComfyUI builds their
# Brownian tree on the model's device, which on a CPU is the same tree.
SAMPLERS: dict[str, ComfySampler] = {
    "euler": ComfySampler(ode.sample_euler),
    "euler_ancestral": ComfySampler(comfy.sample_euler_ancestral, noise="step"),
    "heun": ComfySampler(ode.sample_heun),
    "dpm_2": ComfySampler(ode.sample_dpm_2),
    "dpm_2_ancestral": ComfySampler(stochastic.sample_dpm_2_ancestral, noise="step"),
    "lms": ComfySampler(comfy.sample_lms),
    "dpmpp_2s_ancestral": ComfySampler(stochastic.sample_dpmpp_2s_ancestral, noise="step"),
    "dpmpp_sde": ComfySampler(comfy.sample_dpmpp_sde, noise="brownian"),
    "dpmpp_2m": ComfySampler(ode.sample_dpmpp_2m),
    "dpmpp_2m_sde": ComfySampler(comfy.sample_dpmpp_2m_sde, noise="brownian"),
    "dpmpp_2m_sde_heun": ComfySampler(comfy.sample_dpmpp_2m_sde, noise="brownian",
                                      options=(("solver_type", "heun"),)),
    "dpmpp_3m_sde": ComfySampler(comfy.sample_dpmpp_3m_sde, noise="brownian"),
    "ddim": ComfySampler(ode.sample_euler, random_inpaint_noise=True),
    "lcm": ComfySampler(comfy.sample_lcm, noise="step"),
    "ddpm": ComfySampler(comfy.sample_ddpm, noise="step"),
    "ipndm": ComfySampler(comfy.sample_ipndm),
    "ipndm_v": ComfySampler(comfy.sample_ipndm_v),
}
COMFYUI_SAMPLER_IDS: tuple[str, ...] = tuple(SAMPLERS)
COMFYUI_SCHEDULES: tuple[str, ...] = SCHEDULE_IDS


class ComfyUNet:
    """ComfyUI's model wrapper and CFG over a `UNetDenoiser`'s UNet and prompts: `denoise(x, σ)`."""

    def __init__(self, inner: UNetDenoiser, table: ComfyTable) -> None:
        self.inner, self.table = inner, table

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        sigma = torch.as_tensor(sigma, dtype=torch.float32)
        scaled = x / (sigma**2 + 1.0) ** 0.5
        timesteps = self.table.sigma_to_t(sigma).reshape(1).expand(x.shape[0]).contiguous()
        cond, uncond = self.inner.model_outputs(scaled, timesteps, uncond_first=True)
        cond = self._denoised(x, sigma, cond)
        if uncond is None:
            return cond
        uncond = self._denoised(x, sigma, uncond)
        return uncond + (cond - uncond) * self.inner.cfg_scale

    def _denoised(self, x: torch.Tensor, sigma: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
        # ComfyUI's calculate_denoised with sigma_data = 1 (its ×1.0 factors are exact and left out).
        if self.inner.prediction_type == "v_prediction":
            return x / (sigma**2 + 1.0) - output * sigma / (sigma**2 + 1.0) ** 0.5
        return x - output * sigma


class InpaintDenoiser:
    """ComfyUI's KSamplerX0Inpaint: keep the unmasked latent, noised to the current σ, around each call."""

    def __init__(self, inner: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], latent: torch.Tensor,
                 noise: torch.Tensor, mask: torch.Tensor) -> None:
        self.inner, self.latent, self.noise, self.mask = inner, latent, noise, mask

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        kept = 1.0 - self.mask
        x = x * self.mask + (self.noise * sigma + self.latent) * kept
        return self.inner(x, sigma) * self.mask + self.latent * kept


def _noise_source(kind: str, x: torch.Tensor, sigmas: torch.Tensor, batch: ComfyBatch) -> Any:
    if kind == "step":
        return StepNoise(x, batch)
    return BatchBrownianNoise.for_sigmas(x, sigmas, batch)


def comfyui_latents(denoiser: Any, sampler_id: str, *, table: ComfyTable, steps: int, batch: ComfyBatch,
                    latent_shape: Sequence[int], schedule: str = "automatic", denoise: float = 1.0,
                    init_latents: torch.Tensor | None = None, latent_mask: torch.Tensor | None = None,
                    callback: StepCallback | None = None) -> torch.Tensor:
    """The sampled latents of `batch.positions` (len(positions), C, H/8, W/8), float32, as ComfyUI's KSampler.

    `init_latents` (img2img, inpaint): the scaled init latents of those images (one row repeats);
    `latent_mask` (inpaint): 1 = redraw, broadcastable to the latents.
    """
    if sampler_id not in SAMPLERS:
        raise ValueError(f"sampler {sampler_id!r} has no ComfyUI-faithful path; these do: {', '.join(SAMPLERS)}")
    sampler = SAMPLERS[sampler_id]
    device = init_latents.device if init_latents is not None else torch.device("cpu")
    model = ComfyUNet(denoiser, table) if isinstance(denoiser, UNetDenoiser) else denoiser
    images = len(batch.positions)
    shape = (images, *latent_shape)
    latent = torch.zeros(shape, device=device) if init_latents is None else \
        init_latents.to(torch.float32).expand(shape).clone()
    sigmas = comfyui_sigmas(sampler_id, schedule, table, steps, denoise).to(device)
    if len(sigmas) == 0:
        return latent
    noise = initial_noise(batch, latent_shape).to(device)
    if latent_mask is not None:
        inpaint_noise = initial_noise(batch, latent_shape, seed_offset=1).to(device) \
            if sampler.random_inpaint_noise else noise
        model = InpaintDenoiser(model, latent, inpaint_noise, latent_mask.to(device, torch.float32))
    sigma_max, first = float(table.sigma_max), float(sigmas[0])
    if math.isclose(sigma_max, first, rel_tol=1e-05) or first > sigma_max:
        x = noise * torch.sqrt(1.0 + sigmas[0] ** 2.0) + latent
    else:
        x = noise * sigmas[0] + latent
    options: dict[str, Any] = dict(sampler.options)
    if sampler.noise != "none":
        options["noise"] = _noise_source(sampler.noise, x, sigmas, batch)
    return sampler.function(model, x, sigmas, callback=callback, **options)
