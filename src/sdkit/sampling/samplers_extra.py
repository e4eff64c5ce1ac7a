"""A1111's two samplers of its own, LCM and Restart, over (denoise, x, sigmas, noise=...).

LCM (A1111 modules/sd_samplers_lcm.py): each step takes the denoised estimate as x and, unless the next
σ is 0, adds fresh noise × σ_next from the per-image generators. What makes it LCM is A1111's denoiser
wrapper around the UNet (`lcm_denoiser`, its table `LCMTable`):
- the table is the model's ᾱ at the 50 "original" LCM timesteps 19, 39, …, 999 (every 20th of 1000);
- σ → t snaps to the nearest of those σ (in log σ) and returns its timestep, an integer; t → σ maps a
  timestep back to a fractional index (t − 19)/20 and interpolates log σ; "Uniform" (A1111's Automatic
  for LCM) is t = linspace(999, 19, n) through that map;
- the UNet's output is taken as ε whatever the model's prediction type (A1111 does so: LCM models are ε),
  then the consistency boundary condition with σ_data = 0.5 on the scaled timestep 10·t:
  c_skip = 0.25/((10t)² + 0.25), c_out = 10t/sqrt((10t)² + 0.25), output c_out·(x − σ·ε) + c_skip·x,
  applied to cond and uncond outputs before A1111's CFG.
Restart (Xu et al. 2023, A1111 modules/sd_samplers_extra.py `restart_sampler`): Heun steps over the
sigmas; with 20 steps or more, A1111 re-plans the schedule: Karras over steps − k·K sigmas from the
schedule's smallest non-zero σ to its largest (k = 9, K = 1; from 36 steps k = steps // 4, K = 2), and
after the step that lands nearest σ = 0.1 it goes back up to the σ nearest 2 (adding noise of variance
σ_top² − σ_now², from the per-image generators) and runs K times a Karras ladder of k + 1 sigmas down
again. Under 20 steps Restart is plain Heun on its (Karras) schedule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from sdkit.sampling.samplers_ode import sample_heun
from sdkit.sampling.sigmas import SigmaTable, karras_sigmas
from sdkit.sampling.steps import Denoise, Noise, StepCallback, StepLoop, Tensor, steps

LCM_ORIGINAL_STEPS = 50  # A1111's "LCM Original Timesteps"
LCM_SIGMA_DATA = 0.5
LCM_TIMESTEP_SCALING = 10.0


@dataclass(frozen=True)
class LCMTable(SigmaTable):
    """A1111's LCM σ table: the model's ᾱ every `skip_steps`-th training step (ending at the last)."""

    skip_steps: int = 20

    @classmethod
    def from_table(cls, table: SigmaTable, original_steps: int = LCM_ORIGINAL_STEPS) -> LCMTable:
        if isinstance(table, LCMTable):
            return table
        skip = len(table.alphas_cumprod) // original_steps
        picked = SigmaTable.from_alphas_cumprod(table.alphas_cumprod[skip - 1::skip][:original_steps])
        return cls(picked.alphas_cumprod, picked.sigmas, picked.log_sigmas, skip_steps=skip)

    def sigma_to_t(self, sigma: torch.Tensor) -> torch.Tensor:
        """The integer timestep of the table σ nearest `sigma` in log σ (no interpolation)."""
        log_sigma = torch.as_tensor(sigma, dtype=torch.float32).log()
        distances = (log_sigma.reshape(1, -1) - self.log_sigmas[:, None]).abs()
        nearest = distances.argmin(dim=0).reshape(log_sigma.shape)
        return nearest * self.skip_steps + (self.skip_steps - 1)

    def t_to_sigma(self, t: torch.Tensor) -> torch.Tensor:
        index = ((torch.as_tensor(t) - (self.skip_steps - 1)) / self.skip_steps).float()
        return super().t_to_sigma(index.clamp(min=0, max=len(self.sigmas) - 1))

    def uniform_sigmas(self, n: int) -> torch.Tensor:
        """Timesteps evenly spaced from the top table entry's to the bottom one's, mapped to σ; final 0."""
        start, end = self.sigma_to_t(self.sigmas[-1]), self.sigma_to_t(self.sigmas[0])
        sigmas = self.t_to_sigma(torch.linspace(float(start), float(end), n))
        return torch.cat([sigmas, sigmas.new_zeros([1])])

    def consistency_output(self, sigma: torch.Tensor, denoised: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """LCM's boundary condition: c_out·denoised + c_skip·x at the scaled timestep 10·t(σ)."""
        scaled = self.sigma_to_t(sigma) * LCM_TIMESTEP_SCALING
        c_skip = LCM_SIGMA_DATA**2 / (scaled**2 + LCM_SIGMA_DATA**2)
        c_out = scaled / (scaled**2 + LCM_SIGMA_DATA**2) ** 0.5
        return c_out * denoised + c_skip * x


