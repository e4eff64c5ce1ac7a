"""Samplers that add fresh noise each step: ancestral (Euler a, DPM2 a, DPM++ 2S a) and SDE (DPM++ SDE,
DPM++ 2M SDE and its Heun variant, DPM++ 3M SDE), over (denoise, x, sigmas, noise=...).

Ancestral samplers split each step into a deterministic step to σ_down and noise of σ_up
(`steps.ancestral_step`); A1111 feeds them each image's own generator (`noise.GeneratorNoise`).
SDE samplers are the DPM-Solver++ SDE family (Lu et al. 2022, η = 1): the exponential-integrator
step of the SDE plus noise of variance σ_next²(1 − e^(−2ηh)); A1111 feeds them a Brownian tree per
image (`noise.BrownianTreeNoise`). The computations are those of k-diffusion's samplers of the same
names that A1111 v1.10 runs (with s_noise = 1), written from the papers; DPM++ SDE is the
two-evaluation method with r = 1/2, not diffusers' single-step solver.
"""

from __future__ import annotations

from sdkit.sampling.steps import (
    Denoise,
    Noise,
    StepCallback,
    Tensor,
    ancestral_step,
    half_log_step,
    steps,
    third_order_terms,
    to_derivative,
)


def _sigma_of(t: Tensor) -> Tensor:
    return t.neg().exp()


def _t_of(sigma: Tensor) -> Tensor:
    return sigma.log().neg()


def sample_euler_ancestral(denoise: Denoise, x: Tensor, sigmas: Tensor, *, noise: Noise, eta: float = 1.0,
                           callback: StepCallback | None = None) -> Tensor:
    """Euler to σ_down, then noise × σ_up (none after the last step)."""
    for i in steps(sigmas, callback):
        denoised = denoise(x, sigmas[i])
        sigma_down, sigma_up = ancestral_step(sigmas[i], sigmas[i + 1], eta)
        x = x + to_derivative(x, sigmas[i], denoised) * (sigma_down - sigmas[i])
        if sigmas[i + 1] > 0:
            x = x + noise(sigmas[i], sigmas[i + 1]) * sigma_up
    return x


def sample_dpm_2_ancestral(denoise: Denoise, x: Tensor, sigmas: Tensor, *, noise: Noise, eta: float = 1.0,
                           callback: StepCallback | None = None) -> Tensor:
    """DPM2's midpoint step to σ_down, then noise × σ_up (drawn every step, as k-diffusion does)."""
    for i in steps(sigmas, callback):
        derivative = to_derivative(x, sigmas[i], denoise(x, sigmas[i]))
        sigma_down, sigma_up = ancestral_step(sigmas[i], sigmas[i + 1], eta)
        if sigma_down == 0:
            x = x + derivative * (sigma_down - sigmas[i])
        else:
            sigma_mid = half_log_step(sigmas[i], sigma_down)
            x_mid = x + derivative * (sigma_mid - sigmas[i])
            x = x + to_derivative(x_mid, sigma_mid, denoise(x_mid, sigma_mid)) * (sigma_down - sigmas[i])
        x = x + noise(sigmas[i], sigmas[i + 1]) * sigma_up
    return x


def sample_dpmpp_2s_ancestral(denoise: Denoise, x: Tensor, sigmas: Tensor, *, noise: Noise, eta: float = 1.0,
                              callback: StepCallback | None = None) -> Tensor:
    """DPM-Solver++(2S) to σ_down (second evaluation at the λ midpoint), then noise × σ_up."""
    for i in steps(sigmas, callback):
        denoised = denoise(x, sigmas[i])
        sigma_down, sigma_up = ancestral_step(sigmas[i], sigmas[i + 1], eta)
        if sigma_down == 0:
            x = x + to_derivative(x, sigmas[i], denoised) * (sigma_down - sigmas[i])
        else:
            t, t_next = _t_of(sigmas[i]), _t_of(sigma_down)
            h = t_next - t
            t_mid = t + h / 2
            x_mid = (_sigma_of(t_mid) / _sigma_of(t)) * x - (-h / 2).expm1() * denoised
            denoised_mid = denoise(x_mid, _sigma_of(t_mid))
            x = (_sigma_of(t_next) / _sigma_of(t)) * x - (-h).expm1() * denoised_mid
        if sigmas[i + 1] > 0:
            x = x + noise(sigmas[i], sigmas[i + 1]) * sigma_up
    return x


