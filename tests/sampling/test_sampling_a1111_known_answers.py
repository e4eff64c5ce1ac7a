"""Known answers from A1111 v1.10's own sampler code, run outside the repository.

The literals below were printed by A1111's `modules/sd_samplers_timesteps_impl.py` (ddim, plms, unipc, with
its `modules/models/diffusion/uni_pc/uni_pc.py`) and the ldm model's schedule buffers, run in a scratch
harness in /tmp with small stand-ins for the modules they import (A1111's code cannot be copied into
sdkit; docs/samplers.md "Checked against A1111 v1.10's own code" says how it was built). The toy model
is ε(x, t) = 0.9·tanh(x·(1 + t/1000)) + 0.05 on one 1×1×2×2 latent, the schedule SD 1.x's
(scaled_linear, β 0.00085 … 0.012, 1000 steps). sdkit's functions must land on the same numbers.
"""

from __future__ import annotations

import pytest
import torch

from sdkit.sampling import timesteps
from sdkit.sampling.ddim import img2img_start
from sdkit.sampling.denoiser import Conditioning, UNetDenoiser
from sdkit.sampling.sigmas import SigmaTable

SD1_CONFIG = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear", "num_train_timesteps": 1000}
START = torch.tensor([[[[1.5, -0.7], [0.2, -2.0]]]])
NOISE = torch.tensor([[[[0.3, 0.1], [-0.4, 0.8]]]])


def as_floats(*hex_values: str) -> torch.Tensor:
    return torch.tensor([float.fromhex(value) for value in hex_values], dtype=torch.float32)


class ToyEps:
    """ε(x, t) as the harness's model computed it (t a float32 tensor there, so here too); records t."""

    def __init__(self) -> None:
        self.timesteps: list[float] = []

    def __call__(self, x: torch.Tensor, timestep: float) -> torch.Tensor:
        self.timesteps.append(round(float(timestep), 4))
        t = torch.tensor(float(timestep), dtype=torch.float32)
        return 0.9 * torch.tanh(x * (1 + t / 1000)) + 0.05


# A1111's results for txt2img with 5 steps (its DDIM list 1, 201, 401, 601, 801), and its model-call timesteps.
TXT2IMG = {
    "ddim": (("0x1.841d74p+1", "-0x1.5a00c8p-2", "-0x1.bad2a4p-5", "-0x1.88675p+2"), [801.0, 601.0, 401.0, 201.0]),
    "plms": (("0x1.82bea4p+1", "-0x1.c2744ep-2", "-0x1.041db4p-5", "-0x1.883ee0p+2"),
             [801.0, 601.0, 601.0, 401.0, 201.0]),
    "uni_pc": (("0x1.04a0e8p+3", "-0x1.63d6c8p-2", "-0x1.86f8bcp-8", "-0x1.0e59a8p+4"),
               [999.0, 799.2, 599.4, 399.6, 199.8]),
}


@pytest.mark.parametrize("sampler_id", sorted(TXT2IMG))
def test_txt2img_lands_on_a1111s_values(sampler_id):
    expected, calls = TXT2IMG[sampler_id]
    table = SigmaTable.from_scheduler_config(SD1_CONFIG)
    model = ToyEps()
    result = timesteps.txt2img_timesteps(sampler_id, model, START.clone(), 5, table.alphas_cumprod)
    assert model.timesteps == calls
    # Bit for bit on the machine the harness ran on; a float32 ulp or two of slack for other CPUs' reductions.
    torch.testing.assert_close(result.flatten(), as_floats(*expected), rtol=1e-6, atol=1e-6)


