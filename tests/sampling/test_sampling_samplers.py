"""Known answers for every sampler on toy data whose diffusion has a closed form.

Data x₀ ~ N(μ, s²) per element: the ideal denoiser is D(x; σ) = μ + s²/(s² + σ²)·(x − μ), and the
probability-flow ODE solves to x(σ) − μ = (x(σ₀) − μ)·sqrt(s² + σ²)/sqrt(s² + σ₀²). ODE samplers must
converge to it with their order; stochastic samplers must end with the data's distribution; noise comes
per image, so image i of a batch is that image alone, bit for bit.
"""

from __future__ import annotations

import math

import pytest
import torch

from sdkit.sampling import run
from sdkit.sampling.ddim import sample_ddim
from sdkit.sampling.noise import BrownianTreeNoise, ImageGenerators
from sdkit.sampling.sigmas import SigmaTable, ddim_timesteps, karras_sigmas

MU, SPREAD = 1.0, 0.5
ODE_SAMPLERS = [sampler_id for sampler_id, sampler in run.SAMPLERS.items() if sampler.noise == "none"]
STOCHASTIC_SAMPLERS = [sampler_id for sampler_id, sampler in run.SAMPLERS.items() if sampler.noise != "none"]
# LCM expects a consistency model (D(x; σ) = the ODE's end point), not the ideal denoiser: its known answer,
# with the exact consistency function, is in test_sampling_lcm_restart.py.
DENOISER_SAMPLERS = [sampler_id for sampler_id in STOCHASTIC_SAMPLERS if sampler_id != "lcm"]
# err(n)/err(2n) of each ODE sampler: 2 for first order, 4 for second; LMS (order 4 once warmed up) more.
MIN_RATIO = {"euler": 1.9, "heun": 3.5, "dpm_2": 3.5, "dpmpp_2m": 3.5, "lms": 6.0}
MAX_RATIO = {"euler": 2.1}


def gaussian_denoiser(x, sigma):
    return MU + SPREAD**2 / (SPREAD**2 + sigma**2) * (x - MU)


def exact_solution(x_start, sigma_start, sigma_end):
    return MU + (x_start - MU) * math.sqrt(SPREAD**2 + sigma_end**2) / math.sqrt(SPREAD**2 + sigma_start**2)


def run_ode(sampler_id, x, sigmas, denoise=gaussian_denoiser):
    sampler = run.SAMPLERS[sampler_id]
    return sampler.function(denoise, x, sigmas, **dict(sampler.options))


def ode_error(sampler_id: str, steps: int) -> float:
    sigmas = karras_sigmas(steps, 0.03, 14.6)[:-1].double()  # end above 0: the exact answer stays smooth
    x = MU + 3.0 * torch.linspace(-2, 2, 101, dtype=torch.float64)
    expected = exact_solution(x, float(sigmas[0]), float(sigmas[-1]))
    return float((run_ode(sampler_id, x, sigmas) - expected).abs().max())


@pytest.mark.parametrize("sampler_id", ODE_SAMPLERS)
def test_ode_samplers_converge_to_the_exact_solution_with_their_order(sampler_id):
    errors = [ode_error(sampler_id, steps) for steps in (20, 40, 80)]
    assert errors[-1] < 0.1
    for coarse, fine in zip(errors, errors[1:], strict=False):
        assert coarse / fine >= MIN_RATIO[sampler_id]
        assert coarse / fine <= MAX_RATIO.get(sampler_id, 100.0)


def test_second_order_samplers_beat_euler_at_the_same_model_calls():
    # Heun calls the model twice a step: compare Heun at n steps with Euler at 2n.
    assert ode_error("heun", 20) < ode_error("euler", 40) / 2.5
    assert ode_error("dpmpp_2m", 20) < ode_error("euler", 20) / 5


@pytest.mark.parametrize("sampler_id", ODE_SAMPLERS)
def test_a_single_point_is_reached_exactly_at_sigma_zero(sampler_id):
    sigmas = karras_sigmas(8, 0.03, 14.6).double()
    x = MU + 14.6 * torch.linspace(-1, 1, 9, dtype=torch.float64)
    result = run_ode(sampler_id, x, sigmas, denoise=lambda x, sigma: torch.full_like(x, MU))
    assert torch.allclose(result, torch.full_like(x, MU), atol=1e-9)


