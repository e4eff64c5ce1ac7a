"""A1111's own UniPC (Zhao et al. 2023, its multistep predictor-corrector) over a discrete VP noise schedule.

What A1111 v1.10 runs for "UniPC" (its port of the authors' code, `modules/models/diffusion/uni_pc`):
- the noise schedule is "discrete": log α(t) = ½·log ᾱ interpolated linearly in continuous time
  t ∈ [1/N, 1], step n at t = (n + 1)/N (`DiscreteSchedule`); σ(t) = sqrt(1 − α²), λ = log α − log σ;
- the model is asked at model time (t − 1/N)·1000, a fractional timestep (`predict_eps`'s UNet sees it
  as is; a v-model's ε uses ᾱ of its integer part), and its ε becomes a data prediction
  x₀ = (x − σ(t)·ε)/α(t) (A1111 runs UniPC with predict_x0 and no thresholding);
- times from t_start (1, or the img2img start) to 1/N by A1111's skip type (default "time_uniform";
  "time_quadratic", "logSNR" too), `steps` steps, multistep of `order` (default 3), the first steps at
  orders 1, 2, …, with `lower_order_final` (default on) the last ones at min(order, steps left);
- every step but the last runs the corrector, whose model call is the next step's model value, so
  `steps` steps cost `steps` model calls; variant "bh1" (default; B(h) = h) or "bh2" (B(h) = e^h − 1).
Differs from A1111: with fewer steps than `order` A1111 stops with an assertion; this lowers the order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from sdkit.sampling.steps import StepCallback, StepLoop, Tensor

SKIP_TYPES = ("time_uniform", "time_quadratic", "logSNR")
VARIANTS = ("bh1", "bh2")


def _interpolate(x: Tensor, xs: Tensor, ys: Tensor) -> Tensor:
    """Piecewise linear y(x) through ascending `xs`, the end segments extended beyond them."""
    index = (torch.searchsorted(xs, x.reshape(-1)) - 1).clamp(0, len(xs) - 2).reshape(x.shape)
    x_low, x_high, y_low, y_high = xs[index], xs[index + 1], ys[index], ys[index + 1]
    return y_low + (x - x_low) * (y_high - y_low) / (x_high - x_low)


@dataclass(frozen=True)
class DiscreteSchedule:
    """UniPC's "discrete" VP schedule: log α at continuous time t, from the model's ᾱ (dtype kept)."""

    times: Tensor  # (n + 1)/N for n = 0 … N − 1
    log_alphas: Tensor  # ½·log ᾱ_n

    @classmethod
    def from_alphas_cumprod(cls, alphas_cumprod: Tensor) -> DiscreteSchedule:
        count = len(alphas_cumprod)
        times = torch.linspace(0.0, 1.0, count + 1, dtype=alphas_cumprod.dtype)[1:]
        return cls(times, 0.5 * torch.log(alphas_cumprod))

    @property
    def train_steps(self) -> int:
        return len(self.times)

    def log_alpha(self, t: Tensor) -> Tensor:
        return _interpolate(t, self.times, self.log_alphas)

    def alpha(self, t: Tensor) -> Tensor:
        return torch.exp(self.log_alpha(t))

    def sigma(self, t: Tensor) -> Tensor:
        return torch.sqrt(1.0 - torch.exp(2.0 * self.log_alpha(t)))

    def log_snr(self, t: Tensor) -> Tensor:
        """λ(t) = log α − log σ (half the log signal-to-noise ratio)."""
        log_alpha = self.log_alpha(t)
        return log_alpha - 0.5 * torch.log(1.0 - torch.exp(2.0 * log_alpha))

    def time_at_log_snr(self, log_snr: Tensor) -> Tensor:
        log_alpha = -0.5 * torch.logaddexp(torch.zeros_like(log_snr), -2.0 * log_snr)
        return _interpolate(log_alpha, self.log_alphas.flip(0), self.times.flip(0))

    def model_time(self, t: Tensor) -> Tensor:
        """The model's timestep at continuous time t (A1111 multiplies by 1000 whatever N is)."""
        return (t - 1.0 / self.train_steps) * 1000.0


def unipc_times(schedule: DiscreteSchedule, skip_type: str, t_start: Tensor, t_end: Tensor, steps: int) -> Tensor:
    """The `steps` + 1 continuous times from t_start down to t_end for A1111's skip types."""
    if skip_type == "time_uniform":
        return torch.linspace(float(t_start), float(t_end), steps + 1, dtype=schedule.times.dtype)
    if skip_type == "time_quadratic":
        return torch.linspace(float(t_start) ** 0.5, float(t_end) ** 0.5, steps + 1, dtype=schedule.times.dtype) ** 2
    if skip_type == "logSNR":
        start, end = schedule.log_snr(t_start.reshape(1)), schedule.log_snr(t_end.reshape(1))
        return schedule.time_at_log_snr(torch.linspace(float(start), float(end), steps + 1,
                                                       dtype=schedule.times.dtype))
    raise ValueError(f"UniPC skip type {skip_type!r}: A1111 has {', '.join(SKIP_TYPES)}")


