"""A1111's timestep samplers (DDIM, PLMS, UniPC): their timesteps, img2img start, and known answers.

Toy ε-models with closed forms, over the SD 1.x ᾱ table: point data (x₀ = μ: ε is constant along the
probability-flow ODE, so every sampler lands exactly on sqrt(ᾱ_end)·μ + sqrt(1 − ᾱ_end)·ε) and Gaussian
data N(μ, s²) (the ODE solves to y − μ ∝ sqrt(s² + σ²) with y = x/sqrt(ᾱ), σ² = (1 − ᾱ)/ᾱ), where the
samplers converge with their order. Fractional model times (UniPC's) read ᾱ by log-linear interpolation
between the integer steps, as UniPC's discrete schedule defines them.
"""

from __future__ import annotations

import math

import pytest
import torch

from sdkit.engines.sd import a1111
from sdkit.sampling import run, timesteps
from sdkit.sampling.denoiser import Conditioning, UNetDenoiser
from sdkit.sampling.sigmas import SigmaTable
from sdkit.sampling.unipc import sample_unipc

TABLE = SigmaTable.from_scheduler_config({"beta_start": 0.00085, "beta_end": 0.012,
                                          "beta_schedule": "scaled_linear", "num_train_timesteps": 1000})
ALPHAS = TABLE.alphas_cumprod.double()
MU, SPREAD = 1.0, 0.5
SAMPLERS = ("ddim", "plms", "uni_pc")
SHAPE = (1, 2, 2)


def alpha_at(timestep: float) -> torch.Tensor:
    low = min(int(math.floor(timestep)), 998)
    weight = timestep - low
    log_alphas = 0.5 * ALPHAS.log()
    return torch.exp(2 * ((1 - weight) * log_alphas[low] + weight * log_alphas[low + 1]))


class ToyEps:
    """ε of point (spread 0) or Gaussian data; records the model times it was asked at."""

    def __init__(self, spread: float = SPREAD) -> None:
        self.spread, self.calls, self.inputs = spread, [], []

    def __call__(self, x: torch.Tensor, timestep: float) -> torch.Tensor:
        self.calls.append(timestep)
        self.inputs.append(x)
        alpha = alpha_at(float(timestep))
        return (1 - alpha).sqrt() / (alpha * self.spread**2 + 1 - alpha) * (x - alpha.sqrt() * MU)

    predict_eps = __call__


def exact(x: torch.Tensor, alpha_start: torch.Tensor, alpha_end: torch.Tensor, spread: float = SPREAD):
    sigma_start, sigma_end = ((1 - alpha_start) / alpha_start).sqrt(), ((1 - alpha_end) / alpha_end).sqrt()
    scale = torch.sqrt(spread**2 + sigma_end**2) / torch.sqrt(spread**2 + sigma_start**2)
    y = MU + (x / alpha_start.sqrt() - MU) * scale
    return y * alpha_end.sqrt()


def start_points() -> torch.Tensor:
    return torch.linspace(-3, 3, 7, dtype=torch.float64).reshape(7, 1, 1, 1)


def test_the_mirrors_agree():
    assert a1111.TIMESTEP_SAMPLERS == timesteps.TIMESTEP_SAMPLERS
    assert set(timesteps.TIMESTEP_SAMPLERS) <= set(run.SAMPLER_IDS)


@pytest.mark.parametrize("sampler_id,calls", [("ddim", 19), ("plms", 20), ("uni_pc", 20)])
def test_prompt_schedule_spans_the_steps_as_a1111s_does(sampler_id, calls):
    """A1111 builds their prompt schedule over `steps` (none is second order); the model calls fit in it."""
    model = ToyEps()
    timesteps.txt2img_timesteps(sampler_id, model, start_points(), 20, ALPHAS)
    assert len(model.calls) == calls and run.prompt_schedule_steps(sampler_id, 20) == 20


@pytest.mark.parametrize("steps,length,top", [(10, 10, 901), (30, 31, 991), (7, 8, 995), (20, 20, 951)])
def test_ddim_and_plms_call_the_model_at_a1111s_timesteps(steps, length, top):
    stride = 1000 // steps
    ddim, plms = ToyEps(), ToyEps()
    timesteps.txt2img_timesteps("ddim", ddim, start_points(), steps, ALPHAS)
    timesteps.txt2img_timesteps("plms", plms, start_points(), steps, ALPHAS)
    # The list has `length` entries k·stride + 1; DDIM asks at all but the lowest, from the top.
    assert ddim.calls == [top - k * stride for k in range(length - 1)]
    # PLMS: the same, plus one call where its first DDIM step lands (pseudo improved Euler).
    assert plms.calls == [top, top - stride, *ddim.calls[1:]]


