"""SDXL under an A1111 sampler name: sdkit.sampling draws it, with SDXL's pooled embedding and size ids.

The reference is built here from the tiny SDXL model's own parts: diffusers' `encode_prompt` for the
text, the added conditions an SDXL pipeline passes for an uncropped image of the output size
(original = target = (height, width), crop (0, 0)), and sdkit.sampling's functions for the rest.
The engine's PNG must equal it pixel for pixel.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import run_sdkit
from PIL import Image

PROMPT = "a red circle"
SIZE = 64


def generate(capsys, out: Path, model: Path, *args: str) -> list[np.ndarray]:
    result = run_sdkit(capsys, "generate", "--model", str(model), "--prompt", PROMPT, "-W", str(SIZE),
                       "-H", str(SIZE), "--cfg-scale", "4", "--steps", "4", "--output-dir", str(out), *args, "--json")
    assert result.exit_code == 0, result.output
    return [np.asarray(Image.open(image["path"]).convert("RGB")) for image in json.loads(result.stdout)["images"]]


@pytest.fixture(scope="module")
def sdxl(tiny_pipeline_dir):
    return tiny_pipeline_dir("sdxl")


def reference(model: Path, sampler_id: str, seeds: list[int]) -> list[np.ndarray]:
    import torch
    from diffusers import StableDiffusionXLPipeline

    from sdkit.sampling.denoiser import Conditioning, UNetDenoiser, decode_truncated
    from sdkit.sampling.run import txt2img_latents
    from sdkit.sampling.sigmas import SigmaTable

    pipeline = StableDiffusionXLPipeline.from_pretrained(model, local_files_only=True)
    with torch.inference_mode():
        cond, uncond, pooled, uncond_pooled = pipeline.encode_prompt(
            prompt=PROMPT, negative_prompt="", device="cpu", num_images_per_prompt=1,
            do_classifier_free_guidance=True)
    count = len(seeds)
    time_ids = torch.tensor([[SIZE, SIZE, 0, 0, SIZE, SIZE]], dtype=torch.float32).repeat(count, 1)

    def conditioning(hidden, pooled_embedding):
        return Conditioning(hidden.repeat(count, 1, 1),
                            {"text_embeds": pooled_embedding.repeat(count, 1), "time_ids": time_ids})

    table = SigmaTable.from_scheduler_config(pipeline.scheduler.config)
    denoiser = UNetDenoiser(pipeline.unet, table, (conditioning(cond, pooled), conditioning(uncond, uncond_pooled)),
                            cfg_scale=4.0, prediction_type=pipeline.scheduler.config.prediction_type)
    side = SIZE // pipeline.vae_scale_factor
    with torch.inference_mode():
        latents = txt2img_latents(denoiser, sampler_id, table=table, steps=4, seeds=seeds,
                                  latent_shape=(4, side, side), schedule="automatic", rng="cpu")
    return decode_truncated(pipeline.vae, latents)


@pytest.mark.parametrize("name,sampler_id", [("Euler a", "euler_ancestral"), ("DPM++ 2M", "dpmpp_2m")])
def test_sdxl_a1111_name_draws_sdkit_samplings_image(capsys, tmp_path, sdxl, name, sampler_id):
    [image] = generate(capsys, tmp_path / "a", sdxl, "--sampler", name, "--seed", "5")
    [expected] = reference(sdxl, sampler_id, [5])
    assert np.array_equal(image, expected)


def test_sdxl_batch_image_equals_its_seed_alone_and_diffusers_names_differ(capsys, tmp_path, sdxl):
    batch = generate(capsys, tmp_path / "batch", sdxl, "--sampler", "Euler a", "--seed", "11", "--batch-size", "2")
    [alone] = generate(capsys, tmp_path / "alone", sdxl, "--sampler", "Euler a", "--seed", "12")
    assert np.abs(batch[1].astype(int) - alone.astype(int)).max() <= 1  # batched UNet arithmetic, ~1e-6
    [diffusers_image] = generate(capsys, tmp_path / "diffusers", sdxl, "--sampler",
                                 "EulerAncestralDiscreteScheduler", "--seed", "12")
    assert not np.array_equal(diffusers_image, alone)
