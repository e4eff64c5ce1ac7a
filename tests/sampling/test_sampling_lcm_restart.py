"""A1111's LCM and Restart in sdkit.sampling: toy known answers, the LCM wrapper against A1111's (restated
on k-diffusion), reproducibility, batch independence, and one demo-model CLI run each against an A1111
reference assembled from k-diffusion's pieces.

Toy data x₀ ~ N(μ, s²) per element. Its probability-flow ODE maps x at σ to
x₀ = μ + (x − μ)·s/sqrt(s² + σ²): that map is the exact consistency function LCM's model learns, so LCM
fed it lands on the data distribution at every step count; Restart under 20 steps is Heun and converges
to the ODE solution; with 20 or more it restarts and must still end on the data distribution.
"""

from __future__ import annotations

import json
import math

import kdiffusion_reference as reference
import numpy as np
import pytest
import torch
from cli_helpers import run_sdkit
from kdiffusion_reference import (
    A1111CFG,
    A1111ImageNoise,
    AlphasModel,
    CompVisUNet,
    a1111_lcm_wrapper,
    decode_a1111,
    load_k_diffusion,
)
from PIL import Image

from sdkit.demo import DEMO_MODEL_DIR
from sdkit.sampling import run
from sdkit.sampling.noise import ImageGenerators
from sdkit.sampling.samplers_extra import LCMTable, restart_steps, sample_lcm, sample_restart
from sdkit.sampling.samplers_ode import sample_heun
from sdkit.sampling.sigmas import SigmaTable, karras_sigmas

KD_SAMPLING, KD_EXTERNAL = load_k_diffusion()
MU, SPREAD = 1.0, 0.5


def gaussian_denoiser(x, sigma):
    return MU + SPREAD**2 / (SPREAD**2 + sigma**2) * (x - MU)


def consistency_function(x, sigma):
    return MU + (x - MU) * SPREAD / (SPREAD**2 + sigma**2) ** 0.5


def demo_table() -> SigmaTable:
    return SigmaTable.from_scheduler_config(json.loads((DEMO_MODEL_DIR / "scheduler" / "scheduler_config.json")
                                                       .read_text()))


def toy_run(sampler_id, seeds, steps, size=(64,), denoise=gaussian_denoiser, schedule="automatic"):
    sigmas = run.sampler_sigmas(sampler_id, schedule, demo_table(), steps)
    generators = ImageGenerators(seeds, size, "cpu")
    x = MU + generators.first() * sigmas[0]
    return run.run_sampler(sampler_id, denoise, x, sigmas, generators)


# --- LCM ----------------------------------------------------------------------------------------


def test_lcm_table_and_schedule_equal_a1111s_lcm_wrapper():
    table = demo_table()
    ours = LCMTable.from_table(table)
    theirs = a1111_lcm_wrapper(KD_SAMPLING, KD_EXTERNAL, AlphasModel(table.alphas_cumprod))
    assert torch.equal(ours.sigmas, theirs.sigmas)
    assert torch.equal(ours.sigmas, table.sigmas[19::20])
    probe = torch.logspace(-2.0, 1.3, 200)
    assert torch.equal(ours.sigma_to_t(probe), theirs.sigma_to_t(probe))
    assert set(ours.sigma_to_t(probe).tolist()) <= set(range(19, 1000, 20))  # integer LCM timesteps only
    times = torch.linspace(0, 1100, 301)
    assert torch.equal(ours.t_to_sigma(times), theirs.t_to_sigma(times))
    for steps in (1, 4, 8):
        # "Automatic" for LCM is A1111's wrapper's own get_sigmas; Karras takes that table's ends.
        assert torch.equal(run.sampler_sigmas("lcm", "automatic", table, steps), theirs.get_sigmas(steps))
        assert torch.equal(run.sampler_sigmas("lcm", "karras", table, steps),
                           KD_SAMPLING.get_sigmas_karras(steps, float(theirs.sigmas[0]), float(theirs.sigmas[-1])))


@pytest.mark.parametrize("steps", [1, 2, 4, 8])
def test_lcm_with_the_exact_consistency_function_ends_on_the_data_distribution(steps):
    samples = toy_run("lcm", [21], steps, size=(20000,), denoise=consistency_function)
    assert float(samples.mean()) == pytest.approx(MU, abs=0.02)
    assert float(samples.std()) == pytest.approx(SPREAD, rel=0.03)


