"""A1111's composable prompts (`AND`, `:weight`) under A1111's sampler names, and the warning elsewhere.

The guidance is A1111 v1.10's CFGDenoiser.combine_denoised: denoised = uncond + Σᵢ (condᵢ − uncond)·(wᵢ·scale),
each sub-prompt encoded as a prompt of its own. Running A1111's own CFGDenoiser and prompt_parser in a
scratch harness gave the same tensors as sdkit's denoiser bit for bit (toy UNet, ε and v, k-diffusion and
timestep samplers) and the same demo-model PNGs (docs/samplers.md); here the toy is checked against the
closed form and the engine against a reference built from sdkit.sampling's pieces with that formula.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_helpers import run_sdkit
from PIL import Image
from test_a1111_sampling import demo_pipeline  # noqa: F401 (the module's demo pipeline fixture)

from sdkit.sampling.denoiser import ComposedConditioning, Conditioning, UNetDenoiser
from sdkit.sampling.sigmas import SigmaTable

PROMPT = "a red circle AND a blue square :0.7"
SIZE = ["--width", "64", "--height", "64"]


class RecordingToyUNet:
    """Deterministic, nonlinear in x, t and the conditioning (so padding matters); records batch sizes."""

    device, dtype = torch.device("cpu"), torch.float32

    def __init__(self) -> None:
        self.batches: list[int] = []

    def __call__(self, sample, timestep, encoder_hidden_states=None, added_cond_kwargs=None, return_dict=False):
        self.batches.append(sample.shape[0])
        t = torch.as_tensor(timestep, dtype=torch.float32).reshape(-1, 1, 1, 1)
        c = encoder_hidden_states.mean(dim=(1, 2)).reshape(-1, 1, 1, 1)
        return (0.9 * torch.tanh(sample * (1 + t / 1000) + c) + 0.1 * torch.sin(sample * t / 300),)


TABLE = SigmaTable.from_scheduler_config({"beta_schedule": "scaled_linear"})


def _toy_case(lengths):
    generator = torch.Generator().manual_seed(3)
    parts = [torch.randn(2, tokens, 8, generator=generator) for tokens in lengths]
    uncond = torch.randn(2, 7, 8, generator=generator)
    x = torch.randn(2, 4, 8, 8, generator=generator) * 3
    return parts, uncond, x


def _alone(cond, x, *, eps: bool):
    """One conditioning's own prediction, no guidance (scale 1 runs cond only)."""
    denoiser = UNetDenoiser(RecordingToyUNet(), TABLE, (Conditioning(cond), None), cfg_scale=1.0)
    return denoiser.predict_eps(x, 601) if eps else denoiser(x, torch.tensor(2.5))


@pytest.mark.parametrize("eps", [False, True], ids=["x0 (k-diffusion samplers)", "eps (DDIM/PLMS/UniPC)"])
@pytest.mark.parametrize("lengths,weights,scale", [((7, 7), (1.0, 0.7), 5.0), ((7, 14), (0.6, 1.3), 7.5),
                                                   ((7, 7), (1.0, 1.0), 1.0)])
def test_composed_guidance_is_the_closed_form(eps, lengths, weights, scale):
    parts, uncond, x = _toy_case(lengths)
    composed = ComposedConditioning(tuple(Conditioning(part) for part in parts), weights)
    denoiser = UNetDenoiser(RecordingToyUNet(), TABLE, (composed, Conditioning(uncond)), cfg_scale=scale)
    with torch.inference_mode():
        got = denoiser.predict_eps(x, 601) if eps else denoiser(x, torch.tensor(2.5))
        longest = max(lengths)
        # A1111 pads a shorter sub-prompt with copies of its last vector; uncond runs even at scale 1.
        padded = [torch.cat([part, part[:, -1:].repeat(1, longest - part.shape[1], 1)], dim=1) for part in parts]
        guided_uncond = _alone(uncond, x, eps=eps)
        expected = guided_uncond.clone()
        for part, weight in zip(padded, weights, strict=True):
            expected += (_alone(part, x, eps=eps) - guided_uncond) * (weight * scale)
    assert torch.equal(got, expected)


def test_one_model_call_when_lengths_agree_else_sub_prompts_in_twos_then_uncond():
    for lengths, batches in [((7, 7, 7), [2 * 3 + 2]), ((7, 14, 7), [4, 2, 2])]:
        parts, uncond, x = _toy_case(lengths)
        unet = RecordingToyUNet()
        composed = ComposedConditioning(tuple(Conditioning(part) for part in parts), (1.0, 1.0, 1.0))
        with torch.inference_mode():
            UNetDenoiser(unet, TABLE, (composed, Conditioning(uncond)), cfg_scale=5.0)(x, torch.tensor(2.5))
        assert unet.batches == batches  # A1111's layout: image 0's sub-prompts, image 1's, then the uncond rows


