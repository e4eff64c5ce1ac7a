"""A model's noise levels and A1111's sigma schedules (reference §10, shared/reference/samplers.md B3).

`SigmaTable.from_scheduler_config` builds the model's 1000 training-step noise levels the way A1111's
k-diffusion wrappers hold them: ᾱ from the beta schedule in float64, stored as float32, then
σ = sqrt((1 − ᾱ)/ᾱ) in float32. `sigma_to_t` / `t_to_sigma` interpolate log σ against the step index
(fractional, never rounded). Each schedule returns a float32 tensor of n + 1 sigmas, largest first,
ending at 0 (KL Optimal ends at σ_min, as A1111's does).

A1111-exact (same formula, same float32 order of operations as far as the facts say): the table,
"Automatic"/"Uniform" (the model's discretization), Karras, Exponential, Polyexponential, Normal,
SGM Uniform, Simple, DDIM (schedule type), KL Optimal, and A1111's DDIM sampler timesteps.
Beta: the formula is A1111's, its α = β = 0.6 defaults are from the reference's unverified memory.
Not here: Align Your Steps (its NVIDIA tables are not in the reference), Linear Quadratic.
Imported only by the engine side: torch at module level.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

SCHEDULES_WITHOUT_FACTS = ("align_your_steps", "linear_quadratic")


@dataclass(frozen=True)
class SigmaTable:
    """The model's ᾱ and σ at each training step t = 0 … N−1 (float32), with log σ for interpolation."""

    alphas_cumprod: torch.Tensor
    sigmas: torch.Tensor
    log_sigmas: torch.Tensor
    # sqrt(ᾱ) and sqrt(1 − ᾱ) taken of the float64 ᾱ, then stored float32: the ldm model's buffers, with
    # which A1111's timestep samplers turn a v-model's v into ε. Square roots of the float32 ᾱ differ from
    # them by an ulp at about a third of the timesteps. None when only float32 ᾱ were given.
    sqrt_alphas: torch.Tensor | None = None
    sqrt_one_minus_alphas: torch.Tensor | None = None

    @classmethod
    def from_scheduler_config(cls, config: Mapping[str, Any]) -> SigmaTable:
        """From a diffusers scheduler config: beta_start, beta_end, beta_schedule, num_train_timesteps."""
        steps = int(config.get("num_train_timesteps", 1000))
        beta_start = float(config.get("beta_start", 0.00085))
        beta_end = float(config.get("beta_end", 0.012))
        schedule = config.get("beta_schedule", "scaled_linear")
        if schedule == "scaled_linear":  # LDM's "linear": linear in sqrt(β)
            betas = torch.linspace(beta_start**0.5, beta_end**0.5, steps, dtype=torch.float64) ** 2
        elif schedule == "linear":
            betas = torch.linspace(beta_start, beta_end, steps, dtype=torch.float64)
        else:
            raise ValueError(f"beta_schedule {schedule!r} is not one A1111 samples (scaled_linear, linear)")
        alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
        table = cls.from_alphas_cumprod(alphas_cumprod.to(torch.float32))
        return cls(table.alphas_cumprod, table.sigmas, table.log_sigmas,
                   sqrt_alphas=alphas_cumprod.sqrt().to(torch.float32),
                   sqrt_one_minus_alphas=(1.0 - alphas_cumprod).sqrt().to(torch.float32))

    @classmethod
    def from_alphas_cumprod(cls, alphas_cumprod: torch.Tensor) -> SigmaTable:
        alphas_cumprod = alphas_cumprod.to(torch.float32)
        sigmas = ((1 - alphas_cumprod) / alphas_cumprod) ** 0.5
        return cls(alphas_cumprod, sigmas, sigmas.log())

    def v_to_eps_coefficients(self, timestep: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(sqrt(ᾱ_t), sqrt(1 − ᾱ_t)) at integer `timestep`, for ε = sqrt(ᾱ)·v + sqrt(1 − ᾱ)·x."""
        if self.sqrt_alphas is None or self.sqrt_one_minus_alphas is None:
            alpha = self.alphas_cumprod[timestep]
            return alpha.sqrt(), (1 - alpha).sqrt()
        return self.sqrt_alphas[timestep], self.sqrt_one_minus_alphas[timestep]

    @property
    def sigma_min(self) -> float:
        return float(self.sigmas[0])

    @property
    def sigma_max(self) -> float:
        return float(self.sigmas[-1])

    def sigma_to_t(self, sigma: torch.Tensor) -> torch.Tensor:
        """The fractional training step whose log σ is log `sigma` (clamped to the table's ends)."""
        log_sigma = torch.as_tensor(sigma, dtype=torch.float32).log()
        # The last table entry at or below log σ; the pair (low, low + 1) brackets it.
        low_index = (torch.searchsorted(self.log_sigmas, log_sigma.reshape(-1), right=True) - 1)
        low_index = low_index.clamp(0, len(self.log_sigmas) - 2).reshape(log_sigma.shape)
        low, high = self.log_sigmas[low_index], self.log_sigmas[low_index + 1]
        weight = ((low - log_sigma) / (low - high)).clamp(0, 1)
        return (1 - weight) * low_index + weight * (low_index + 1)

    def t_to_sigma(self, t: torch.Tensor) -> torch.Tensor:
        """σ at fractional step `t`: log σ interpolated linearly between the neighbouring integer steps."""
        t = torch.as_tensor(t, dtype=torch.float32)
        low_index, high_index, weight = t.floor().long(), t.ceil().long(), t.frac()
        return ((1 - weight) * self.log_sigmas[low_index] + weight * self.log_sigmas[high_index]).exp()

    def uniform_sigmas(self, n: int) -> torch.Tensor:
        """A1111 "Uniform": the model wrapper's own n-step discretization (`discretization_sigmas`).

        A method, so a sampler with a table of its own (A1111's LCM: `samplers_extra.LCMTable`) brings
        its own discretization, as A1111's LCM denoiser has its own `get_sigmas`.
        """
        return discretization_sigmas(self, n)


def _append_zero(sigmas: torch.Tensor) -> torch.Tensor:
    return torch.cat([sigmas, sigmas.new_zeros([1])])


def discretization_sigmas(table: SigmaTable, n: int) -> torch.Tensor:
    """A1111 "Automatic"/"Uniform" for samplers without their own default: t = linspace(N−1, 0, n), final 0."""
    return _append_zero(table.t_to_sigma(torch.linspace(len(table.sigmas) - 1, 0, n)))


def karras_sigmas(n: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> torch.Tensor:
    """Karras et al. 2022, eq. 5: σ_i = (σ_max^(1/ρ) + i/(n−1)·(σ_min^(1/ρ) − σ_max^(1/ρ)))^ρ, final 0."""
    ramp = torch.linspace(0, 1, n)
    min_inv_rho, max_inv_rho = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return _append_zero((max_inv_rho + ramp * (min_inv_rho - max_inv_rho)) ** rho)


def exponential_sigmas(n: int, sigma_min: float, sigma_max: float) -> torch.Tensor:
    """Log-uniform from σ_max to σ_min, final 0."""
    return _append_zero(torch.linspace(math.log(sigma_max), math.log(sigma_min), n).exp())


def polyexponential_sigmas(n: int, sigma_min: float, sigma_max: float, rho: float = 1.0) -> torch.Tensor:
    """log σ = log σ_min + ramp^ρ·(log σ_max − log σ_min), ramp from 1 to 0; ρ = 1 is Exponential."""
    ramp = torch.linspace(1, 0, n) ** rho
    return _append_zero(torch.exp(ramp * (math.log(sigma_max) - math.log(sigma_min)) + math.log(sigma_min)))


def normal_sigmas(table: SigmaTable, n: int, sgm: bool = False) -> torch.Tensor:
    """A1111 "Normal": n steps evenly spaced in t from t(σ_max) to t(σ_min); `sgm` drops the last of n + 1."""
    start = table.sigma_to_t(torch.tensor(table.sigma_max))
    end = table.sigma_to_t(torch.tensor(table.sigma_min))
    timesteps = torch.linspace(float(start), float(end), n + 1)[:-1] if sgm else \
        torch.linspace(float(start), float(end), n)
    return _append_zero(torch.stack([table.t_to_sigma(step) for step in timesteps]))


def sgm_uniform_sigmas(table: SigmaTable, n: int) -> torch.Tensor:
    """A1111 "SGM Uniform": `normal_sigmas` over n + 1 points without the last."""
    return normal_sigmas(table, n, sgm=True)


def simple_sigmas(table: SigmaTable, n: int) -> torch.Tensor:
    """A1111 "Simple": every (N/n)-th table σ from the top, final 0."""
    stride = len(table.sigmas) / n
    return _append_zero(torch.stack([table.sigmas[-(1 + int(index * stride))] for index in range(n)]))


def ddim_uniform_sigmas(table: SigmaTable, n: int) -> torch.Tensor:
    """A1111 "DDIM" schedule type: every (N // n)-th table σ from index 1 upwards, reversed, final 0."""
    stride = max(len(table.sigmas) // n, 1)
    picked = table.sigmas[1::stride]
    return _append_zero(picked.flip(0))


def kl_optimal_sigmas(n: int, sigma_min: float, sigma_max: float) -> torch.Tensor:
    """"KL Optimal": tan of a linear ramp from arctan σ_max to arctan σ_min; n + 1 values, no final 0."""
    alpha_min = torch.arctan(torch.tensor(sigma_min))
    alpha_max = torch.arctan(torch.tensor(sigma_max))
    fraction = torch.arange(n + 1) / n
    return torch.tan(fraction * alpha_min + (1.0 - fraction) * alpha_max)


def beta_sigmas(n: int, sigma_min: float, sigma_max: float, alpha: float = 0.6, beta: float = 0.6) -> torch.Tensor:
    """"Beta": σ_min + ppf_Beta(α, β)(1 − i/(n−1))·(σ_max − σ_min), final 0 (scipy's Beta quantiles)."""
    import numpy as np
    from scipy import stats

    quantiles = stats.beta.ppf(1 - np.linspace(0, 1, n), alpha, beta)
    return _append_zero(torch.tensor([sigma_min + q * (sigma_max - sigma_min) for q in quantiles],
                                     dtype=torch.float32))


def schedule_sigmas(schedule_id: str, table: SigmaTable, n: int) -> torch.Tensor:
    """The n-step sigmas of schedule `schedule_id` (sdkit's ids; "automatic" must be resolved first)."""
    low, high = table.sigma_min, table.sigma_max
    by_id = {
        "uniform": lambda: table.uniform_sigmas(n),
        "karras": lambda: karras_sigmas(n, low, high),
        "exponential": lambda: exponential_sigmas(n, low, high),
        "polyexponential": lambda: polyexponential_sigmas(n, low, high),
        "normal": lambda: normal_sigmas(table, n),
        "sgm_uniform": lambda: sgm_uniform_sigmas(table, n),
        "simple": lambda: simple_sigmas(table, n),
        "ddim_uniform": lambda: ddim_uniform_sigmas(table, n),
        "kl_optimal": lambda: kl_optimal_sigmas(n, low, high),
        "beta": lambda: beta_sigmas(n, low, high),
    }
    if schedule_id not in by_id:
        raise ValueError(f"schedule {schedule_id!r} has no A1111-faithful sigmas here; "
                         f"these do: {', '.join(by_id)}")
    return by_id[schedule_id]()


SCHEDULE_IDS = ("uniform", "karras", "exponential", "polyexponential", "normal", "sgm_uniform", "simple",
                "ddim_uniform", "kl_optimal", "beta")


def ddim_timesteps(n: int, train_steps: int = 1000) -> list[int]:
    """A1111's own DDIM timesteps: k·(N // n) + 1 while k·(N // n) < N, clipped to N − 1; ascending."""
    stride = train_steps // n
    return [min(step + 1, train_steps - 1) for step in range(0, train_steps, stride)]
