"""The samplers ComfyUI rewrote from k-diffusion, in ComfyUI's float order, over (denoise, x, sigmas).

ComfyUI (comfy/k_diffusion/sampling.py) keeps k-diffusion's Euler, Heun, DPM2, DPM2 a, DPM++ 2S a and
DPM++ 2M: sdkit's ports of those (`samplers_ode`, `samplers_stochastic`) give ComfyUI's numbers and are
used as they are. What it changed, written here:
- Euler a: the last step (σ_down = 0) returns the denoised estimate; the Euler step and the noise are
  added in one expression;
- LMS: the last step (σ_next = 0) returns the denoised estimate, its weights from float32 sigma differences;
- DPM++ SDE, DPM++ 2M SDE (midpoint and Heun), DPM++ 3M SDE: written over the half log-SNR λ = −log σ
  with α_t = σ_t·e^λ_t (1 for these models, but it changes the float bits); the last step returns the
  denoised estimate;
- LCM: x = denoised, then noise × σ_next + x;
- DDPM: ComfyUI's ancestral DDPM step on x/sqrt(1 + σ²);
- iPNDM and iPNDM-v (ComfyUI's own, from zju-pi/diff-sampler): multistep in σ, the last step denoised.
η = 1 and s_noise = 1 throughout (ComfyUI's defaults); s_noise's ×1.0 is exact so it is left out.
"""

from __future__ import annotations

from sdkit.sampling.steps import (
    Denoise,
    Noise,
    StepCallback,
    Tensor,
    ancestral_step,
    steps,
    third_order_terms,
    to_derivative,
)


def sample_euler_ancestral(denoise: Denoise, x: Tensor, sigmas: Tensor, *, noise: Noise, eta: float = 1.0,
                           callback: StepCallback | None = None) -> Tensor:
    for i in steps(sigmas, callback):
        denoised = denoise(x, sigmas[i])
        sigma_down, sigma_up = ancestral_step(sigmas[i], sigmas[i + 1], eta)
        if sigma_down == 0:
            x = denoised
        else:
            x = (x + to_derivative(x, sigmas[i], denoised) * (sigma_down - sigmas[i])
                 + noise(sigmas[i], sigmas[i + 1]) * sigma_up)
    return x


def sample_lms(denoise: Denoise, x: Tensor, sigmas: Tensor, *, order: int = 4,
               callback: StepCallback | None = None) -> Tensor:
    from sdkit.sampling.samplers_ode import lms_coefficient

    # ComfyUI integrates over the float32 sigmas as numpy holds them: the Lagrange denominators are
    # float32 differences (k-diffusion's `sigmas_cpu`).
    sigma_values = sigmas.detach().cpu().numpy()
    derivatives: list[Tensor] = []
    for i in steps(sigmas, callback):
        denoised = denoise(x, sigmas[i])
        derivatives.append(to_derivative(x, sigmas[i], denoised))
        if len(derivatives) > order:
            derivatives.pop(0)
        if sigmas[i + 1] == 0:
            x = denoised
            continue
        current_order = min(i + 1, order)
        coefficients = [lms_coefficient(current_order, sigma_values, i, j) for j in range(current_order)]
        x = x + sum(coefficient * derivative
                    for coefficient, derivative in zip(coefficients, reversed(derivatives), strict=True))
    return x


def _log_snr(sigma: Tensor) -> Tensor:
    """ComfyUI's half log-SNR of a σ-parametrised (not flow) model: −log σ."""
    return sigma.log().neg()


def sample_dpmpp_sde(denoise: Denoise, x: Tensor, sigmas: Tensor, *, noise: Noise, eta: float = 1.0,
                     r: float = 0.5, callback: StepCallback | None = None) -> Tensor:
    mix = 1 / (2 * r)
    for i in steps(sigmas, callback):
        denoised = denoise(x, sigmas[i])
        if sigmas[i + 1] == 0:
            x = denoised
            continue
        lambda_s, lambda_t = _log_snr(sigmas[i]), _log_snr(sigmas[i + 1])
        h = lambda_t - lambda_s
        lambda_mid = lambda_s + r * h
        sigma_mid = lambda_mid.neg().exp()
        alpha_s, alpha_mid = sigmas[i] * lambda_s.exp(), sigma_mid * lambda_mid.exp()
        alpha_t = sigmas[i + 1] * lambda_t.exp()
        # First stage: to the λ midpoint, ancestral.
        sigma_down, sigma_up = ancestral_step(lambda_s.neg().exp(), lambda_mid.neg().exp(), eta)
        h_down = sigma_down.log().neg() - lambda_s
        x_mid = (alpha_mid / alpha_s) * (-h_down).exp() * x - alpha_mid * (-h_down).expm1() * denoised
        x_mid = x_mid + alpha_mid * noise(sigmas[i], sigma_mid) * sigma_up
        denoised_mid = denoise(x_mid, sigma_mid)
        # Second stage: the full step with the mixed estimate, ancestral.
        sigma_down, sigma_up = ancestral_step(lambda_s.neg().exp(), lambda_t.neg().exp(), eta)
        h_down = sigma_down.log().neg() - lambda_s
        estimate = (1 - mix) * denoised + mix * denoised_mid
        x = (alpha_t / alpha_s) * (-h_down).exp() * x - alpha_t * (-h_down).expm1() * estimate
        x = x + alpha_t * noise(sigmas[i], sigmas[i + 1]) * sigma_up
    return x


