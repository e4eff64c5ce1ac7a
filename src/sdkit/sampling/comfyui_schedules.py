"""ComfyUI's σ table and its KSampler schedulers (comfy/model_sampling.py, comfy/samplers.py).

`ComfyTable` is ComfyUI's `ModelSamplingDiscrete`: ᾱ and σ = sqrt((1 − ᾱ)/ᾱ) in float64, then σ and log σ
each cast to float32 (sdkit's A1111 `SigmaTable` casts ᾱ first, so an ulp differs here and there).
σ → timestep is the NEAREST table index (argmin of |log σ − log σ_t|, no interpolation); timestep → σ
interpolates log σ linearly between the neighbouring indices.
`comfyui_sigmas` is `KSampler.calculate_sigmas` + `set_steps`: the samplers in
`DISCARD_PENULTIMATE_SIGMA_SAMPLERS` (dpm_2, dpm_2_ancestral, uni_pc, uni_pc_bh2) get n + 1 steps with the
next-to-last σ dropped; `denoise` d < 1 builds int(n/d) steps and keeps the last n + 1 sigmas.
Every schedule returns float32 sigmas as ComfyUI builds them (each σ through a Python float).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from sdkit.sampling.sigmas import exponential_sigmas, karras_sigmas

DISCARD_PENULTIMATE_SIGMA = ("dpm_2", "dpm_2_ancestral", "uni_pc", "uni_pc_bh2")


@dataclass(frozen=True)
class ComfyTable:
    """ComfyUI's discrete σ table (float32 σ and log σ, both cast from float64)."""

    sigmas: torch.Tensor
    log_sigmas: torch.Tensor

    @classmethod
    def from_scheduler_config(cls, config: Mapping[str, Any]) -> ComfyTable:
        steps = int(config.get("num_train_timesteps", 1000))
        start, end = float(config.get("beta_start", 0.00085)), float(config.get("beta_end", 0.012))
        schedule = config.get("beta_schedule", "scaled_linear")
        if schedule == "scaled_linear":  # ComfyUI's (LDM's) "linear"
            betas = torch.linspace(start**0.5, end**0.5, steps, dtype=torch.float64) ** 2
        elif schedule == "linear":  # ComfyUI's "sqrt_linear"
            betas = torch.linspace(start, end, steps, dtype=torch.float64)
        else:
            raise ValueError(f"beta_schedule {schedule!r} is not one ComfyUI's discrete sampling builds here")
        alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
        sigmas = ((1 - alphas_cumprod) / alphas_cumprod) ** 0.5
        return cls(sigmas.float(), sigmas.log().float())

    @property
    def sigma_min(self) -> torch.Tensor:
        return self.sigmas[0]

    @property
    def sigma_max(self) -> torch.Tensor:
        return self.sigmas[-1]

    def timestep(self, sigma: torch.Tensor) -> torch.Tensor:
        """The nearest table index to σ in log σ (an integer tensor shaped like σ)."""
        sigma = torch.as_tensor(sigma)
        distances = sigma.log().to(self.log_sigmas.device) - self.log_sigmas[:, None]
        return distances.abs().argmin(dim=0).view(sigma.shape)

    def sigma(self, timestep: torch.Tensor) -> torch.Tensor:
        """σ at a fractional timestep: log σ interpolated between its two neighbouring indices."""
        t = torch.clamp(torch.as_tensor(timestep).float(), min=0, max=len(self.sigmas) - 1)
        low, high, weight = t.floor().long(), t.ceil().long(), t.frac()
        return ((1 - weight) * self.log_sigmas[low] + weight * self.log_sigmas[high]).exp()

    def sigma_to_t(self, sigma: torch.Tensor) -> torch.Tensor:
        """The UNet's timestep for σ, as ComfyUI's model wrapper gives it (the nearest index, as float)."""
        return self.timestep(sigma).float()


def _floats(values: list[float]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32)


def normal_sigmas(table: ComfyTable, n: int, sgm: bool = False) -> torch.Tensor:
    """"normal": n timesteps linear from t(σ_max) to t(σ_min), then 0; "sgm_uniform": n + 1 without the last."""
    start, end = table.timestep(table.sigma_max), table.timestep(table.sigma_min)
    if sgm:
        timesteps = torch.linspace(start, end, n + 1)[:-1]
        ends_at_zero = False
    else:
        # A table whose σ(t_min) is 0 gets one more step instead of a final 0 (not so for SD's tables).
        ends_at_zero = math.isclose(float(table.sigma(end)), 0, abs_tol=0.00001)
        timesteps = torch.linspace(start, end, n + 1 if ends_at_zero else n)
    values = [float(table.sigma(step)) for step in timesteps]
    return _floats(values if ends_at_zero else [*values, 0.0])


def simple_sigmas(table: ComfyTable, n: int) -> torch.Tensor:
    """"simple": every (N/n)-th table σ from the top, then 0."""
    stride = len(table.sigmas) / n
    return _floats([float(table.sigmas[-(1 + int(index * stride))]) for index in range(n)] + [0.0])