def _solve_coefficients(ratios: list[Tensor], order: int, hh: Tensor, b_h: Tensor) -> tuple[Tensor, Tensor]:
    """(R, b) of UniPC's B(h) linear system: R rows are rᵏ⁻¹, b_k = k!·φ_k(hh)·hh^… / B(h) as the paper."""
    rks = torch.stack([*ratios, torch.ones((), dtype=hh.dtype)])
    phi = torch.expm1(hh) / hh - 1
    rows, values, factorial = [], [], 1
    for k in range(1, order + 1):
        rows.append(rks ** (k - 1))
        values.append(phi * factorial / b_h)
        factorial *= k + 1
        phi = phi / hh - 1 / factorial
    return torch.stack(rows), torch.stack(values)


def _weighted_sum(weights: Tensor, tensors: list[Tensor]) -> Tensor:
    """Σ wₖ·tensorₖ as one einsum over the stacked tensors: A1111's reduction, so its rounding too."""
    return torch.einsum("k,bk...->b...", weights, torch.stack(tensors, dim=1))


class UniPCSolver:
    """The data-prediction multistep UniPC of A1111's port; `data(x, t)` is the model's x₀ at time t."""

    def __init__(self, schedule: DiscreteSchedule, data: Callable[[Tensor, Tensor], Tensor], variant: str) -> None:
        if variant not in VARIANTS:
            raise ValueError(f"UniPC variant {variant!r}: sdkit runs {', '.join(VARIANTS)}")
        self.schedule, self.data, self.variant = schedule, data, variant

    def update(self, x: Tensor, models: list[Tensor], times: list[Tensor], t: Tensor, order: int,
               use_corrector: bool) -> tuple[Tensor, Tensor | None]:
        """One step from times[-1] to t of the given order; also the corrector's model value (or None)."""
        schedule = self.schedule
        t_previous, model_previous = times[-1], models[-1]
        log_snr_previous = schedule.log_snr(t_previous)
        h = schedule.log_snr(t) - log_snr_previous
        ratios, differences = [], []
        for back in range(1, order):
            ratio = (schedule.log_snr(times[-(back + 1)]) - log_snr_previous) / h
            ratios.append(ratio)
            differences.append((models[-(back + 1)] - model_previous) / ratio)
        hh = -h  # data prediction integrates in −λ
        b_h = hh if self.variant == "bh1" else torch.expm1(hh)
        rows, values = _solve_coefficients(ratios, order, hh, b_h)
        alpha_t, sigma_t = schedule.alpha(t), schedule.sigma(t)
        # The first-order (DPM-Solver++ 1) part, then the predictor's and corrector's higher-order terms.
        x_linear = (sigma_t / schedule.sigma(t_previous)) * x - (alpha_t * torch.expm1(hh)) * model_previous
        if differences:
            rhos = torch.tensor([0.5], dtype=hh.dtype) if order == 2 else torch.linalg.solve(rows[:-1, :-1],
                                                                                            values[:-1])
            x_next = x_linear - (alpha_t * b_h) * _weighted_sum(rhos, differences)
        else:
            x_next = x_linear
        if not use_corrector:
            return x_next, None
        model_next = self.data(x_next, t)
        rhos_c = torch.tensor([0.5], dtype=hh.dtype) if order == 1 else torch.linalg.solve(rows, values)
        correction = rhos_c[-1] * (model_next - model_previous)
        if differences:  # the earlier differences' sum first, then the new one, as A1111 adds them
            correction = _weighted_sum(rhos_c[:-1], differences) + correction
        return x_linear - (alpha_t * b_h) * correction, model_next


def sample_unipc(predict_eps: Callable[[Tensor, float], Tensor], x: Tensor, alphas_cumprod: Tensor, steps: int, *,
                 t_start: float | None = None, order: int = 3, variant: str = "bh1",
                 skip_type: str = "time_uniform", lower_order_final: bool = True,
                 callback: StepCallback | None = None) -> Tensor:
    """A1111's UniPC from x at continuous time `t_start` (None: 1, pure noise) down to 1/N in `steps` steps."""
    if steps <= 0:
        return x
    schedule = DiscreteSchedule.from_alphas_cumprod(alphas_cumprod)
    dtype = schedule.times.dtype
    start = torch.tensor(1.0 if t_start is None else t_start, dtype=dtype)
    times = unipc_times(schedule, skip_type, start, torch.tensor(1.0 / schedule.train_steps, dtype=dtype), steps)
    order = min(order, steps)

    def data(x: Tensor, t: Tensor) -> Tensor:
        eps = predict_eps(x, float(schedule.model_time(t)))
        return (x - schedule.sigma(t) * eps) / schedule.alpha(t)

    solver = UniPCSolver(schedule, data, variant)
    models, previous_times = [data(x, times[0])], [times[0]]
    for index in StepLoop(steps, callback):
        step = index + 1
        if step < order:  # warm-up at orders 1, 2, …
            step_order = step
        else:
            step_order = min(order, steps + 1 - step) if lower_order_final else order
        x, model = solver.update(x, models, previous_times, times[step], step_order, use_corrector=step < steps)
        if model is not None:  # the last step runs no corrector: no model value is needed after it
            models, previous_times = [*models, model][-order:], [*previous_times, times[step]][-order:]
    return x