def generate(capsys, tmp_path: Path, prompt: str, *args: str) -> tuple[list[np.ndarray], list[str], str]:
    out = tmp_path / f"run{len(list(tmp_path.glob('run*')))}"
    result = run_sdkit(capsys, "generate", "--prompt", prompt, *SIZE, "--cfg-scale", "5", "--rng", "cpu",
                       "--output-dir", str(out), *args, "--json")
    assert result.exit_code == 0, result.output
    pngs = [Image.open(image["path"]) for image in json.loads(result.stdout)["images"]]
    return [np.asarray(png.convert("RGB")) for png in pngs], [png.text["parameters"] for png in pngs], result.stderr


def _reference_image(pipeline, seed: int, steps: int) -> np.ndarray:
    """A1111's formula over sdkit.sampling's pieces: each sub-prompt's x₀ from its own UNet call."""
    from sdkit.sampling.denoiser import decode_truncated
    from sdkit.sampling.run import txt2img_latents

    table = SigmaTable.from_scheduler_config(pipeline.scheduler.config)
    prediction = pipeline.scheduler.config.prediction_type
    with torch.inference_mode():
        texts = ["a red circle", " a blue square", ""]  # A1111's split of PROMPT, and the negative prompt
        encoded = [pipeline.encode_prompt(text, "cpu", 1, False)[0] for text in texts]
    alone = [UNetDenoiser(pipeline.unet, table, (Conditioning(hidden), None), cfg_scale=1.0, prediction_type=prediction)
             for hidden in encoded]

    def denoise(x, sigma):
        red, blue, uncond = (each(x, sigma) for each in alone)
        result = uncond.clone()
        result += (red - uncond) * (1.0 * 5.0)
        result += (blue - uncond) * (0.7 * 5.0)
        return result

    side = 64 // pipeline.vae_scale_factor
    with torch.inference_mode():
        latents = txt2img_latents(denoise, "euler_ancestral", table=table, steps=steps, seeds=[seed],
                                  latent_shape=(4, side, side), rng="cpu")
    return decode_truncated(pipeline.vae, latents)[0]


def test_and_under_euler_a_draws_a1111s_composable_guidance(capsys, tmp_path, demo_pipeline):  # noqa: F811
    [image], [infotext], stderr = generate(capsys, tmp_path, PROMPT, "--sampler", "Euler a", "--steps", "3",
                                           "--seed", "7")
    reference = _reference_image(demo_pipeline, 7, 3)
    # The reference runs each conditioning as its own UNet batch (~1e-6 apart): at most one level.
    assert np.abs(image.astype(int) - reference.astype(int)).max() <= 1
    [plain], _, _ = generate(capsys, tmp_path, "a red circle a blue square", "--sampler", "Euler a", "--steps", "3",
                             "--seed", "7")
    assert np.abs(image.astype(int) - plain.astype(int)).max() > 8  # AND changed the picture
    assert infotext.startswith(PROMPT + "\n")  # recorded as typed, so --from-image gives it back
    assert "not supported" not in stderr


def test_batch_image_equals_its_seed_alone_with_and(capsys, tmp_path):
    batch, _, _ = generate(capsys, tmp_path, PROMPT, "--sampler", "Euler a", "--steps", "3", "--seed", "20",
                           "--batch-size", "2")
    [alone], _, _ = generate(capsys, tmp_path, PROMPT, "--sampler", "Euler a", "--steps", "3", "--seed", "21")
    assert np.abs(batch[1].astype(int) - alone.astype(int)).max() <= 1


@pytest.mark.parametrize("prompt", ["a red circle", "(red circle:1.2) on [blue:green:2] BREAK square"])
def test_a_prompt_without_and_is_conditioned_exactly_as_before(demo_pipeline, prompt):  # noqa: F811
    from sdkit.engines.sd.prompts import condition

    before = condition(demo_pipeline, False, prompt, "", 1, "original", 4, "cpu")
    now = condition(demo_pipeline, False, prompt, "", 1, "original", 4, "cpu", composable=True)
    assert not now.parts and now.prompt_text == before.prompt_text and now.per_step == before.per_step
    assert len(now.embeddings) == len(before.embeddings)
    for old, new in zip(before.embeddings, now.embeddings, strict=True):
        assert torch.equal(old.prompt, new.prompt) and torch.equal(old.negative, new.negative)


def test_a_trailing_weight_of_one_is_dropped_from_the_text_as_a1111_does(demo_pipeline):  # noqa: F811
    from sdkit.engines.sd.prompts import condition

    assert condition(demo_pipeline, False, "a red circle :1", "", 1, "original", 4, "cpu",
                     composable=True).prompt_text == "a red circle"


def test_comfyui_names_warn_that_and_is_read_only_under_a1111_names(capsys, tmp_path):
    _, [infotext], stderr = generate(capsys, tmp_path, PROMPT, "--sampler", "euler", "--steps", "1", "--seed", "1")
    assert "only under A1111's sampler names" in stderr
    assert infotext.startswith(PROMPT + "\n")
