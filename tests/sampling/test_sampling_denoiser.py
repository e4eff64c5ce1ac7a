"""The UNet denoiser A1111 samples with: scalings, ε and v formulas, CFG batching, SDXL conditions, decode."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sdkit.sampling.denoiser import Conditioning, UNetDenoiser, decode_truncated
from sdkit.sampling.sigmas import SigmaTable

TABLE = SigmaTable.from_scheduler_config({"beta_start": 0.00085, "beta_end": 0.012,
                                          "beta_schedule": "scaled_linear", "num_train_timesteps": 1000})


def text(width: int, images: int = 2, tokens: int = 77, seed: int = 0) -> Conditioning:
    return Conditioning(torch.randn(images, tokens, width, generator=torch.Generator().manual_seed(seed)))


def latents(images: int = 2, size: int = 8, seed: int = 1) -> torch.Tensor:
    return torch.randn(images, 4, size, size, generator=torch.Generator().manual_seed(seed))


def unet_output(unet, x, t, conditioning: Conditioning) -> torch.Tensor:
    with torch.no_grad():
        return unet(x, torch.full((x.shape[0],), float(t)), encoder_hidden_states=conditioning.embeddings,
                    added_cond_kwargs=dict(conditioning.added) or None).sample


@torch.no_grad()
def test_epsilon_model_denoised_is_x_minus_sigma_eps_at_fractional_t(tiny_unet):
    unet = tiny_unet("sd1")
    cond = text(32)
    x, sigma = latents() * 3, torch.tensor(2.5)
    t = TABLE.sigma_to_t(sigma)
    assert float(t) != round(float(t))  # a fractional timestep reaches the UNet
    eps = unet_output(unet, x / (sigma**2 + 1) ** 0.5, t, cond)
    denoised = UNetDenoiser(unet, TABLE, (cond, None), cfg_scale=1.0)(x, sigma)
    assert denoised.shape == x.shape
    assert torch.allclose(denoised, x - sigma * eps, atol=1e-5)


@torch.no_grad()
def test_v_model_formula_on_the_demo_model(demo_unet):
    cond = text(64)
    x, sigma = latents() * 5, torch.tensor(4.0)
    v = unet_output(demo_unet, x / (sigma**2 + 1) ** 0.5, TABLE.sigma_to_t(sigma), cond)
    denoiser = UNetDenoiser(demo_unet, TABLE, (cond, None), cfg_scale=1.0, prediction_type="v_prediction")
    expected = x / (sigma**2 + 1) - v * sigma / (sigma**2 + 1) ** 0.5
    assert torch.allclose(denoiser(x, sigma), expected, atol=1e-5)
    # DDIM's ε from v at an integer timestep: sqrt(ᾱ)·v + sqrt(1 − ᾱ)·x.
    alpha = TABLE.alphas_cumprod[500]
    v_500 = unet_output(demo_unet, x, 500, cond)
    assert torch.allclose(denoiser.predict_eps(x, 500), alpha.sqrt() * v_500 + (1 - alpha).sqrt() * x, atol=1e-5)


@torch.no_grad()
def test_cfg_in_one_batch_equals_two_separate_calls(tiny_unet):
    unet = tiny_unet("sd1")
    cond, uncond = text(32, seed=2), text(32, seed=3)
    x, sigma = latents() * 2, torch.tensor(1.7)
    guided = UNetDenoiser(unet, TABLE, (cond, uncond), cfg_scale=7.5)(x, sigma)
    cond_alone = UNetDenoiser(unet, TABLE, (cond, None), cfg_scale=1.0)(x, sigma)
    uncond_alone = UNetDenoiser(unet, TABLE, (uncond, None), cfg_scale=1.0)(x, sigma)
    assert torch.allclose(guided, uncond_alone + (cond_alone - uncond_alone) * 7.5, atol=1e-4)
    assert not torch.allclose(guided, cond_alone, atol=1e-3)
    # Different token lengths (a long prompt against a short negative): two passes, same arithmetic.
    long_cond = text(32, tokens=154, seed=4)
    mixed = UNetDenoiser(unet, TABLE, (long_cond, uncond), cfg_scale=3.0)(x, sigma)
    long_alone = UNetDenoiser(unet, TABLE, (long_cond, None), cfg_scale=1.0)(x, sigma)
    assert torch.allclose(mixed, uncond_alone + (long_alone - uncond_alone) * 3.0, atol=1e-4)


@torch.no_grad()
def test_cfg_scale_1_runs_cond_only_and_the_schedule_sees_each_call(tiny_unet):
    unet = tiny_unet("sd1")
    first, second = text(32, seed=5), text(32, seed=6)
    asked = []

    def schedule(call_index):
        asked.append(call_index)
        return (first if call_index < 1 else second), None

    denoiser = UNetDenoiser(unet, TABLE, schedule, cfg_scale=1.0)
    x, sigma = latents(), torch.tensor(3.0)
    step_0, step_1 = denoiser(x, sigma), denoiser(x, sigma)
    assert asked == [0, 1] and denoiser.calls == 2
    assert torch.allclose(step_0, UNetDenoiser(unet, TABLE, (first, None), cfg_scale=1.0)(x, sigma))
    assert torch.allclose(step_1, UNetDenoiser(unet, TABLE, (second, None), cfg_scale=1.0)(x, sigma))


@torch.no_grad()
def test_sdxl_added_conditions_reach_the_unet(tiny_unet):
    unet = tiny_unet("sdxl")
    hidden = torch.randn(1, 77, 96, generator=torch.Generator().manual_seed(7))
    pooled = torch.randn(1, 32, generator=torch.Generator().manual_seed(8))
    at_64 = Conditioning(hidden, {"text_embeds": pooled, "time_ids": torch.tensor([[64.0, 64, 0, 0, 64, 64]])})
    at_128 = Conditioning(hidden, {"text_embeds": pooled, "time_ids": torch.tensor([[128.0, 128, 0, 0, 128, 128]])})
    x, sigma = latents(images=1), torch.tensor(2.0)
    out_64 = UNetDenoiser(unet, TABLE, (at_64, at_128), cfg_scale=5.0)(x, sigma)
    assert out_64.shape == x.shape and torch.isfinite(out_64).all()
    same = UNetDenoiser(unet, TABLE, (at_64, at_64), cfg_scale=5.0)(x, sigma)
    assert not torch.allclose(out_64, same, atol=1e-4)
    single = UNetDenoiser(unet, TABLE, (at_64, None), cfg_scale=1.0)(x, sigma)
    assert torch.allclose(same, single, atol=1e-4)  # uncond = cond: guidance changes nothing


def test_prediction_types_other_than_eps_and_v_are_refused(tiny_unet):
    with pytest.raises(ValueError, match="v_prediction"):
        UNetDenoiser(tiny_unet("sd1"), TABLE, (text(32), None), prediction_type="sample")


@torch.no_grad()
def test_decode_truncates_to_uint8_as_a1111(tiny_vae):
    z = latents(images=1, size=8, seed=9)
    images = decode_truncated(tiny_vae, z)
    assert len(images) == 1 and images[0].shape == (64, 64, 3) and images[0].dtype == np.uint8
    decoded = tiny_vae.decode(z / tiny_vae.config.scaling_factor).sample
    pixels = (255.0 * torch.clamp((decoded + 1) / 2, 0, 1))[0].permute(1, 2, 0).numpy()
    assert np.array_equal(images[0], np.floor(pixels).astype(np.uint8))
    assert not np.array_equal(images[0], np.round(pixels).astype(np.uint8))  # rounding would differ
