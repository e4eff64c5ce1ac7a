"""`generate --from-image`: an image's own metadata reproduces it bit for bit."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import run_sdkit
from PIL import Image
from PIL.PngImagePlugin import PngInfo


@pytest.fixture
def model_in_models_folder(tmp_path, tiny_pipeline_dir) -> Path:
    """The tiny SD 1.x model copied into the test's models folder (SDKIT_MODELS_DIR) as `tiny-one`."""
    target = tmp_path / "models" / "tiny-one"
    shutil.copytree(tiny_pipeline_dir("sd1"), target)
    return target


def generate(capsys, *args: str) -> dict:
    result = run_sdkit(capsys, "generate", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def pixels(path: str | Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


@pytest.mark.parametrize("sampler,schedule", [("DPM++ 2M", "karras"), ("Euler a", "automatic"),
                                               ("automatic", "automatic")])
def test_regenerating_from_an_image_is_bit_identical(capsys, tmp_path, model_in_models_folder, sampler, schedule):
    first = generate(capsys, "--model", "tiny-one", "--prompt", 'a "quoted", odd: prompt\nwith a newline',
                     "--negative-prompt", "blurry, dark", "--steps", "3", "--cfg-scale", "5.5", "--seed", "4242",
                     "--sampler", sampler, "--schedule", schedule, "--output-dir", str(tmp_path / "a"))
    original = first["images"][0]["path"]
    again = generate(capsys, "--from-image", original, "--output-dir", str(tmp_path / "b"))
    assert again["params"]["seed"] == 4242 and again["params"]["steps"] == 3
    assert again["params"]["prompt"] == 'a "quoted", odd: prompt\nwith a newline'
    assert np.array_equal(pixels(original), pixels(again["images"][0]["path"]))


def test_flags_override_the_recalled_parameters(capsys, tmp_path, model_in_models_folder):
    first = generate(capsys, "--model", "tiny-one", "--prompt", "x", "--steps", "2", "--seed", "1",
                     "--output-dir", str(tmp_path / "a"))
    changed = generate(capsys, "--from-image", first["images"][0]["path"], "--seed", "2", "--output-dir",
                       str(tmp_path / "b"))
    assert changed["params"]["seed"] == 2 and changed["params"]["steps"] == 2


def test_missing_model_is_named_with_its_hash(capsys, tmp_path, model_in_models_folder):
    first = generate(capsys, "--model", "tiny-one", "--prompt", "x", "--steps", "1", "--seed", "1",
                     "--output-dir", str(tmp_path / "a"))
    with Image.open(first["images"][0]["path"]) as image:
        recorded_hash = image.text["parameters"].split("Model hash: ", 1)[1].split(",", 1)[0]
    shutil.rmtree(model_in_models_folder)
    result = run_sdkit(capsys, "generate", "--from-image", first["images"][0]["path"])
    assert result.exit_code == 2
    assert "tiny-one" in result.stderr and recorded_hash in result.stderr


def test_a1111_image_for_a_model_we_do_not_have(capsys, tmp_path):
    info = PngInfo()
    info.add_text("parameters", "a castle\nNegative prompt: fog\nSteps: 20, Sampler: DPM++ 2M, Schedule type: "
                                "Karras, CFG scale: 7, Seed: 5, Size: 512x512, Model hash: 6ce0161689, "
                                "Model: v1-5-pruned-emaonly, Version: v1.10.1")
    path = tmp_path / "a1111.png"
    Image.new("RGB", (8, 8)).save(path, pnginfo=info)
    result = run_sdkit(capsys, "generate", "--from-image", str(path), "--dry-run")
    assert result.exit_code == 2
    assert "v1-5-pruned-emaonly" in result.stderr and "6ce0161689" in result.stderr


def test_image_without_metadata(capsys, tmp_path):
    path = tmp_path / "plain.png"
    Image.new("RGB", (8, 8)).save(path)
    result = run_sdkit(capsys, "generate", "--from-image", str(path), "--dry-run")
    assert result.exit_code == 2 and "Traceback" not in result.output


# -- what an image records, beyond a txt2img made with a model in the models folder ------------------

def a1111_png(path: Path, parameters: str) -> Path:
    """A PNG carrying `parameters` as A1111 writes them."""
    info = PngInfo()
    info.add_text("parameters", parameters)
    Image.new("RGB", (64, 64), "grey").save(path, pnginfo=info)
    return path


TXT2IMG_FIELDS = "Steps: 3, Sampler: Euler, CFG scale: 5, Seed: 9, Size: 64x64"


def dry_run(capsys, *args: str):
    return run_sdkit(capsys, "generate", *args, "--dry-run", "--json")


@pytest.mark.parametrize("model_fields", [
    ", Model hash: 0123456789, Model: not-here",  # a model that is not in the models folder
    "",  # no model recorded at all
    ', Model: "../../../etc/passwd"',  # garbage
])
def test_an_explicit_model_wins_and_nothing_is_looked_up(capsys, tmp_path, tiny_pipeline_dir, monkeypatch,
                                                         model_fields):
    import sdkit.models as models

    def no_lookup():
        raise AssertionError("the models folder was searched although --model was given")

    monkeypatch.setattr(models, "list_models", no_lookup)
    image = a1111_png(tmp_path / "a.png", f"a fox\n{TXT2IMG_FIELDS}{model_fields}")
    result = dry_run(capsys, "--from-image", str(image), "--model", str(tiny_pipeline_dir("sd1")))
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["model"] == "tiny-sd1" and plan["params"]["seed"] == 9 and plan["params"]["prompt"] == "a fox"


def test_an_img2img_image_is_made_again_from_the_same_input_bit_for_bit(capsys, tmp_path, model_in_models_folder):
    source = tmp_path / "in.png"
    Image.new("RGB", (64, 64), (200, 40, 40)).save(source)
    first = generate(capsys, "--model", "tiny-one", "--prompt", "x", "--image", str(source), "--strength", "0.6",
                     "--steps", "3", "--seed", "12", "--prediction-type", "epsilon",
                     "--output-dir", str(tmp_path / "a"))
    original = first["images"][0]["path"]

    refused = run_sdkit(capsys, "generate", "--from-image", original, "--output-dir", str(tmp_path / "b"))
    assert refused.exit_code == 2
    assert original in refused.stderr and "img2img" in refused.stderr and "--image FILE" in refused.stderr
    assert not (tmp_path / "b").exists()

    again = generate(capsys, "--from-image", original, "--image", str(source), "--output-dir", str(tmp_path / "b"))
    assert again["task"] == "img2img" and again["params"]["strength"] == 0.6
    assert again["prediction_type"] == "epsilon"  # recorded as "Prediction type", recalled
    assert np.array_equal(pixels(original), pixels(again["images"][0]["path"]))


def test_an_inpaint_image_asks_for_its_image_and_mask(capsys, tmp_path, tiny_pipeline_dir):
    image = a1111_png(tmp_path / "inpainted.png",
                      f"a fox\n{TXT2IMG_FIELDS}, Denoising strength: 0.8, Mask blur: 6")
    model = str(tiny_pipeline_dir("sd1"))
    for given, missing in (([], "--image FILE --mask FILE"), (["--image", str(image)], "--mask FILE")):
        result = dry_run(capsys, "--from-image", str(image), "--model", model, *given)
        assert result.exit_code == 2, result.output
        assert "inpainting" in result.stderr and missing in result.stderr
    plan = json.loads(dry_run(capsys, "--from-image", str(image), "--model", model, "--image", str(image),
                              "--mask", str(image)).stdout)
    assert plan["task"] == "inpaint"
    assert (plan["params"]["strength"], plan["params"]["mask_blur"]) == (0.8, 6)


def test_a_hires_fix_image_is_recalled_with_both_passes(capsys, tmp_path, tiny_pipeline_dir):
    """The hires fix's own round trips are in test_hires_generate.py; here: what the plan recalls."""
    image = a1111_png(tmp_path / "hires.png", f"a fox\n{TXT2IMG_FIELDS}, Denoising strength: 0.7, "
                                              "Hires upscale: 2, Hires steps: 10, Hires upscaler: Latent")
    result = dry_run(capsys, "--from-image", str(image), "--model", str(tiny_pipeline_dir("sd1")))
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["task"] == "txt2img" and "strength" not in plan["params"]
    params = plan["params"]
    assert (params["hires_scale"], params["hires_steps"], params["hires_denoise"]) == (2, 10, 0.7)
    assert plan["hires"]["size"] == "128x128" and plan["hires"]["upscaler"] == "Latent"


def test_the_vae_and_the_upscaler_are_recalled(capsys, tmp_path, tiny_pipeline_dir):
    model = str(tiny_pipeline_dir("sd1"))
    image = a1111_png(tmp_path / "a.png", f"a fox\n{TXT2IMG_FIELDS}, VAE: my-vae.safetensors, "
                                          "Prediction type: v_prediction, Version: sdkit 0.2.0, "
                                          "Postprocess upscaler: RealESRGAN_x4plus, Postprocess upscale by: 2, "
                                          "Postprocess upscaler tile: 0")
    missing_vae = dry_run(capsys, "--from-image", str(image), "--model", model)
    assert missing_vae.exit_code == 2
    assert "my-vae.safetensors" in missing_vae.stderr and str(image) in missing_vae.stderr

    (tmp_path / "models" / "vae").mkdir(parents=True)
    (tmp_path / "models" / "vae" / "my-vae.safetensors").write_bytes(b"")  # found by name; loading is not planned
    missing_upscaler = dry_run(capsys, "--from-image", str(image), "--model", model)
    assert missing_upscaler.exit_code == 2
    message = " ".join(missing_upscaler.stderr.split())
    assert "RealESRGAN_x4plus" in message and str(image) in message and "--upscale ''" in message

    plan = json.loads(dry_run(capsys, "--from-image", str(image), "--model", model, "--upscale", "").stdout)
    assert plan["vae"] == "my-vae.safetensors" and plan["prediction_type"] == "v_prediction"
    assert plan["model_info"]["prediction_type"] == "v_prediction" and plan["upscale"] is None


def test_an_upscaled_image_asks_for_the_image_it_upscaled(capsys, tmp_path):
    image = a1111_png(tmp_path / "big.png", "Postprocess upscaler: x4plus, Postprocess upscale by: 4, "
                                            "Postprocess upscaler tile: 512, Version: sdkit 0.2.0")
    result = dry_run(capsys, "--from-image", str(image))
    assert result.exit_code == 2
    assert "upscaling" in result.stderr and "--image FILE" in result.stderr


@pytest.mark.parametrize("field, value, named", [("Steps", "-5", "steps"), ("Steps", "many", "--steps"),
                                                  ("Seed", "-9", "seed"), ("Size", "0x64", "width")])
def test_a_bad_number_in_the_metadata_names_the_image(capsys, tmp_path, tiny_pipeline_dir, field, value, named):
    fields = dict(part.split(": ") for part in TXT2IMG_FIELDS.split(", "))
    fields[field] = value
    image = a1111_png(tmp_path / "odd.png", "a fox\n" + ", ".join(f"{key}: {text}" for key, text in fields.items()))
    result = dry_run(capsys, "--from-image", str(image), "--model", str(tiny_pipeline_dir("sd1")))
    assert result.exit_code == 2, result.output
    message = " ".join(result.stderr.split())
    assert str(image) in message and named in message and "Traceback" not in result.output