def test_unipc_takes_the_list_length_as_its_steps_and_runs_its_own_times():
    model = ToyEps()
    timesteps.txt2img_timesteps("uni_pc", model, start_points(), 30, ALPHAS)
    # 31 list entries: 31 steps from t = 1 to 1/1000, 31 model calls (each corrector's is reused).
    expected = [(1 - k * (1 - 0.001) / 31 - 0.001) * 1000 for k in range(31)]
    assert len(model.calls) == 31
    assert model.calls == pytest.approx(expected, abs=1e-3)


@pytest.mark.parametrize("steps,strength,exact_steps,start,ddim_calls", [
    (20, 0.5, False, 501, [451 - 50 * k for k in range(9)]),  # t_enc 10: noised at entry 10, runs 9..1
    (10, 1.0, False, 901, [801 - 100 * k for k in range(8)]),  # strength 1: t_enc = int(0.999·10) = 9
    (4, 0.5, True, 376, [251, 126]),  # hires rule: an 8-step list, t_enc = 3
    (15, 0.75, False, 727, [661 - 66 * k for k in range(10)]),  # t_enc = int(11.25) = 11
])
def test_img2img_starts_at_a1111s_timestep(steps, strength, exact_steps, start, ddim_calls):
    total, encoded = run.img2img_schedule(steps, strength, exact_steps)
    init, noise = torch.full((1, *SHAPE), 0.5, dtype=torch.float64), torch.ones((1, *SHAPE), dtype=torch.float64)
    for sampler_id in SAMPLERS:
        model = ToyEps()
        timesteps.img2img_timesteps(sampler_id, model, init, noise, total, encoded, ALPHAS)
        # The first model call sees sqrt(ᾱ)·init + sqrt(1 − ᾱ)·noise at entry t_enc (one entry above its time).
        alpha = TABLE.alphas_cumprod[start].double()
        assert torch.allclose(model.inputs[0], alpha.sqrt() * init + (1 - alpha).sqrt() * noise, atol=1e-7)
        if sampler_id == "ddim":
            assert model.calls == ddim_calls
        elif sampler_id == "plms":
            # DDIM's calls, plus one where its first step lands: the next entry down
            assert model.calls == [ddim_calls[0], ddim_calls[1], *ddim_calls[1:]]
        else:  # UniPC: t_enc steps from continuous time (entry t_enc − 1 + 1)/1000, i.e. model time entry t_enc − 1
            assert len(model.calls) == encoded and model.calls[0] == pytest.approx(ddim_calls[0], abs=1e-3)


@pytest.mark.parametrize("sampler_id,strength,timestep", [
    ("ddim", 0.01, 1), ("ddim", 0.05, 51), ("plms", 0.01, 1), ("plms", 0.05, 51), ("uni_pc", 0.01, 1)])
def test_tiny_strength_returns_the_noised_init_without_a_model_call(sampler_id, strength, timestep):
    """t_enc 0 (or 1 for DDIM, PLMS) of 20 steps: no step runs; the init latent comes back noised to that timestep."""
    model = ToyEps()
    init = torch.full((2, *SHAPE), 0.5)
    result = run.img2img_latents(model, sampler_id, init, table=TABLE, steps=20, strength=strength, seeds=[3, 4])
    noise = torch.stack([torch.randn(SHAPE, generator=torch.Generator().manual_seed(seed)) for seed in (3, 4)])
    alpha = TABLE.alphas_cumprod[timestep]
    assert model.calls == []
    assert torch.allclose(result, alpha.sqrt() * init + (1 - alpha).sqrt() * noise, atol=1e-6)


@pytest.mark.parametrize("sampler_id,alpha_end", [("ddim", ALPHAS[1]), ("plms", ALPHAS[1]), ("uni_pc", ALPHAS[0])])
def test_point_data_lands_exactly_on_the_ode_solution(sampler_id, alpha_end):
    """DDIM and PLMS end at ᾱ of timestep 1 (the list's lowest entry), UniPC at t = 1/N (ᾱ of step 0)."""
    x = start_points()
    result = timesteps.txt2img_timesteps(sampler_id, ToyEps(spread=0.0), x, 10, ALPHAS)
    alpha_start = ALPHAS[901] if sampler_id != "uni_pc" else ALPHAS[999]
    eps = (x - alpha_start.sqrt() * MU) / (1 - alpha_start).sqrt()
    assert torch.allclose(result, alpha_end.sqrt() * MU + (1 - alpha_end).sqrt() * eps, atol=1e-9)


def ddim_family_error(sampler_id: str, steps: int) -> float:
    listed = timesteps.ddim_timesteps(steps)
    x = start_points()
    result = timesteps.sample_timesteps(sampler_id, ToyEps(), x, listed, ALPHAS)
    return float((result - exact(x, ALPHAS[listed[-1]], ALPHAS[1])).abs().max())


