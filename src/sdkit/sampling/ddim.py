"""A1111's own DDIM (reference §10): over ᾱ and integer timesteps rather than σ.

`predict_eps(x, timestep)` is the model's ε at an integer timestep (a v-model's v turned into ε:
ε = sqrt(ᾱ)·v + sqrt(1 − ᾱ)·x; `denoiser.UNetDenoiser.predict_eps` does both, with CFG on ε). x starts
as unit noise (DDIM's x_T), not noise × σ.

A1111-exact: the timestep list (`sigmas.ddim_timesteps`), one evaluation per entry except the first,
each step from ᾱ of its entry to ᾱ of the entry before it, so the last step ends at ᾱ of t = 1, not at
a clean image (that is A1111's rule, kept); η = 0 by default, η > 0 draws noise from `noise`.
`img2img_start`: the init latent noised to ᾱ of one timestep, A1111's start for all its timestep samplers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from sdkit.sampling.steps import StepCallback, StepLoop, Tensor


def sample_ddim(predict_eps: Callable[[Tensor, int], Tensor], x: Tensor, timesteps: Sequence[int],
                alphas_cumprod: Tensor, *, eta: float = 0.0, noise: Callable[[], Tensor] | None = None,
                callback: StepCallback | None = None) -> Tensor:
    """Deterministic (η = 0) DDIM over A1111's `timesteps` (ascending), from the largest down."""
    steps_list = [int(step) for step in timesteps]
    alphas = alphas_cumprod[steps_list]
    # The ᾱ each step lands on: the previous entry's; the first entry's "previous" is timestep 0.
    alphas_previous = alphas_cumprod[[0, *steps_list[:-1]]]
    sqrt_one_minus_alphas = torch.sqrt(1 - alphas)
    # η·sqrt((1 − ᾱ_prev)/(1 − ᾱ)·(1 − ᾱ/ᾱ_prev)) in float64, as A1111 computes it with numpy.
    noise_levels = eta * torch.sqrt((1 - alphas_previous.double()) / (1 - alphas.double())
                                    * (1 - alphas.double() / alphas_previous.double()))
    if eta and noise is None:
        raise ValueError("DDIM with eta > 0 needs a noise source")
    ones = x.new_ones((x.shape[0], 1, 1, 1))
    for i in StepLoop(len(steps_list) - 1, callback):
        index = len(steps_list) - 1 - i
        eps = predict_eps(x, steps_list[index])
        alpha = float(alphas[index]) * ones
        alpha_previous = float(alphas_previous[index]) * ones
        noise_level = float(noise_levels[index]) * ones
        pred_x0 = (x - float(sqrt_one_minus_alphas[index]) * ones * eps) / alpha.sqrt()
        direction = (1.0 - alpha_previous - noise_level**2).sqrt() * eps
        x = alpha_previous.sqrt() * pred_x0 + direction
        if eta:
            x = x + noise_level * noise()
    return x


def img2img_start(init_latents: Tensor, noise: Tensor, alphas_cumprod: Tensor, timestep: int) -> Tensor:
    """x = sqrt(ᾱ_t)·init + sqrt(1 − ᾱ_t)·noise at `timestep` (float32, as A1111's timestep img2img)."""
    alpha = alphas_cumprod[int(timestep)].to(torch.float32)
    return init_latents.to(torch.float32) * alpha.sqrt() + noise * (1 - alpha).sqrt()