def ddim_uniform_sigmas(table: ComfyTable, n: int) -> torch.Tensor:
    """"ddim_uniform": table σ at 1, 1 + N//n, … reversed, then 0 (a zero σ_1 takes one more step instead)."""
    starts_at_zero = math.isclose(float(table.sigmas[1]), 0, abs_tol=0.00001)
    stride = max(len(table.sigmas) // (n + 1 if starts_at_zero else n), 1)
    picked = [float(table.sigmas[index]) for index in range(1, len(table.sigmas), stride)]
    return _floats(picked[::-1] if starts_at_zero else [*picked[::-1], 0.0])


def beta_sigmas(table: ComfyTable, n: int, alpha: float = 0.6, beta: float = 0.6) -> torch.Tensor:
    """"beta": table σ at the rounded Beta(α, β) quantiles of 1 − i/n (repeats dropped), then 0."""
    import numpy as np
    from scipy import stats

    total = len(table.sigmas) - 1
    timesteps = np.rint(stats.beta.ppf(1 - np.linspace(0, 1, n, endpoint=False), alpha, beta) * total)
    picked, last = [], -1.0
    for timestep in timesteps:
        if timestep != last:
            picked.append(float(table.sigmas[int(timestep)]))
        last = timestep
    return _floats([*picked, 0.0])


def linear_quadratic_sigmas(table: ComfyTable, n: int, threshold_noise: float = 0.025) -> torch.Tensor:
    """"linear_quadratic" (Mochi's): 1 − a linear then quadratic ramp, times σ_max."""
    if n == 1:
        ramp = [1.0, 0.0]
    else:
        linear_steps = n // 2
        linear = [i * threshold_noise / linear_steps for i in range(linear_steps)]
        step_difference = linear_steps - threshold_noise * n
        quadratic_steps = n - linear_steps
        quadratic_coefficient = step_difference / (linear_steps * quadratic_steps**2)
        linear_coefficient = threshold_noise / linear_steps - 2 * step_difference / (quadratic_steps**2)
        constant = quadratic_coefficient * (linear_steps**2)
        quadratic = [quadratic_coefficient * (i**2) + linear_coefficient * i + constant
                     for i in range(linear_steps, n)]
        ramp = [1.0 - value for value in [*linear, *quadratic, 1.0]]
    return _floats(ramp) * table.sigma_max.cpu()


def kl_optimal_sigmas(n: int, sigma_min: float, sigma_max: float) -> torch.Tensor:
    """"kl_optimal": tan of a linear ramp from atan σ_max to atan σ_min over n points, then 0."""
    fraction = torch.arange(n, dtype=torch.float32).div_(n - 1)
    sigmas = fraction.new_zeros(n + 1)
    sigmas[:-1] = (fraction * math.atan(sigma_min) + (1 - fraction) * math.atan(sigma_max)).tan_()
    return sigmas


def schedule_sigmas(schedule_id: str, table: ComfyTable, n: int) -> torch.Tensor:
    """ComfyUI's `calculate_sigmas(model_sampling, scheduler, n)` under sdkit's schedule id."""
    low, high = float(table.sigma_min), float(table.sigma_max)
    by_id = {
        "normal": lambda: normal_sigmas(table, n),
        "karras": lambda: karras_sigmas(n, low, high),
        "exponential": lambda: exponential_sigmas(n, low, high),
        "sgm_uniform": lambda: normal_sigmas(table, n, sgm=True),
        "simple": lambda: simple_sigmas(table, n),
        "ddim_uniform": lambda: ddim_uniform_sigmas(table, n),
        "beta": lambda: beta_sigmas(table, n),
        "linear_quadratic": lambda: linear_quadratic_sigmas(table, n),
        "kl_optimal": lambda: kl_optimal_sigmas(n, low, high),
    }
    if schedule_id not in by_id:
        raise ValueError(f"schedule {schedule_id!r} is not one of ComfyUI's schedulers: {', '.join(by_id)}")
    return by_id[schedule_id]()


SCHEDULE_IDS = ("normal", "karras", "exponential", "sgm_uniform", "simple", "ddim_uniform", "beta",
                "linear_quadratic", "kl_optimal")


def comfyui_sigmas(sampler_id: str, schedule_id: str, table: ComfyTable, steps: int,
                   denoise: float = 1.0) -> torch.Tensor:
    """The sigmas ComfyUI's KSampler(sampler, scheduler, steps, denoise) runs ("automatic" = normal)."""
    schedule_id = "normal" if schedule_id == "automatic" else schedule_id

    def calculated(n: int) -> torch.Tensor:
        if sampler_id in DISCARD_PENULTIMATE_SIGMA:
            sigmas = schedule_sigmas(schedule_id, table, n + 1)
            return torch.cat([sigmas[:-2], sigmas[-1:]])
        return schedule_sigmas(schedule_id, table, n)

    if denoise is None or denoise > 0.9999:
        return calculated(steps)
    if denoise <= 0.0:
        return torch.zeros(0)
    return calculated(int(steps / denoise))[-(steps + 1):]
