"""A1111's own PLMS (pseudo linear multistep, Liu et al. 2022) over ᾱ and integer timesteps, like its DDIM.

`predict_eps(x, timestep)` as in `ddim.sample_ddim`. The timesteps are A1111's DDIM list
(`sigmas.ddim_timesteps`), run from the largest down; each step is a deterministic DDIM step from ᾱ of
its entry to ᾱ of the entry before it (the first entry lands on timestep 0's ᾱ), taken with a combined ε:
- the first step: the mean of ε here and ε at the DDIM step's landing point (a pseudo improved Euler
  step, two model calls);
- then Adams–Bashforth over the ε of earlier steps: order 2, 3, and from the fourth step on order 4.
So n list entries make n − 1 steps and n model calls. The ε of each step's start is what the history
keeps (not the combined one), as A1111 keeps it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from sdkit.sampling.steps import StepCallback, StepLoop, Tensor

# Adams–Bashforth weights for ε now, ε one step back, two back, three back, by how much history there is.
ADAMS_BASHFORTH = {
    1: ((3, -1), 2),
    2: ((23, -16, 5), 12),
    3: ((55, -59, 37, -9), 24),
}


def _combined_eps(eps: Tensor, history: list[Tensor]) -> Tensor:
    weights, divisor = ADAMS_BASHFORTH[len(history)]
    total = weights[0] * eps
    for weight, earlier in zip(weights[1:], reversed(history), strict=True):
        total = total + weight * earlier
    return total / divisor


def sample_plms(predict_eps: Callable[[Tensor, int], Tensor], x: Tensor, timesteps: Sequence[int],
                alphas_cumprod: Tensor, *, callback: StepCallback | None = None) -> Tensor:
    """PLMS over A1111's `timesteps` (ascending), from the largest down; x starts at ᾱ of the largest."""
    steps_list = [int(step) for step in timesteps]
    alphas = alphas_cumprod[steps_list]
    alphas_previous = alphas_cumprod[[0, *steps_list[:-1]]]
    sqrt_one_minus_alphas = torch.sqrt(1 - alphas)
    ones = x.new_ones((x.shape[0],) + (1,) * (x.dim() - 1))  # per image, as A1111's s_in

    def ddim_step(x: Tensor, eps: Tensor, index: int) -> Tensor:
        alpha_previous = float(alphas_previous[index]) * ones
        pred_x0 = (x - float(sqrt_one_minus_alphas[index]) * ones * eps) / (float(alphas[index]) * ones).sqrt()
        return alpha_previous.sqrt() * pred_x0 + (1.0 - alpha_previous).sqrt() * eps

    history: list[Tensor] = []  # ε at the start of the last (up to) three steps, oldest first
    for i in StepLoop(len(steps_list) - 1, callback):
        index = len(steps_list) - 1 - i
        eps = predict_eps(x, steps_list[index])
        if not history:
            eps_landing = predict_eps(ddim_step(x, eps, index), steps_list[max(index - 1, 0)])
            combined = (eps + eps_landing) / 2
        else:
            combined = _combined_eps(eps, history)
        x = ddim_step(x, combined, index)
        history = [*history, eps][-3:]
    return x