def sample_dpmpp_sde(denoise: Denoise, x: Tensor, sigmas: Tensor, *, noise: Noise, eta: float = 1.0,
                     r: float = 0.5, callback: StepCallback | None = None) -> Tensor:
    """DPM-Solver++ SDE, two evaluations per step: an ancestral half step to λ + r·h, then the full step
    with the denoised estimates mixed (1 − 1/(2r), 1/(2r)); an Euler step where σ_next = 0."""
    for i in steps(sigmas, callback):
        denoised = denoise(x, sigmas[i])
        if sigmas[i + 1] == 0:
            x = x + to_derivative(x, sigmas[i], denoised) * (sigmas[i + 1] - sigmas[i])
            continue
        t, t_next = _t_of(sigmas[i]), _t_of(sigmas[i + 1])
        h = t_next - t
        t_mid = t + h * r
        mix = 1 / (2 * r)
        # First stage: t → t_mid, ancestral.
        sigma_down, sigma_up = ancestral_step(_sigma_of(t), _sigma_of(t_mid), eta)
        t_down = _t_of(sigma_down)
        x_mid = (_sigma_of(t_down) / _sigma_of(t)) * x - (t - t_down).expm1() * denoised
        x_mid = x_mid + noise(_sigma_of(t), _sigma_of(t_mid)) * sigma_up
        denoised_mid = denoise(x_mid, _sigma_of(t_mid))
        # Second stage: t → t_next with the mixed estimate, ancestral.
        sigma_down, sigma_up = ancestral_step(_sigma_of(t), _sigma_of(t_next), eta)
        t_down = _t_of(sigma_down)
        estimate = (1 - mix) * denoised + mix * denoised_mid
        x = (_sigma_of(t_down) / _sigma_of(t)) * x - (t - t_down).expm1() * estimate
        x = x + noise(_sigma_of(t), _sigma_of(t_next)) * sigma_up
    return x


def sample_dpmpp_2m_sde(denoise: Denoise, x: Tensor, sigmas: Tensor, *, noise: Noise, eta: float = 1.0,
                        solver_type: str = "midpoint", callback: StepCallback | None = None) -> Tensor:
    """DPM-Solver++(2M) SDE; `solver_type` "midpoint" or "heun" picks the second-order correction."""
    if solver_type not in ("midpoint", "heun"):
        raise ValueError(f"solver_type must be 'midpoint' or 'heun', not {solver_type!r}")
    previous_denoised, previous_h = None, None
    for i in steps(sigmas, callback):
        denoised = denoise(x, sigmas[i])
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            h = _t_of(sigmas[i + 1]) - _t_of(sigmas[i])
            eta_h = eta * h
            x = sigmas[i + 1] / sigmas[i] * (-eta_h).exp() * x + (-h - eta_h).expm1().neg() * denoised
            if previous_denoised is not None:
                r = previous_h / h
                if solver_type == "heun":
                    weight = (-h - eta_h).expm1().neg() / (-h - eta_h) + 1
                else:
                    weight = 0.5 * (-h - eta_h).expm1().neg()
                x = x + weight * (1 / r) * (denoised - previous_denoised)
            if eta:
                x = x + noise(sigmas[i], sigmas[i + 1]) * sigmas[i + 1] * (-2 * eta_h).expm1().neg().sqrt()
            previous_h = h
        previous_denoised = denoised
    return x


def sample_dpmpp_3m_sde(denoise: Denoise, x: Tensor, sigmas: Tensor, *, noise: Noise, eta: float = 1.0,
                        callback: StepCallback | None = None) -> Tensor:
    """DPM-Solver++(3M) SDE: third order from the last three denoised estimates (lower order at first)."""
    denoised_1 = denoised_2 = None
    h_1 = h_2 = None
    for i in steps(sigmas, callback):
        denoised = denoise(x, sigmas[i])
        h = None
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            h = _t_of(sigmas[i + 1]) - _t_of(sigmas[i])
            h_eta = h * (eta + 1)
            x = (-h_eta).exp() * x + (-h_eta).expm1().neg() * denoised
            if h_2 is not None:
                d1, d2, phi_2, phi_3 = third_order_terms(denoised, denoised_1, denoised_2, h, h_1, h_2, h_eta)
                x = x + phi_2 * d1 - phi_3 * d2
            elif h_1 is not None:
                phi_2 = h_eta.neg().expm1() / h_eta + 1
                x = x + phi_2 * ((denoised - denoised_1) / (h_1 / h))
            if eta:
                x = x + noise(sigmas[i], sigmas[i + 1]) * sigmas[i + 1] * (-2 * h * eta).expm1().neg().sqrt()
        denoised_1, denoised_2 = denoised, denoised_1
        h_1, h_2 = h, h_1
    return x
