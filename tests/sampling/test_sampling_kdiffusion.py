"""sdkit.sampling against k-diffusion itself (the code A1111 v1.10 runs), with the same inputs.

The oracle is k-diffusion 0.1.1.post1 (`kdiffusion_reference.load_k_diffusion`; a clear failure says how
to install it). Four levels:
- schedules and the model's σ table: sdkit.sampling.sigmas against k_diffusion.sampling.get_sigmas_* and
  k_diffusion.external.CompVisDenoiser (get_sigmas, sigma_to_t, t_to_sigma) on the demo model's ᾱ;
- every k-diffusion sampler sdkit implements, on a toy denoiser that is nonlinear in x and σ, fed the same
  noise: per-image generator draws (ancestral) or A1111's per-image Brownian trees (SDE);
- the demo model end to end: an A1111 reference assembled here from k-diffusion's CompVisVDenoiser around
  the diffusers UNet, A1111's CFG, x = noise·σ₀ and its uint8 truncation, against `sdkit generate`'s PNG;
- the same on a tiny ε-prediction SD 1.x model with k-diffusion's CompVisDenoiser (`--model`), with
  `--rng cpu` and `--rng nv`.
"""

from __future__ import annotations

import json
from pathlib import Path

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
    brownian_noise_sampler,
    decode_a1111,
    load_k_diffusion,
)
from PIL import Image

from sdkit.demo import DEMO_MODEL_DIR
from sdkit.sampling import run
from sdkit.sampling import sigmas as sd_sigmas
from sdkit.sampling.noise import BrownianTreeNoise, ImageGenerators

KD_SAMPLING, KD_EXTERNAL = load_k_diffusion()
# torchsde warns when a query lands an ulp outside the tree (σ recomputed as exp(−λ)); A1111 shows the same.
pytestmark = pytest.mark.filterwarnings("ignore:Should have t[ab]:UserWarning")
SEEDS = [5, 6]
SHAPE = (4, 8, 8)  # one image's latent (toy tests)
PROMPT = "a red circle on a blue background"


def demo_table() -> sd_sigmas.SigmaTable:
    config = json.loads((DEMO_MODEL_DIR / "scheduler" / "scheduler_config.json").read_text())
    return sd_sigmas.SigmaTable.from_scheduler_config(config)


def kd_wrapper(table: sd_sigmas.SigmaTable):
    """k-diffusion's CompVisDenoiser on the same ᾱ (its σ table, σ ↔ t and default sigmas)."""
    return KD_EXTERNAL.CompVisDenoiser(AlphasModel(table.alphas_cumprod))


# --- schedules and the σ table ------------------------------------------------------------------


def test_sigma_table_and_uniform_schedule_equal_compvis_denoisers_bit_for_bit():
    table = demo_table()
    wrapper = kd_wrapper(table)
    assert torch.equal(table.sigmas, wrapper.sigmas)
    assert torch.equal(table.log_sigmas, wrapper.log_sigmas)
    for steps in (1, 5, 20, 37):
        assert torch.equal(sd_sigmas.discretization_sigmas(table, steps), wrapper.get_sigmas(steps))
        assert torch.equal(run.sampler_sigmas("euler", "automatic", table, steps), wrapper.get_sigmas(steps))
    # σ ↔ t at every kind of point: table entries, between them, beyond both ends.
    probe = torch.cat([table.sigmas[::97], torch.logspace(-2.0, 1.3, 301), torch.tensor([1e-3, 50.0])])
    assert torch.equal(table.sigma_to_t(probe), wrapper.sigma_to_t(probe))
    fractional = torch.linspace(0, 999, 777)
    assert torch.equal(table.t_to_sigma(fractional), wrapper.t_to_sigma(fractional))


@pytest.mark.parametrize("steps", [1, 4, 15, 30])
def test_closed_form_schedules_equal_k_diffusions_bit_for_bit(steps):
    table = demo_table()
    low, high = table.sigma_min, table.sigma_max  # A1111: the wrapper's sigmas[0] and sigmas[-1]
    pairs = {
        "karras": KD_SAMPLING.get_sigmas_karras(steps, low, high),
        "exponential": KD_SAMPLING.get_sigmas_exponential(steps, low, high),
        "polyexponential": KD_SAMPLING.get_sigmas_polyexponential(steps, low, high),
    }
    for schedule, expected in pairs.items():
        assert torch.equal(sd_sigmas.schedule_sigmas(schedule, table, steps), expected), schedule
    assert torch.equal(sd_sigmas.karras_sigmas(steps, low, high, rho=3.0),
                       KD_SAMPLING.get_sigmas_karras(steps, low, high, rho=3.0))
    assert torch.equal(sd_sigmas.polyexponential_sigmas(steps, low, high, rho=2.5),
                       KD_SAMPLING.get_sigmas_polyexponential(steps, low, high, rho=2.5))