def _sde_noise(noise: Noise, sigma: Tensor, sigma_next: Tensor, h: Tensor, eta: float) -> Tensor:
    """The SDE's fresh noise: ε · σ_next · sqrt(1 − e^(−2ηh)), in ComfyUI's order."""
    return noise(sigma, sigma_next) * sigma_next * (-2 * h * eta).expm1().neg().sqrt()


def sample_dpmpp_2m_sde(denoise: Denoise, x: Tensor, sigmas: Tensor, *, noise: Noise, eta: float = 1.0,
                        solver_type: str = "midpoint", callback: StepCallback | None = None) -> Tensor:
    if solver_type not in ("midpoint", "heun"):
        raise ValueError(f"solver_type must be 'midpoint' or 'heun', not {solver_type!r}")
    previous_denoised, h, h_last = None, None, None
    for i in steps(sigmas, callback):
        denoised = denoise(x, sigmas[i])
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            lambda_s, lambda_t = _log_snr(sigmas[i]), _log_snr(sigmas[i + 1])
            h = lambda_t - lambda_s
            h_eta = h * (eta + 1)
            alpha_t = sigmas[i + 1] * lambda_t.exp()
            x = sigmas[i + 1] / sigmas[i] * (-h * eta).exp() * x + alpha_t * (-h_eta).expm1().neg() * denoised
            if previous_denoised is not None:
                r = h_last / h
                if solver_type == "heun":
                    x = x + alpha_t * ((-h_eta).expm1().neg() / (-h_eta) + 1) * (1 / r) * (denoised - previous_denoised)
                else:
                    x = x + 0.5 * alpha_t * (-h_eta).expm1().neg() * (1 / r) * (denoised - previous_denoised)
            x = x + _sde_noise(noise, sigmas[i], sigmas[i + 1], h, eta)
        previous_denoised, h_last = denoised, h
    return x


def sample_dpmpp_3m_sde(denoise: Denoise, x: Tensor, sigmas: Tensor, *, noise: Noise, eta: float = 1.0,
                        callback: StepCallback | None = None) -> Tensor:
    denoised_1, denoised_2 = None, None
    h, h_1, h_2 = None, None, None
    for i in steps(sigmas, callback):
        denoised = denoise(x, sigmas[i])
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            lambda_s, lambda_t = _log_snr(sigmas[i]), _log_snr(sigmas[i + 1])
            h = lambda_t - lambda_s
            h_eta = h * (eta + 1)
            alpha_t = sigmas[i + 1] * lambda_t.exp()
            x = sigmas[i + 1] / sigmas[i] * (-h * eta).exp() * x + alpha_t * (-h_eta).expm1().neg() * denoised
            if h_2 is not None:  # third order: two earlier estimates
                d1, d2, phi_2, phi_3 = third_order_terms(denoised, denoised_1, denoised_2, h, h_1, h_2, h_eta)
                x = x + (alpha_t * phi_2) * d1 - (alpha_t * phi_3) * d2
            elif h_1 is not None:  # second order: one earlier estimate
                r = h_1 / h
                d = (denoised - denoised_1) / r
                phi_2 = h_eta.neg().expm1() / h_eta + 1
                x = x + (alpha_t * phi_2) * d
            x = x + _sde_noise(noise, sigmas[i], sigmas[i + 1], h, eta)
        denoised_1, denoised_2 = denoised, denoised_1
        h_1, h_2 = h, h_1
    return x


def sample_lcm(denoise: Denoise, x: Tensor, sigmas: Tensor, *, noise: Noise,
               callback: StepCallback | None = None) -> Tensor:
    for i in steps(sigmas, callback):
        x = denoise(x, sigmas[i])
        if sigmas[i + 1] > 0:
            x = noise(sigmas[i], sigmas[i + 1]) * sigmas[i + 1] + x
    return x


def sample_ddpm(denoise: Denoise, x: Tensor, sigmas: Tensor, *, noise: Noise,
                callback: StepCallback | None = None) -> Tensor:
    """ComfyUI's DDPM: the posterior mean of x/sqrt(1 + σ²) from ε, plus its posterior noise."""
    for i in steps(sigmas, callback):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = denoise(x, sigma)
        eps = (x - denoised) / sigma
        scaled = x / (1.0 + sigma**2.0).sqrt()
        alpha_cumprod = 1 / ((sigma * sigma) + 1)
        alpha_cumprod_next = 1 / ((sigma_next * sigma_next) + 1)
        alpha = alpha_cumprod / alpha_cumprod_next
        x = (1.0 / alpha).sqrt() * (scaled - (1 - alpha) * eps / (1 - alpha_cumprod).sqrt())
        if sigma_next > 0:
            x += ((1 - alpha) * (1.0 - alpha_cumprod_next) / (1.0 - alpha_cumprod)).sqrt() * noise(sigma, sigma_next)
            x *= (1.0 + sigma_next**2.0).sqrt()
    return x