def test_ddim_is_first_order_and_plms_second_on_gaussian_data():
    ddim = [ddim_family_error("ddim", steps) for steps in (25, 50, 100)]
    plms = [ddim_family_error("plms", steps) for steps in (50, 100, 200)]
    assert all(1.8 < coarse / fine < 2.2 for coarse, fine in zip(ddim, ddim[1:], strict=False))
    # PLMS's Adams–Bashforth weights assume steps uniform in σ; A1111's are uniform in t, so its
    # global order is 2: the error ratio per doubling climbs towards 4 (2.9, then 3.4).
    assert plms[0] / plms[1] > 2.7 and plms[1] / plms[2] > 3.2
    assert plms[1] < ddim[2] / 8  # at 100 steps, 11× closer than DDIM


def unipc_error(steps: int, **options) -> float:
    x = start_points()
    result = sample_unipc(ToyEps(), x, ALPHAS, steps, **options)
    return float((result - exact(x, ALPHAS[999], ALPHAS[0])).abs().max())


@pytest.mark.parametrize("order,min_ratio", [(1, 3.9), (2, 7.5), (3, 13.0)])
def test_unipc_has_order_plus_one(order, min_ratio):
    """UniPC-p with its corrector is of order p + 1 (on logSNR steps, every step at full order)."""
    errors = [unipc_error(steps, order=order, skip_type="logSNR", lower_order_final=False) for steps in (40, 80, 160)]
    assert errors[1] / errors[2] > min_ratio


@pytest.mark.parametrize("variant", ["bh1", "bh2"])
def test_unipc_with_a1111s_defaults_converges(variant):
    # time_uniform steps end in one large log-SNR step near t = 1/N: convergence there is slow (A1111's choice).
    errors = [unipc_error(steps, variant=variant) for steps in (20, 40, 80)]
    assert errors[0] > errors[1] > errors[2] and errors[2] < 0.02


@pytest.mark.parametrize("sampler_id", SAMPLERS)
def test_image_i_of_a_batch_is_its_seed_alone(sampler_id):
    model = ToyEps()
    batch = run.txt2img_latents(model, sampler_id, table=TABLE, steps=8, seeds=[5, 6, 7], latent_shape=SHAPE)
    alone = run.txt2img_latents(model, sampler_id, table=TABLE, steps=8, seeds=[6], latent_shape=SHAPE)
    assert torch.equal(batch[1:2], alone)
    init = torch.full((3, *SHAPE), 0.25)
    batch = run.img2img_latents(model, sampler_id, init, table=TABLE, steps=8, strength=0.6, seeds=[5, 6, 7])
    alone = run.img2img_latents(model, sampler_id, init[:1], table=TABLE, steps=8, strength=0.6, seeds=[7])
    assert torch.equal(batch[2:3], alone)


class PointDataUNet(torch.nn.Module):
    """A stand-in UNet whose output is the exact ε or v of point data μ at its (integer) timestep."""

    def __init__(self, prediction_type: str) -> None:
        super().__init__()
        self.prediction_type = prediction_type
        self.device, self.dtype = torch.device("cpu"), torch.float32  # what UNetDenoiser reads of a UNet

    def forward(self, sample, timesteps, encoder_hidden_states=None, added_cond_kwargs=None, return_dict=False):
        alpha = alpha_at(float(timesteps[0])).to(sample.dtype)
        eps = (sample - alpha.sqrt() * MU) / (1 - alpha).sqrt()
        if self.prediction_type == "epsilon":
            return (eps,)
        return (alpha.sqrt() * eps - (1 - alpha).sqrt() * MU,)


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
@pytest.mark.parametrize("sampler_id", SAMPLERS)
def test_eps_and_v_models_through_the_unet_denoiser(prediction_type, sampler_id):
    conditioning = (Conditioning(torch.zeros(1, 1, 1)), None)
    denoiser = UNetDenoiser(PointDataUNet(prediction_type), TABLE, conditioning, cfg_scale=1.0,
                            prediction_type=prediction_type)
    noise = torch.randn((1, *SHAPE), generator=torch.Generator().manual_seed(1))
    result = run.txt2img_latents(denoiser, sampler_id, table=TABLE, steps=10, seeds=[1], latent_shape=SHAPE)
    start, end = (TABLE.alphas_cumprod[999], TABLE.alphas_cumprod[0]) if sampler_id == "uni_pc" else \
        (TABLE.alphas_cumprod[901], TABLE.alphas_cumprod[1])
    expected = end.sqrt() * MU + (1 - end).sqrt() * (noise - start.sqrt() * MU) / (1 - start).sqrt()
    # A v-model's ε at a fractional time (UniPC's) uses ᾱ of the integer part, as A1111 does: close, not exact.
    tolerance = 2e-2 if sampler_id == "uni_pc" and prediction_type == "v_prediction" else 1e-4
    assert torch.allclose(result, expected, atol=tolerance)
    assert denoiser.calls == (10 if sampler_id != "ddim" else 9)
