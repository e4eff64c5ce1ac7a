"""Deterministic samplers of the probability-flow ODE over (denoise, x, sigmas), k-diffusion style.

Euler and Heun are Karras et al. 2022 (Algorithm 1 without churn); DPM2 is its midpoint method in
log σ; LMS is the 4th-order linear multistep method with coefficients integrated by scipy; DPM++ 2M is
DPM-Solver++(2M) (Lu et al. 2022) in λ = −log σ. Each ends with a plain step where σ_next = 0, as
k-diffusion does (the second evaluation would be at σ = 0). These are the computations of k-diffusion's
`sample_euler`, `sample_heun`, `sample_dpm_2`, `sample_lms` and `sample_dpmpp_2m` that A1111 runs
(s_churn = 0), written from the papers; tests/sampling check the orders of convergence.
"""

from __future__ import annotations

from sdkit.sampling.steps import Denoise, StepCallback, Tensor, half_log_step, steps, to_derivative


def sample_euler(denoise: Denoise, x: Tensor, sigmas: Tensor, *, callback: StepCallback | None = None) -> Tensor:
    """First order: x ← x + (σ_next − σ)·d."""
    for i in steps(sigmas, callback):
        denoised = denoise(x, sigmas[i])
        x = x + to_derivative(x, sigmas[i], denoised) * (sigmas[i + 1] - sigmas[i])
    return x


def sample_heun(denoise: Denoise, x: Tensor, sigmas: Tensor, *, callback: StepCallback | None = None) -> Tensor:
    """Second order: an Euler step, then the trapezoid of the derivatives at both ends."""
    for i in steps(sigmas, callback):
        derivative = to_derivative(x, sigmas[i], denoise(x, sigmas[i]))
        step = sigmas[i + 1] - sigmas[i]
        if sigmas[i + 1] == 0:
            x = x + derivative * step
            continue
        x_euler = x + derivative * step
        derivative_next = to_derivative(x_euler, sigmas[i + 1], denoise(x_euler, sigmas[i + 1]))
        x = x + (derivative + derivative_next) / 2 * step
    return x


def sample_dpm_2(denoise: Denoise, x: Tensor, sigmas: Tensor, *, callback: StepCallback | None = None) -> Tensor:
    """Second order midpoint: the derivative at the log-σ midpoint carries the whole step."""
    for i in steps(sigmas, callback):
        derivative = to_derivative(x, sigmas[i], denoise(x, sigmas[i]))
        if sigmas[i + 1] == 0:
            x = x + derivative * (sigmas[i + 1] - sigmas[i])
            continue
        sigma_mid = half_log_step(sigmas[i], sigmas[i + 1])
        x_mid = x + derivative * (sigma_mid - sigmas[i])
        derivative_mid = to_derivative(x_mid, sigma_mid, denoise(x_mid, sigma_mid))
        x = x + derivative_mid * (sigmas[i + 1] - sigmas[i])
    return x


def lms_coefficient(order: int, sigmas: list[float], i: int, j: int) -> float:
    """∫ over [σ_i, σ_{i+1}] of the Lagrange basis polynomial of σ_{i−j} through σ_i … σ_{i−order+1}."""
    from scipy import integrate

    def basis(tau: float) -> float:
        product = 1.0
        for k in range(order):
            if k != j:
                product *= (tau - sigmas[i - k]) / (sigmas[i - j] - sigmas[i - k])
        return product

    return integrate.quad(basis, sigmas[i], sigmas[i + 1], epsrel=1e-4)[0]


def sample_lms(denoise: Denoise, x: Tensor, sigmas: Tensor, *, order: int = 4,
               callback: StepCallback | None = None) -> Tensor:
    """Linear multistep: the last `order` derivatives, weighted by their integrated Lagrange polynomials."""
    sigma_values = [float(value) for value in sigmas]
    derivatives: list[Tensor] = []
    for i in steps(sigmas, callback):
        derivatives.append(to_derivative(x, sigmas[i], denoise(x, sigmas[i])))
        if len(derivatives) > order:
            derivatives.pop(0)
        current_order = min(i + 1, order)
        coefficients = [lms_coefficient(current_order, sigma_values, i, j) for j in range(current_order)]
        x = x + sum(coefficient * derivative
                    for coefficient, derivative in zip(coefficients, reversed(derivatives), strict=True))
    return x


def sample_dpmpp_2m(denoise: Denoise, x: Tensor, sigmas: Tensor, *,
                    callback: StepCallback | None = None) -> Tensor:
    """DPM-Solver++(2M): exact in the linear part, the denoised estimate extrapolated from the last step."""
    previous_denoised = None
    for i in steps(sigmas, callback):
        denoised = denoise(x, sigmas[i])
        t, t_next = -sigmas[i].log(), -sigmas[i + 1].log()
        h = t_next - t
        if previous_denoised is None or sigmas[i + 1] == 0:
            estimate = denoised
        else:
            r = (t - (-sigmas[i - 1].log())) / h  # previous step size over this one
            estimate = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * previous_denoised
        # σ written as exp(−λ), as k-diffusion computes it: the same float32 bits as A1111.
        x = (t_next.neg().exp() / t.neg().exp()) * x - (-h).expm1() * estimate
        previous_denoised = denoised
    return x
