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