# --- samplers on a toy denoiser -----------------------------------------------------------------


def toy_denoiser(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Deterministic, nonlinear in x and σ; σ may be 0-d (sdkit) or one per image (k-diffusion)."""
    sigma = torch.as_tensor(sigma, dtype=x.dtype)
    if sigma.ndim:
        sigma = sigma.reshape(-1, *[1] * (x.ndim - 1))
    shrink = 0.25 / (0.25 + sigma**2)
    return 0.3 + shrink * (x - 0.3) + 0.2 * torch.tanh(x) * sigma / (1 + sigma**2)


KD_FUNCTIONS = {
    "euler": ("sample_euler", {}), "euler_ancestral": ("sample_euler_ancestral", {}),
    "heun": ("sample_heun", {}), "lms": ("sample_lms", {}), "dpm_2": ("sample_dpm_2", {}),
    "dpm_2_ancestral": ("sample_dpm_2_ancestral", {}), "dpmpp_2s_ancestral": ("sample_dpmpp_2s_ancestral", {}),
    "dpmpp_2m": ("sample_dpmpp_2m", {}), "dpmpp_sde": ("sample_dpmpp_sde", {}),
    "dpmpp_2m_sde": ("sample_dpmpp_2m_sde", {}), "dpmpp_2m_sde_heun": ("sample_dpmpp_2m_sde", {"solver_type": "heun"}),
    "dpmpp_3m_sde": ("sample_dpmpp_3m_sde", {}),
}
# LMS's coefficients: k-diffusion integrates its Lagrange polynomials over the sigmas as a numpy float32
# array, and under numpy 2 (installed here) float32 − Python float stays float32; A1111's numpy 1.26
# promoted that to float64, as sdkit computes. The coefficients then differ by float32 rounding (~1e-7
# relative), which the x updates carry: within a few float32 ulps of the latent, not bit for bit.
ROUNDING_ONLY = {"lms": 1e-5}


def test_every_sampler_sdkit_runs_has_a_k_diffusion_counterpart_here():
    assert set(KD_FUNCTIONS) == set(run.SAMPLERS) - {"lcm", "restart"}  # A1111's own: test_sampling_lcm_restart


def kd_sample(sampler_id: str, x: torch.Tensor, sigmas: torch.Tensor, seeds: list[int]) -> torch.Tensor:
    name, options = KD_FUNCTIONS[sampler_id]
    noise_kind = run.SAMPLERS[sampler_id].noise
    arguments = dict(options, disable=True)
    if noise_kind == "generator":
        generators = A1111ImageNoise(seeds, x.shape[1:])
        generators.first()  # the initial noise was the first draw; the steps get the ones after it
        arguments["noise_sampler"] = generators
    elif noise_kind == "brownian":
        arguments["noise_sampler"] = brownian_noise_sampler(KD_SAMPLING, x, sigmas, seeds)
    return getattr(KD_SAMPLING, name)(toy_denoiser, x, sigmas, **arguments)


def sdkit_sample(sampler_id: str, x: torch.Tensor, sigmas: torch.Tensor, seeds: list[int]) -> torch.Tensor:
    generators = ImageGenerators(seeds, x.shape[1:], "cpu")
    generators.first()
    return run.run_sampler(sampler_id, toy_denoiser, x, sigmas, generators)


@pytest.mark.parametrize("sampler_id", sorted(KD_FUNCTIONS))
@pytest.mark.parametrize("schedule,steps", [("automatic", 7), ("uniform", 12)])
def test_sampler_equals_k_diffusions_function(sampler_id, schedule, steps):
    table = demo_table()
    sigmas = run.sampler_sigmas(sampler_id, schedule, table, steps)
    start = A1111ImageNoise(SEEDS, SHAPE).first() * sigmas[0]
    expected = kd_sample(sampler_id, start.clone(), sigmas, SEEDS)
    result = sdkit_sample(sampler_id, start.clone(), sigmas, SEEDS)
    assert torch.isfinite(expected).all()
    if sampler_id in ROUNDING_ONLY:
        difference = float((result - expected).abs().max())
        assert difference <= ROUNDING_ONLY[sampler_id] * float(expected.abs().max()), difference
    else:
        assert torch.equal(result, expected)


def test_lms_coefficients_equal_k_diffusions_under_a1111s_float64_promotion():
    from sdkit.sampling.samplers_ode import lms_coefficient

    sigmas = run.sampler_sigmas("lms", "automatic", demo_table(), 9)
    as_float64 = sigmas.numpy().astype(np.float64)  # what numpy 1.x made of float32 − Python float
    for i in range(len(sigmas) - 1):
        order = min(i + 1, 4)
        for j in range(order):
            assert lms_coefficient(order, [float(value) for value in sigmas], i, j) == \
                KD_SAMPLING.linear_multistep_coeff(order, as_float64, i, j)


def test_brownian_tree_noise_equals_k_diffusions_per_image_sampler():
    table = demo_table()
    sigmas = run.sampler_sigmas("dpmpp_2m_sde", "karras", table, 9)
    x = A1111ImageNoise(SEEDS, SHAPE).first() * sigmas[0]
    ours = BrownianTreeNoise.for_sigmas(x, sigmas, SEEDS)
    theirs = brownian_noise_sampler(KD_SAMPLING, x, sigmas, SEEDS)
    for sigma, sigma_next in zip(sigmas[:-2], sigmas[1:-1], strict=True):
        assert torch.equal(ours(sigma, sigma_next), theirs(sigma, sigma_next))
    # A midpoint query, as DPM++ SDE makes: still the same path.
    middle = (sigmas[2] * sigmas[3]).sqrt()
    assert torch.equal(ours(sigmas[2], middle), theirs(sigmas[2], middle))


# --- the demo model end to end ------------------------------------------------------------------

END_TO_END = [  # (A1111 label, sdkit sampler id, schedule A1111 uses when Automatic)
    ("Euler a", "euler_ancestral", "uniform"),
    ("DPM++ 2M", "dpmpp_2m", "karras"),
    ("DPM++ SDE", "dpmpp_sde", "karras"),
    ("DPM++ 2M SDE", "dpmpp_2m_sde", "exponential"),
]
STEPS, SEED, CFG = 6, 11, 3.0
MEASURED: dict[str, int] = {}


@pytest.fixture(scope="module")
def demo_pipeline():
    return reference.demo_pipeline()


def a1111_reference_image(pipeline, sampler_id: str, schedule: str, *, steps: int = STEPS, seed: int = SEED,
                          cfg: float = CFG, size: int = 64, rng: str = "cpu") -> np.ndarray:
    """What A1111 v1.10 computes for txt2img, assembled from k-diffusion's own code around the UNet.

    The model's prediction type picks k-diffusion's wrapper (CompVisVDenoiser or CompVisDenoiser). Noise:
    `cpu` is A1111's per-image torch generators, written here; `nv` uses sdkit's NV generators in place of
    A1111's (their values are checked in test_sampling_nv_rng.py).
    """
    table = sd_sigmas.SigmaTable.from_scheduler_config(pipeline.scheduler.config)
    model = CompVisUNet(pipeline.unet, table.alphas_cumprod)
    v_model = pipeline.scheduler.config.prediction_type == "v_prediction"
    wrapped = (KD_EXTERNAL.CompVisVDenoiser if v_model else KD_EXTERNAL.CompVisDenoiser)(model)
    low, high = float(wrapped.sigmas[0]), float(wrapped.sigmas[-1])
    sigmas = {"uniform": lambda: wrapped.get_sigmas(steps),
              "karras": lambda: KD_SAMPLING.get_sigmas_karras(steps, low, high),
              "exponential": lambda: KD_SAMPLING.get_sigmas_exponential(steps, low, high)}[schedule]()
    side = size // pipeline.vae_scale_factor
    shape = (int(pipeline.vae.config.latent_channels), side, side)
    noise = A1111ImageNoise([seed], shape) if rng == "cpu" else ImageGenerators([seed], shape, "nv")
    with torch.inference_mode():
        cond, uncond = pipeline.encode_prompt(PROMPT, "cpu", 1, True, "")
        x = noise.first() * sigmas[0]
        name, options = KD_FUNCTIONS[sampler_id]
        arguments = dict(options, disable=True)
        if run.SAMPLERS[sampler_id].noise == "brownian":
            arguments["noise_sampler"] = brownian_noise_sampler(KD_SAMPLING, x, sigmas, [seed])
        elif run.SAMPLERS[sampler_id].noise == "generator":
            arguments["noise_sampler"] = noise
        latents = getattr(KD_SAMPLING, name)(A1111CFG(wrapped, cond, uncond, cfg), x, sigmas, **arguments)
    return decode_a1111(pipeline.vae, latents)[0]


@pytest.mark.parametrize("label,sampler_id,schedule", END_TO_END)
def test_demo_model_png_is_a1111s_image_within_two_levels(capsys, tmp_path: Path, demo_pipeline, label,
                                                         sampler_id, schedule):
    result = run_sdkit(capsys, "generate", "--prompt", PROMPT, "--width", "64", "--height", "64", "--sampler", label,
                       "--steps", str(STEPS), "--seed", str(SEED), "--cfg-scale", str(CFG),
                       "--output-dir", str(tmp_path), "--json")
    assert result.exit_code == 0, result.output
    [image] = [np.asarray(Image.open(item["path"]).convert("RGB")) for item in json.loads(result.stdout)["images"]]
    expected = a1111_reference_image(demo_pipeline, sampler_id, schedule)
    difference = int(np.abs(image.astype(int) - expected.astype(int)).max())
    MEASURED[label] = difference
    print(f"{label}: max difference {difference} of 255")
    assert difference <= 2
    # Not two blank pictures: the demo model draws shapes in colour.
    assert int(np.ptp(expected)) > 50


# --- a tiny ε-prediction model end to end -------------------------------------------------------
# The demo model is v-prediction; this is the ε path: k-diffusion's CompVisDenoiser (denoised = x − σ·ε,
# the UNet at x/sqrt(σ² + 1) and the fractional t(σ)) around a random-weight SD 1.x-shaped UNet whose
# scheduler config says "epsilon", with A1111's CFG, x = noise·σ₀ and uint8 truncation, against
# `sdkit generate --model <that folder>`. The `nv` case feeds both sides sdkit's NV noise (initial and
# per-step draws): it checks that --rng nv reaches the sampler as A1111 would use it, not the NV values.
EPS_CASES = [  # (A1111 label, sdkit sampler id, A1111's Automatic schedule, rng)
    ("Euler a", "euler_ancestral", "uniform", "cpu"),
    ("DPM++ 2M", "dpmpp_2m", "karras", "cpu"),
    ("DPM++ 2M SDE", "dpmpp_2m_sde", "exponential", "cpu"),
    ("Euler a", "euler_ancestral", "uniform", "nv"),
]
EPS_STEPS, EPS_SEED, EPS_CFG, EPS_SIZE = 5, 21, 4.0, 64


@pytest.fixture(scope="module")
def tiny_eps_model(tiny_pipeline_dir):
    from diffusers import StableDiffusionPipeline

    folder = tiny_pipeline_dir("sd1", prediction_type="epsilon")
    pipeline = StableDiffusionPipeline.from_pretrained(folder, local_files_only=True, safety_checker=None,
                                                       requires_safety_checker=False)
    assert pipeline.scheduler.config.prediction_type == "epsilon"
    return folder, pipeline


def a1111_eps_reference(pipeline, sampler_id: str, schedule: str, rng: str) -> np.ndarray:
    """A1111's txt2img on an ε model, from k-diffusion's own code around the UNet."""
    return a1111_reference_image(pipeline, sampler_id, schedule, steps=EPS_STEPS, seed=EPS_SEED, cfg=EPS_CFG,
                                 size=EPS_SIZE, rng=rng)


@pytest.mark.parametrize("label,sampler_id,schedule,rng", EPS_CASES)
def test_eps_model_png_is_a1111s_image_within_two_levels(capsys, tmp_path: Path, tiny_eps_model, label, sampler_id,
                                                        schedule, rng):
    folder, pipeline = tiny_eps_model
    result = run_sdkit(capsys, "generate", "--model", str(folder), "--prompt", PROMPT, "--width", str(EPS_SIZE),
                       "--height", str(EPS_SIZE), "--sampler", label, "--steps", str(EPS_STEPS), "--seed",
                       str(EPS_SEED), "--cfg-scale", str(EPS_CFG), "--rng", rng, "--output-dir", str(tmp_path),
                       "--json")
    assert result.exit_code == 0, result.output
    [image] = [np.asarray(Image.open(item["path"]).convert("RGB")) for item in json.loads(result.stdout)["images"]]
    expected = a1111_eps_reference(pipeline, sampler_id, schedule, rng)
    difference = int(np.abs(image.astype(int) - expected.astype(int)).max())
    print(f"{label} ({rng}) on the ε model: max difference {difference} of 255")
    assert difference <= 2
    # The comparison means something: the picture is not flat, and the other noise source draws another one.
    assert int(np.ptp(expected)) > 5
    other = a1111_eps_reference(pipeline, sampler_id, schedule, "nv" if rng == "cpu" else "cpu")
    assert int(np.abs(other.astype(int) - expected.astype(int)).max()) > 2
