"""A1111's ENSD (eta noise seed delta) under A1111 sampler names: what it changes, records and recalls.

Many shared A1111 images record `ENSD: 31337`; an ancestral sampler's image depends on it, so
`--from-image` has to read it back.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import run_sdkit
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from sdkit.demo import DEMO_MODEL_DIR

PROMPT = "a red circle on a blue background"


def generate(capsys, out: Path, *args: str) -> tuple[np.ndarray, str]:
    result = run_sdkit(capsys, "generate", "--prompt", PROMPT, "-W", "64", "-H", "64", "--cfg-scale", "3",
                       "--steps", "4", "--seed", "9", "--output-dir", str(out), *args, "--json")
    assert result.exit_code == 0, result.output
    [image] = json.loads(result.stdout)["images"]
    with Image.open(image["path"]) as png:
        return np.asarray(png.convert("RGB")), png.text["parameters"]


@pytest.fixture(scope="module")
def euler_a_reference():
    """The demo model's Euler a image with ENSD 31337, from sdkit.sampling's own functions."""
    import torch
    from diffusers import StableDiffusionPipeline

    from sdkit.sampling.denoiser import Conditioning, UNetDenoiser, decode_truncated
    from sdkit.sampling.run import txt2img_latents
    from sdkit.sampling.sigmas import SigmaTable

    pipeline = StableDiffusionPipeline.from_pretrained(DEMO_MODEL_DIR, local_files_only=True, safety_checker=None,
                                                       requires_safety_checker=False)
    with torch.inference_mode():
        cond, uncond = pipeline.encode_prompt(PROMPT, "cpu", 1, True, "")
    table = SigmaTable.from_scheduler_config(pipeline.scheduler.config)
    denoiser = UNetDenoiser(pipeline.unet, table, (Conditioning(cond), Conditioning(uncond)), cfg_scale=3.0,
                            prediction_type=pipeline.scheduler.config.prediction_type)
    side = 64 // pipeline.vae_scale_factor
    with torch.inference_mode():
        latents = txt2img_latents(denoiser, "euler_ancestral", table=table, steps=4, seeds=[9],
                                  latent_shape=(4, side, side), ensd=31337)
    return decode_truncated(pipeline.vae, latents)[0]


def test_ensd_changes_an_ancestral_image_and_is_recorded(capsys, tmp_path, euler_a_reference):
    plain, plain_text = generate(capsys, tmp_path / "plain", "--sampler", "Euler a")
    delta, delta_text = generate(capsys, tmp_path / "delta", "--sampler", "Euler a", "--ensd", "31337")
    assert np.array_equal(delta, euler_a_reference)
    assert not np.array_equal(plain, delta)
    assert "ENSD: 31337" in delta_text and "ENSD" not in plain_text
    assert delta_text.index("Clip skip" if "Clip skip" in delta_text else "Model:") < delta_text.index("ENSD")


def test_ensd_leaves_a_non_ancestral_image_alone_and_unrecorded(capsys, tmp_path):
    plain, _ = generate(capsys, tmp_path / "plain", "--sampler", "Euler")
    delta, text = generate(capsys, tmp_path / "delta", "--sampler", "Euler", "--ensd", "31337")
    assert np.array_equal(plain, delta)
    assert "ENSD" not in text  # A1111 records it only where it acts


def test_from_image_reads_ensd_from_an_a1111_png(capsys, tmp_path, euler_a_reference):
    info = PngInfo()
    info.add_text("parameters", f"{PROMPT}\nSteps: 4, Sampler: Euler a, Schedule type: Automatic, CFG scale: 3, "
                                "Seed: 9, Size: 64x64, Model: demo, ENSD: 31337, RNG: CPU, Version: v1.10.1")
    a1111_png = tmp_path / "a1111.png"
    Image.new("RGB", (64, 64)).save(a1111_png, pnginfo=info)
    result = run_sdkit(capsys, "generate", "--from-image", str(a1111_png), "--model", str(DEMO_MODEL_DIR),
                       "--output-dir", str(tmp_path / "again"), "--json")
    assert result.exit_code == 0, result.output
    [image] = json.loads(result.stdout)["images"]
    assert np.array_equal(np.asarray(Image.open(image["path"]).convert("RGB")), euler_a_reference)


def test_a_negative_ensd_is_refused(capsys, tmp_path):
    result = run_sdkit(capsys, "generate", "--prompt", PROMPT, "--ensd", "-1", "--dry-run")
    assert result.exit_code == 2
    assert "ensd" in result.output and "31337" in result.output
