"""`--from-image`: the noise source and, for sdkit 0.1/0.2 images, the sampler computation they were made with."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import run_sdkit
from PIL import Image
from PIL.PngImagePlugin import PngInfo

FIELDS = "Steps: 3, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 5, Seed: 9, Size: 64x64"


def png(path: Path, parameters: str) -> Path:
    info = PngInfo()
    info.add_text("parameters", parameters)
    Image.new("RGB", (64, 64), "grey").save(path, pnginfo=info)
    return path


def planned(capsys, image: Path, model: Path) -> dict:
    result = run_sdkit(capsys, "generate", "--from-image", str(image), "--model", str(model), "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["params"]


@pytest.mark.parametrize("extra,rng", [
    ("", "nv"),  # A1111's default: the GPU's randn, which NV reproduces on the CPU
    (", RNG: CPU", "cpu"),
    (", RNG: NV", "nv"),
    (", RNG: GPU", "device"),
    (", Version: sdkit 0.3.0", "device"),  # sdkit leaves the field out only for --rng device
    (", RNG: NV, Version: sdkit 0.3.0", "nv"),
])
def test_recorded_rng(capsys, tmp_path, tiny_pipeline_dir, extra, rng):
    image = png(tmp_path / "a.png", f"a fox\n{FIELDS}{extra}")
    assert planned(capsys, image, tiny_pipeline_dir("sd1"))["rng"] == rng


def test_unknown_rng_is_refused_with_a_hint(capsys, tmp_path, tiny_pipeline_dir):
    image = png(tmp_path / "a.png", f"a fox\n{FIELDS}, RNG: quantum")
    result = run_sdkit(capsys, "generate", "--from-image", str(image), "--model", str(tiny_pipeline_dir("sd1")),
                       "--dry-run")
    assert result.exit_code == 2
    assert "quantum" in result.stderr and "--rng" in result.stderr


@pytest.mark.parametrize("version,sampler", [
    ("sdkit 0.2.0", "diffusers:dpmpp_2m"), ("sdkit 0.1.3", "diffusers:dpmpp_2m"), ("sdkit 0.3.0", "DPM++ 2M"),
    ("v1.10.1", "DPM++ 2M"),
])
def test_old_sdkit_images_keep_diffusers_computation(capsys, tmp_path, tiny_pipeline_dir, version, sampler):
    image = png(tmp_path / "a.png", f"a fox\n{FIELDS}, Hires upscale: 2, Hires steps: 2, Hires sampler: Euler, "
                                    f"Denoising strength: 0.5, Version: {version}")
    params = planned(capsys, image, tiny_pipeline_dir("sd1"))
    assert params["sampler"] == sampler and params["schedule"] == "Karras"
    assert params["hires_sampler"] == ("diffusers:euler" if sampler == "diffusers:dpmpp_2m" else "Euler")



@pytest.mark.parametrize("sampler,extra,expected", [
    # Made by sdkit 0.4 on diffusers' PNDMScheduler: remade there, not on A1111's own PLMS of 0.5.
    ("PLMS", ", Diffusers scheduler: PNDMScheduler, Version: sdkit 0.4.0", "diffusers:plms"),
    ("UniPC", ", Diffusers scheduler: UniPCMultistepScheduler, Version: sdkit 0.4.0", "diffusers:uni_pc"),
    # Made by sdkit 0.5 with the id euler_a on diffusers: remade there, not on ComfyUI's Euler a of 0.6.
    ("Euler a", ", Diffusers scheduler: EulerAncestralDiscreteScheduler, Version: sdkit 0.5.0",
     "diffusers:euler_ancestral"),
    ("PLMS", ", Version: sdkit 0.5.0", "PLMS"),  # A1111's own, as it was made
    ("PLMS", "", "PLMS"),  # an A1111 image
])
def test_images_made_on_a_diffusers_scheduler_are_remade_on_it(capsys, tmp_path, tiny_pipeline_dir, sampler,
                                                               extra, expected):
    fields = FIELDS.replace("Sampler: DPM++ 2M, Schedule type: Karras", f"Sampler: {sampler}")
    image = png(tmp_path / "a.png", f"a fox\n{fields}{extra}")
    assert planned(capsys, image, tiny_pipeline_dir("sd1"))["sampler"] == expected

def test_sdkit_png_regenerates_with_its_rng(capsys, tmp_path):
    """An sdkit 0.3 image made with --rng nv and an A1111 sampler is made again bit for bit."""
    out = tmp_path / "out"
    made = run_sdkit(capsys, "generate", "--prompt", "a red circle", "--sampler", "Euler a", "--rng", "nv",
                     "--steps", "3", "-W", "64", "-H", "64", "--seed", "12", "--output-dir", str(out), "--json")
    assert made.exit_code == 0, made.output
    path = json.loads(made.stdout)["images"][0]["path"]
    assert "RNG: NV" in Image.open(path).text["parameters"]
    again = run_sdkit(capsys, "generate", "--from-image", path, "--output-dir", str(tmp_path / "again"), "--json")
    assert again.exit_code == 0, again.output
    second = json.loads(again.stdout)["images"][0]["path"]
    assert np.array_equal(np.asarray(Image.open(path)), np.asarray(Image.open(second)))


@pytest.mark.parametrize("extra,backend", [
    (", Version: sdkit 0.4.0", "torch"),  # sdkit records only OpenVINO: no key means torch
    (", Backend: OpenVINO, Version: sdkit 0.4.0", "openvino"),
    (", Version: sdkit 0.2.0", "torch"),
    (", Version: v1.10.1", "auto"),  # A1111's own images: whatever is fastest here
])
def test_recorded_backend_is_used_again_for_sdkits_images(capsys, tmp_path, tiny_pipeline_dir, extra, backend):
    image = png(tmp_path / "a.png", f"a fox\n{FIELDS}{extra}")
    assert planned(capsys, image, tiny_pipeline_dir("sd1"))["backend"] == backend