def test_lcm_adds_noise_of_the_next_sigma_after_each_denoise():
    sigmas = torch.tensor([8.0, 2.0, 0.5, 0.0])
    draws = ImageGenerators([3], (16,), "cpu")
    first, second = draws(), draws()
    result = sample_lcm(lambda x, sigma: 0.5 * x, torch.zeros(1, 16), sigmas, noise=ImageGenerators([3], (16,), "cpu"))
    # x₁ = D(0) + 2·n₁, x₂ = D(x₁) + 0.5·n₂, and the last step is the bare estimate D(x₂): no noise at σ = 0.
    assert torch.equal(result, 0.5 * (0.5 * (2.0 * first) + 0.5 * second))


# --- Restart ------------------------------------------------------------------------------------


def test_restart_under_20_steps_is_heun_on_its_karras_schedule():
    table = demo_table()
    sigmas = run.sampler_sigmas("restart", "automatic", table, 12)
    assert torch.equal(sigmas, karras_sigmas(12, table.sigma_min, table.sigma_max))
    x = torch.linspace(-20, 20, 101)
    noise = ImageGenerators([1], (101,), "cpu")
    assert torch.equal(sample_restart(gaussian_denoiser, x, sigmas, noise=noise),
                       sample_heun(gaussian_denoiser, x, sigmas))
    assert restart_steps(sigmas) == list(zip(sigmas[:-1], sigmas[1:], strict=True))


@pytest.mark.parametrize("steps,segment,times", [(20, 9, 1), (36, 9, 2), (40, 10, 2)])
def test_restart_plan_from_20_steps_goes_back_up_near_sigma_2(steps, segment, times):
    table = demo_table()
    sigmas = run.sampler_sigmas("restart", "automatic", table, steps)
    pairs = restart_steps(sigmas)
    main = karras_sigmas(steps - segment * times, float(sigmas[-2]), float(sigmas[0]))
    bottom = int((main - 0.1).abs().argmin())
    top = int((main - 2).abs().argmin())
    ladder = karras_sigmas(segment + 1, float(main[bottom]), float(main[top]))[:-1]
    expected = [(main[i], main[i + 1]) for i in range(bottom)]
    expected += list(zip(ladder[:-1], ladder[1:], strict=True)) * times
    expected += [(main[i], main[i + 1]) for i in range(bottom, len(main) - 1)]
    assert [(float(a), float(b)) for a, b in pairs] == [(float(a), float(b)) for a, b in expected]
    assert len(pairs) == steps
    highest_restart = max(float(start) for start, _ in pairs[bottom:])
    assert highest_restart == pytest.approx(float(main[top]), rel=1e-5)
    assert 1.5 < highest_restart < 3.0


@pytest.mark.parametrize("steps", [5, 10, 15])
def test_restart_under_20_steps_converges_to_the_exact_ode_solution(steps):
    sigmas = run.sampler_sigmas("restart", "automatic", demo_table(), steps)[:-1].double()
    x = MU + 3.0 * torch.linspace(-2, 2, 11, dtype=torch.float64)
    exact = MU + (x - MU) * math.sqrt(SPREAD**2 + float(sigmas[-1]) ** 2) / math.sqrt(
        SPREAD**2 + float(sigmas[0]) ** 2)
    error = float((sample_restart(gaussian_denoiser, x, sigmas, noise=lambda *_: None) - exact).abs().max())
    assert error < {5: 0.5, 10: 0.05, 15: 0.02}[steps]


@pytest.mark.parametrize("steps", [24, 40])
def test_restart_with_restarts_ends_on_the_data_distribution(steps):
    samples = toy_run("restart", [8], steps, size=(20000,))
    assert float(samples.mean()) == pytest.approx(MU, abs=0.02)
    assert float(samples.std()) == pytest.approx(SPREAD, rel=0.03)


# --- both: reproducible, and an image of a batch is its seed alone --------------------------------


@pytest.mark.parametrize("sampler_id,steps", [("lcm", 4), ("restart", 22)])
def test_repeatable_and_each_image_is_its_seed_alone(sampler_id, steps):
    batch = toy_run(sampler_id, [30, 31, 32], steps)
    assert torch.equal(batch, toy_run(sampler_id, [30, 31, 32], steps))
    for index, seed in enumerate([30, 31, 32]):
        assert torch.equal(batch[index], toy_run(sampler_id, [seed], steps)[0])
    assert not torch.allclose(batch[0], batch[1])


# --- the demo model through the CLI ---------------------------------------------------------------

PROMPT = "a red circle on a blue background"
SEED, CFG = 4, 3.0


