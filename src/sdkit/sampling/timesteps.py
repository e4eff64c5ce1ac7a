"""A1111's timestep samplers (DDIM, PLMS, UniPC): their timesteps and start for txt2img and img2img.

A1111 v1.10 runs these over integer timesteps and ᾱ (`CompVisSampler`), not over sigmas; the model
gives ε (`predict_eps(x, timestep)`; a v-model's v is turned into ε). All three take A1111's DDIM
list (`sigmas.ddim_timesteps`: k·(N // n) + 1, so len ≥ n):
- txt2img: x = unit noise at the list's top; DDIM and PLMS run the list, UniPC only takes its length
  as its step count and runs its own times from t = 1;
- img2img (§8's step rule, `run.img2img_schedule`: t_enc steps encoded of a `total`-step schedule):
  x = sqrt(ᾱ)·init + sqrt(1 − ᾱ)·noise at entry t_enc of the list, and the sampler gets the first
  t_enc entries. DDIM and PLMS then start at entry t_enc − 1 (one below the noise level, as A1111 does);
  UniPC runs t_enc steps from continuous time (entry t_enc − 1 + 1)/1000 (A1111's own comment calls it
  "likely off by a bit"; kept). So with t_enc ≤ 1 DDIM and PLMS make no model call and the noised init
  comes back; UniPC does so at t_enc = 0 (A1111 fails there, and below t_enc = 3; sdkit lowers the order).
Inpaint's mask for these samplers acts on the model's input (A1111's `mask_before_denoising`): the
engine's denoiser blends x with the clean init latent before each call (`engines/sd/a1111.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from sdkit.sampling.ddim import img2img_start, sample_ddim
from sdkit.sampling.plms import sample_plms
from sdkit.sampling.sigmas import ddim_timesteps
from sdkit.sampling.steps import StepCallback
from sdkit.sampling.unipc import sample_unipc

TIMESTEP_SAMPLERS = ("ddim", "plms", "uni_pc")
# A1111's UniPC options (shared_options.py defaults): variant, skip type, order, lower order final.
UNIPC_OPTIONS = {"variant": "bh1", "skip_type": "time_uniform", "order": 3, "lower_order_final": True}

PredictEps = Callable[[torch.Tensor, float], torch.Tensor]


def sample_timesteps(sampler_id: str, predict_eps: PredictEps, x: torch.Tensor, timesteps: Sequence[int],
                     alphas_cumprod: torch.Tensor, *, img2img: bool = False,
                     callback: StepCallback | None = None) -> torch.Tensor:
    """Run timestep sampler `sampler_id` from x over A1111's `timesteps` (ascending)."""
    if sampler_id == "ddim":
        return sample_ddim(predict_eps, x, timesteps, alphas_cumprod, callback=callback)
    if sampler_id == "plms":
        return sample_plms(predict_eps, x, timesteps, alphas_cumprod, callback=callback)
    if sampler_id == "uni_pc":
        # float32 as A1111's tensors: int timestep / 1000 + 1/1000
        t_start = float(torch.tensor(timesteps[-1]) / 1000 + 1 / 1000) if img2img and len(timesteps) else None
        return sample_unipc(predict_eps, x, alphas_cumprod, len(timesteps), t_start=t_start, callback=callback,
                            **UNIPC_OPTIONS)
    raise ValueError(f"{sampler_id!r} is not one of A1111's timestep samplers ({', '.join(TIMESTEP_SAMPLERS)})")


def txt2img_timesteps(sampler_id: str, predict_eps: PredictEps, noise: torch.Tensor, steps: int,
                      alphas_cumprod: torch.Tensor, *, callback: StepCallback | None = None) -> torch.Tensor:
    """txt2img latents from unit `noise` in `steps` steps."""
    timesteps = ddim_timesteps(steps, len(alphas_cumprod))
    return sample_timesteps(sampler_id, predict_eps, noise, timesteps, alphas_cumprod, callback=callback)


def img2img_timesteps(sampler_id: str, predict_eps: PredictEps, init_latents: torch.Tensor, noise: torch.Tensor,
                      total: int, encoded: int, alphas_cumprod: torch.Tensor, *,
                      callback: StepCallback | None = None) -> torch.Tensor:
    """img2img latents: `encoded` (t_enc) of a `total`-step schedule, from the noised init latents."""
    timesteps = ddim_timesteps(total, len(alphas_cumprod))
    start = img2img_start(init_latents, noise, alphas_cumprod, timesteps[encoded])
    return sample_timesteps(sampler_id, predict_eps, start, timesteps[:encoded], alphas_cumprod, img2img=True,
                            callback=callback)