def _remember(history: list[Tensor], derivative: Tensor, keep: int) -> None:
    """Keep the last `keep` derivatives, oldest first (ComfyUI's buffer_model)."""
    history.append(derivative)
    if len(history) > keep:
        history.pop(0)


def sample_ipndm(denoise: Denoise, x: Tensor, sigmas: Tensor, *, max_order: int = 4,
                 callback: StepCallback | None = None) -> Tensor:
    """iPNDM (Zhang & Chen): Adams–Bashforth steps in σ with fixed weights over up to 3 earlier derivatives."""
    history: list[Tensor] = []
    for i in steps(sigmas, callback):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = denoise(x, sigma)
        derivative = (x - denoised) / sigma
        order = min(max_order, i + 1)
        if sigma_next == 0:
            x_next = denoised
        elif order == 1:
            x_next = x + (sigma_next - sigma) * derivative
        elif order == 2:
            x_next = x + (sigma_next - sigma) * (3 * derivative - history[-1]) / 2
        elif order == 3:
            x_next = x + (sigma_next - sigma) * (23 * derivative - 16 * history[-1] + 5 * history[-2]) / 12
        else:
            x_next = x + (sigma_next - sigma) * (55 * derivative - 59 * history[-1] + 37 * history[-2]
                                                 - 9 * history[-3]) / 24
        _remember(history, derivative, max_order - 1)
        x = x_next
    return x


def _ipndm_v_weights(h: list[Tensor]) -> list[Tensor]:
    """iPNDM-v's weights of the current and up to 3 earlier derivatives; h = [h_n, h_n−1, …] step sizes."""
    if len(h) == 1:
        return [h[0] * 0 + 1]
    h_n, h_n_1 = h[0], h[1]
    coefficient_1, coefficient_2 = (2 + (h_n / h_n_1)) / 2, -(h_n / h_n_1) / 2
    if len(h) == 2:
        return [coefficient_1, coefficient_2]
    h_n_2 = h[2]
    temp_1 = (1 - h_n / (3 * (h_n + h_n_1)) * (h_n * (h_n + h_n_1)) / (h_n_1 * (h_n_1 + h_n_2))) / 2
    if len(h) == 3:
        return [coefficient_1 + temp_1, coefficient_2 - (1 + h_n_1 / h_n_2) * temp_1, temp_1 * h_n_1 / h_n_2]
    h_n_3 = h[3]
    first = (1 - h_n / (3 * (h_n + h_n_1))) / 2 + (1 - h_n / (2 * (h_n + h_n_1))) * h_n / (6 * (h_n + h_n_1 + h_n_2))
    temp_2 = first * (h_n * (h_n + h_n_1) * (h_n + h_n_1 + h_n_2)) / (h_n_1 * (h_n_1 + h_n_2) * (h_n_1 + h_n_2 + h_n_3))
    ratio = h_n_1 * (h_n_1 + h_n_2) / (h_n_2 * (h_n_2 + h_n_3))
    return [coefficient_1 + temp_1 + temp_2,
            coefficient_2 - (1 + h_n_1 / h_n_2) * temp_1 - (1 + (h_n_1 / h_n_2) + ratio) * temp_2,
            temp_1 * h_n_1 / h_n_2 + ((h_n_1 / h_n_2) + ratio * (1 + h_n_2 / h_n_3)) * temp_2,
            -temp_2 * ratio * h_n_1 / h_n_2]


def sample_ipndm_v(denoise: Denoise, x: Tensor, sigmas: Tensor, *, max_order: int = 4,
                   callback: StepCallback | None = None) -> Tensor:
    """iPNDM with weights for variable step sizes (ComfyUI's ipndm_v)."""
    history: list[Tensor] = []
    for i in steps(sigmas, callback):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = denoise(x, sigma)
        derivative = (x - denoised) / sigma
        order = min(max_order, i + 1)
        if sigma_next == 0:
            x_next = denoised
        elif order == 1:
            x_next = x + (sigma_next - sigma) * derivative
        else:
            sizes = [sigma_next - sigma] + [sigmas[i - k] - sigmas[i - k - 1] for k in range(order - 1)]
            weights = _ipndm_v_weights(sizes)
            combined = weights[0] * derivative
            for weight, earlier in zip(weights[1:], reversed(history), strict=False):
                combined = combined + weight * earlier
            x_next = x + (sigma_next - sigma) * combined
        _remember(history, derivative, max_order - 1)
        x = x_next
    return x