@pytest.fixture(scope="module")
def demo_pipeline():
    return reference.demo_pipeline()


def cli_image(capsys, tmp_path, sampler: str, steps: int) -> np.ndarray:
    result = run_sdkit(capsys, "generate", "--prompt", PROMPT, "--width", "64", "--height", "64", "--sampler",
                       sampler, "--steps", str(steps), "--seed", str(SEED), "--cfg-scale", str(CFG),
                       "--output-dir", str(tmp_path), "--json")
    assert result.exit_code == 0, result.output
    [record] = json.loads(result.stdout)["images"]
    return np.asarray(Image.open(record["path"]).convert("RGB"))


def reference_inputs(pipeline):
    table = demo_table()
    with torch.inference_mode():
        cond, uncond = pipeline.encode_prompt(PROMPT, "cpu", 1, True, "")
    side = 64 // pipeline.vae_scale_factor
    noise = A1111ImageNoise([SEED], (int(pipeline.vae.config.latent_channels), side, side))
    return table, cond, uncond, noise


def test_demo_lcm_png_is_a1111s_lcm_image(capsys, tmp_path, demo_pipeline):
    """A1111's LCM on the demo model: its wrapper (the v-model's output read as ε, as A1111 does), CFG, noise."""
    steps = 4
    image = cli_image(capsys, tmp_path, "LCM", steps)
    table, cond, uncond, noise = reference_inputs(demo_pipeline)
    wrapped = a1111_lcm_wrapper(KD_SAMPLING, KD_EXTERNAL, CompVisUNet(demo_pipeline.unet, table.alphas_cumprod))
    denoise = A1111CFG(wrapped, cond, uncond, CFG)
    sigmas = wrapped.get_sigmas(steps)
    with torch.inference_mode():
        x = noise.first() * sigmas[0]
        for i in range(steps):
            x = denoise(x, sigmas[i] * x.new_ones([1]))
            if sigmas[i + 1] > 0:
                x += sigmas[i + 1] * noise()
    expected = decode_a1111(demo_pipeline.vae, x)[0]
    difference = int(np.abs(image.astype(int) - expected.astype(int)).max())
    diffusers_lcm = cli_image(capsys, tmp_path, "LCMScheduler", steps)  # the diffusers name: another computation
    assert not np.array_equal(image, diffusers_lcm)
    print(f"LCM: max difference {difference} of 255")  # after the last CLI run, which reads captured output
    assert difference <= 2


def test_demo_restart_png_is_a1111s_restart_image(capsys, tmp_path, demo_pipeline):
    """20 steps: Karras over 11 sigmas, one restart from σ ≈ 0.1 up to σ ≈ 2 and 9 Heun steps down again,
    assembled here from k-diffusion's get_sigmas_karras and sample_heun around CompVisVDenoiser."""
    steps = 20
    image = cli_image(capsys, tmp_path, "Restart", steps)
    table, cond, uncond, noise = reference_inputs(demo_pipeline)
    wrapped = KD_EXTERNAL.CompVisVDenoiser(CompVisUNet(demo_pipeline.unet, table.alphas_cumprod))
    denoise = A1111CFG(wrapped, cond, uncond, CFG)
    low, high = float(wrapped.sigmas[0]), float(wrapped.sigmas[-1])
    schedule = KD_SAMPLING.get_sigmas_karras(steps, low, high)
    main = KD_SAMPLING.get_sigmas_karras(steps - 9, float(schedule[-2]), float(schedule[0]))
    bottom, top = int((main - 0.1).abs().argmin()), int((main - 2).abs().argmin())
    ladder = KD_SAMPLING.get_sigmas_karras(10, float(main[bottom]), float(main[top]))[:-1]
    with torch.inference_mode():
        x = noise.first() * main[0]
        x = KD_SAMPLING.sample_heun(denoise, x, main[:bottom + 1], disable=True)
        x = x + noise() * (ladder[0] ** 2 - main[bottom] ** 2) ** 0.5
        x = KD_SAMPLING.sample_heun(denoise, x, ladder, disable=True)
        if ladder[-1] < main[bottom]:
            x = x + noise() * (main[bottom] ** 2 - ladder[-1] ** 2) ** 0.5
        x = KD_SAMPLING.sample_heun(denoise, x, main[bottom:], disable=True)
    expected = decode_a1111(demo_pipeline.vae, x)[0]
    difference = int(np.abs(image.astype(int) - expected.astype(int)).max())
    print(f"Restart: max difference {difference} of 255")
    assert difference <= 2
    assert int(np.ptp(expected)) > 50