def run_stochastic(sampler_id, seeds, steps=40, size=(2000,)):
    sampler = run.SAMPLERS[sampler_id]
    sigmas = karras_sigmas(steps, 0.03, 14.6)
    generators = ImageGenerators(seeds, size, "cpu")
    x = MU + math.sqrt(SPREAD**2 + float(sigmas[0]) ** 2) * generators.first()
    noise = generators if sampler.noise == "generator" else BrownianTreeNoise.for_sigmas(x, sigmas, seeds)
    return sampler.function(gaussian_denoiser, x, sigmas, noise=noise, **dict(sampler.options))


@pytest.mark.parametrize("sampler_id", DENOISER_SAMPLERS)
def test_stochastic_samplers_end_with_the_data_distribution(sampler_id):
    samples = run_stochastic(sampler_id, [11], steps=100, size=(20000,))
    assert float(samples.mean()) == pytest.approx(MU, abs=0.02)
    # Euler a is first order: its spread is still 4% short at 100 steps (0.36 at 10, 0.44 at 30).
    assert float(samples.std()) == pytest.approx(SPREAD, rel=0.05)


@pytest.mark.parametrize("sampler_id", STOCHASTIC_SAMPLERS)
def test_stochastic_samplers_repeat_and_each_image_is_its_seed_alone(sampler_id):
    batch = run_stochastic(sampler_id, [3, 4, 5], steps=6, size=(64,))
    assert torch.equal(batch, run_stochastic(sampler_id, [3, 4, 5], steps=6, size=(64,)))
    for index, seed in enumerate([3, 4, 5]):
        assert torch.equal(batch[index], run_stochastic(sampler_id, [seed], steps=6, size=(64,))[0])
    assert not torch.allclose(batch[0], run_stochastic(sampler_id, [99], steps=6, size=(64,))[0])


def test_brownian_increments_are_unit_normal_and_consistent():
    x = torch.zeros(1, 20000)
    noise = BrownianTreeNoise(x, 0.03, 14.6, [1])
    step = noise(torch.tensor(10.0), torch.tensor(8.0))
    assert float(step.std()) == pytest.approx(1.0, abs=0.03)
    # W(10) − W(8) is the sum of its halves: the tree answers every query from one path.
    halves = noise(torch.tensor(10.0), torch.tensor(9.0)) + noise(torch.tensor(9.0), torch.tensor(8.0))
    assert torch.allclose(step * math.sqrt(2.0), halves, atol=1e-4)


def test_callback_sees_every_step_and_can_stop_early():
    seen = []
    sigmas = karras_sigmas(5, 0.03, 14.6)
    x = torch.tensor([5.0, -3.0, 2.0])
    run.SAMPLERS["euler"].function(gaussian_denoiser, x, sigmas,
                                   callback=lambda step, total: seen.append((step, total)))
    assert seen == [(step, 5) for step in range(1, 6)]
    calls = []

    def counting_denoiser(x, sigma):
        calls.append(float(sigma))
        return gaussian_denoiser(x, sigma)

    stopped = run.SAMPLERS["heun"].function(counting_denoiser, x, sigmas, callback=lambda step, total: step == 2)
    assert len(calls) == 4  # two Heun steps of two calls each, then nothing
    assert not torch.equal(stopped, run.SAMPLERS["heun"].function(gaussian_denoiser, x, sigmas))


def test_ddim_runs_a1111s_steps_and_ends_at_timestep_1():
    table = SigmaTable.from_scheduler_config({"beta_start": 0.00085, "beta_end": 0.012,
                                              "beta_schedule": "scaled_linear", "num_train_timesteps": 1000})
    alphas = table.alphas_cumprod.double()
    called = []

    def point_eps(x, timestep):  # data is the single point MU: ε is known exactly
        called.append(timestep)
        return (x - alphas[timestep].sqrt() * MU) / (1 - alphas[timestep]).sqrt()

    x = torch.linspace(-2, 2, 5, dtype=torch.float64)
    result = sample_ddim(point_eps, x, ddim_timesteps(10), table.alphas_cumprod)
    assert called == [901, 801, 701, 601, 501, 401, 301, 201, 101]  # 9 evaluations for n = 10
    # Deterministic DDIM keeps ε; it lands on ᾱ(1), not on the clean point.
    eps = (x - alphas[901].sqrt() * MU) / (1 - alphas[901]).sqrt()
    expected = alphas[1].sqrt() * MU + (1 - alphas[1]).sqrt() * eps
    assert torch.allclose(result, expected, atol=1e-5)
    assert not torch.allclose(result, torch.full_like(x, MU), atol=1e-3)
