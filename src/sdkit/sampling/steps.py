"""What every sampler shares: the denoiser and noise protocols, the step loop, Karras' derivative and the
ancestral split of a step. No torch at import: these are plain functions over tensors.

A denoiser is `denoise(x, sigma) -> denoised` (x₀ estimate; `sigma` a 0-d tensor). A noise source is
`noise(sigma, sigma_next) -> tensor shaped like x`, unit variance, one draw per image of the batch
(per-image generators for ancestral samplers, Brownian trees for SDE samplers: `sampling.noise`).
A callback `callback(step, total)` runs after each step (1-based); returning True stops the sampler,
which then returns its current x.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol

Tensor = Any  # torch.Tensor; kept untyped so this module imports without torch


class Denoise(Protocol):
    def __call__(self, x: Tensor, sigma: Tensor) -> Tensor: ...


class Noise(Protocol):
    def __call__(self, sigma: Tensor, sigma_next: Tensor) -> Tensor: ...


StepCallback = Callable[[int, int], "bool | None"]


class StepLoop:
    """Iterate step indices 0 … len(sigmas) − 2, calling back after each and stopping when asked."""

    def __init__(self, total: int, callback: StepCallback | None) -> None:
        self.total = total
        self.callback = callback
        self.stopped = False

    def __iter__(self) -> Iterator[int]:
        for index in range(self.total):
            yield index
            if self.callback is not None and self.callback(index + 1, self.total):
                self.stopped = True
                return


def steps(sigmas: Tensor, callback: StepCallback | None) -> StepLoop:
    return StepLoop(len(sigmas) - 1, callback)


def to_derivative(x: Tensor, sigma: Tensor, denoised: Tensor) -> Tensor:
    """dx/dσ of the probability-flow ODE (Karras et al. 2022, eq. 4 with σ(t) = t): (x − D(x; σ))/σ."""
    return (x - denoised) / sigma


def ancestral_step(sigma: Tensor, sigma_next: Tensor, eta: float = 1.0) -> tuple[Tensor, Tensor]:
    """Split the step σ → σ_next into a deterministic step down to σ_down and fresh noise of σ_up.

    σ_up = min(σ_next, η·sqrt(σ_next²(σ² − σ_next²)/σ²)), σ_down = sqrt(σ_next² − σ_up²), so
    σ_down² + σ_up² = σ_next²: the marginal at σ_next is kept.
    """
    if not eta:
        return sigma_next, sigma_next * 0
    sigma_up = (eta * (sigma_next**2 * (sigma**2 - sigma_next**2) / sigma**2) ** 0.5).clamp(max=float(sigma_next))
    sigma_down = (sigma_next**2 - sigma_up**2) ** 0.5
    return sigma_down, sigma_up


def half_log_step(sigma: Tensor, sigma_next: Tensor) -> Tensor:
    """The σ halfway between two sigmas in log σ (DPM2's midpoint)."""
    return sigma.log().lerp(sigma_next.log(), 0.5).exp()


def third_order_terms(denoised: Tensor, denoised_1: Tensor, denoised_2: Tensor, h: Tensor, h_1: Tensor,
                      h_2: Tensor, h_eta: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """DPM-Solver++(3M)'s correction from the last three denoised estimates and step sizes h, h₋₁, h₋₂:
    the first and second divided differences d1, d2 and their weights φ₂, φ₃ at h·(η + 1)
    (k-diffusion's and ComfyUI's 3M SDE share this part, in this float order)."""
    r0, r1 = h_1 / h, h_2 / h
    d1_0 = (denoised - denoised_1) / r0
    d1_1 = (denoised_1 - denoised_2) / r1
    d1 = d1_0 + (d1_0 - d1_1) * r0 / (r0 + r1)
    d2 = (d1_0 - d1_1) / (r0 + r1)
    phi_2 = h_eta.neg().expm1() / h_eta + 1
    return d1, d2, phi_2, phi_2 / h_eta - 0.5