def test_unipc_img2img_starts_and_lands_where_a1111s_does():
    """10 steps at strength 0.75: t_enc 7, init noised to ᾱ(701), UniPC's 7 steps from t = 601/1000 + 1/1000."""
    table = SigmaTable.from_scheduler_config(SD1_CONFIG)
    start = img2img_start(START, NOISE, table.alphas_cumprod, 701)
    assert torch.equal(start.flatten(), as_floats("0x1.6efc02p-1", "-0x1.ac28b2p-4", "-0x1.4dd95cp-2", "0x1.8d8a48p-3"))
    model = ToyEps()
    result = timesteps.img2img_timesteps("uni_pc", model, START, NOISE, 10, 7, table.alphas_cumprod)
    assert model.timesteps == [601.0, 515.1429, 429.2857, 343.4286, 257.5715, 171.7143, 85.8571]
    torch.testing.assert_close(result.flatten(),
                               as_floats("0x1.582b3ap-2", "-0x1.753762p-4", "-0x1.874edep-3", "0x1.ef3898p-6"),
                               rtol=1e-6, atol=1e-6)


# The ldm model's buffers sqrt(ᾱ) and sqrt(1 − ᾱ), computed from the float64 ᾱ and stored float32, at
# timesteps where the float32 square roots of the stored ᾱ are other numbers (the second column).
LDM_BUFFERS = {  # t: (sqrt_alphas_cumprod, float32 sqrt(ᾱ), sqrt_one_minus_alphas_cumprod, float32 sqrt(1 − ᾱ))
    3: ("0x1.ff1f6cp-1", "0x1.ff1f6ep-1", "0x1.df57dep-5", "0x1.df575ap-5"),
    30: ("0x1.f8ba9ap-1", "0x1.f8ba98p-1", "0x1.57ec88p-3", "0x1.57ec8ep-3"),
    996: ("0x1.1cb710p-4", "0x1.1cb70ep-4", "0x1.fec2f8p-1", "0x1.fec2f6p-1"),
}


@pytest.mark.parametrize("timestep", sorted(LDM_BUFFERS))
def test_v_to_eps_uses_the_ldm_models_float32_buffers(timestep):
    alpha_root, float32_root, one_minus_root, float32_one_minus_root = LDM_BUFFERS[timestep]
    table = SigmaTable.from_scheduler_config(SD1_CONFIG)
    coefficients = table.v_to_eps_coefficients(timestep)
    assert [float(value) for value in coefficients] == [float.fromhex(alpha_root), float.fromhex(one_minus_root)]
    alpha = table.alphas_cumprod[timestep]
    assert float(alpha.sqrt()) == float.fromhex(float32_root)  # why the buffers are needed
    assert float((1 - alpha).sqrt()) == float.fromhex(float32_one_minus_root)


class ToyVUNet:
    """A v-model stand-in with diffusers' UNet call: v = tanh(x) − 0.1·t/1000."""

    device, dtype = torch.device("cpu"), torch.float32

    def __call__(self, sample, timestep, encoder_hidden_states=None, added_cond_kwargs=None, return_dict=False):
        t = torch.as_tensor(timestep, dtype=torch.float32).reshape(-1, 1, 1, 1)
        return (torch.tanh(sample) - 0.1 * t / 1000,)


@pytest.mark.parametrize("timestep", [3, 30.7, 996])
def test_predict_eps_of_a_v_model_is_a1111s(timestep):
    """A1111's CompVisTimestepsVDenoiser: ε = sqrt_alphas_cumprod[int t]·v + sqrt_one_minus_alphas_cumprod[int t]·x."""
    table = SigmaTable.from_scheduler_config(SD1_CONFIG)
    conditioning = Conditioning(torch.zeros(1, 2, 3))
    denoiser = UNetDenoiser(ToyVUNet(), table, (conditioning, None), cfg_scale=1.0, prediction_type="v_prediction")
    x = START.clone()
    alpha_root, _, one_minus_root, _ = LDM_BUFFERS[int(timestep)]
    v = ToyVUNet()(x, torch.tensor([float(timestep)]))[0]
    expected = float.fromhex(alpha_root) * v + float.fromhex(one_minus_root) * x
    assert torch.equal(denoiser.predict_eps(x, timestep), expected)