def lcm_denoiser(denoiser: Any, table: SigmaTable) -> Any:
    """A1111's LCM wrapper around a `denoiser.UNetDenoiser` (ε, LCM's σ ↔ t, the boundary condition).

    A plain `denoise(x, σ)` without `with_schedule` (a toy model) is returned as it is: it is taken to
    be an LCM denoiser already. Calling this twice changes nothing the second time.
    """
    if not hasattr(denoiser, "with_schedule") or isinstance(getattr(denoiser, "table", None), LCMTable):
        return denoiser
    lcm_table = LCMTable.from_table(table)
    return denoiser.with_schedule(lcm_table, prediction_type="epsilon", output_scaling=lcm_table.consistency_output)


def sample_lcm(denoise: Denoise, x: Tensor, sigmas: Tensor, *, noise: Noise,
               callback: StepCallback | None = None) -> Tensor:
    """x ← D(x; σ), then + σ_next · fresh noise while σ_next > 0."""
    for i in steps(sigmas, callback):
        x = denoise(x, sigmas[i])
        if sigmas[i + 1] > 0:
            x = x + sigmas[i + 1] * noise(sigmas[i], sigmas[i + 1])
    return x


def _nearest_index(sigmas: Tensor, level: float) -> int:
    return int(torch.argmin((sigmas - level).abs(), dim=0))


def restart_steps(sigmas: Tensor) -> list[tuple[Tensor, Tensor]]:
    """The (σ, σ_next) pairs A1111's Restart runs for these sigmas (A1111's automatic restart list)."""
    count = len(sigmas) - 1
    restarts: dict[float, tuple[int, int, float]] = {}
    if count >= 20:
        segment, times = (count // 4, 2) if count >= 36 else (9, 1)
        sigmas = karras_sigmas(count - segment * times, float(sigmas[-2]), float(sigmas[0]))
        restarts = {0.1: (segment + 1, times, 2.0)}
    after_index = {_nearest_index(sigmas, level): plan for level, plan in restarts.items()}
    pairs = []
    for i in range(len(sigmas) - 1):
        pairs.append((sigmas[i], sigmas[i + 1]))
        if i + 1 in after_index:
            ladder_length, times, top = after_index[i + 1]
            top_index = _nearest_index(sigmas, top)
            if top_index < i + 1:  # the restart goes back up
                ladder = karras_sigmas(ladder_length, float(sigmas[i + 1]), float(sigmas[top_index]))[:-1]
                pairs.extend(list(zip(ladder[:-1], ladder[1:], strict=True)) * times)
    return pairs


def sample_restart(denoise: Denoise, x: Tensor, sigmas: Tensor, *, noise: Noise,
                   callback: StepCallback | None = None) -> Tensor:
    """Heun along `restart_steps(sigmas)`; where a pair starts above where the last ended, noise lifts x there."""
    pairs = restart_steps(sigmas)
    reached = None
    for index in StepLoop(len(pairs), callback):
        sigma, sigma_next = pairs[index]
        if reached is not None and reached < sigma:
            x = x + noise(reached, sigma) * (sigma**2 - reached**2) ** 0.5
        x = sample_heun(denoise, x, torch.stack([sigma, sigma_next]))
        reached = sigma_next
    return x
