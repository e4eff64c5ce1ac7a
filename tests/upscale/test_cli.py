"""`sdkit generate` with the upscale preset and with `--upscale` after txt2img, as a user runs them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import run_sdkit
from PIL import Image


@pytest.fixture
def workdir(tmp_path, monkeypatch, weight_files) -> Path:
    """A folder holding in.png and x4plus.pth, made the current folder (outputs go to ./outputs)."""
    folder = tmp_path / "work"
    folder.mkdir()
    values = np.random.default_rng(2).integers(0, 256, (24, 40, 3), dtype=np.uint8)
    Image.fromarray(values).save(folder / "in.png")
    shutil.copy(weight_files["fast_x4"], folder / "x4plus.pth")
    monkeypatch.chdir(folder)
    return folder


def saved_images(folder: Path) -> list[Path]:
    return sorted((folder / "outputs" / "upscale").glob("*.png"))


def test_upscale_preset_writes_a_4x_image_with_metadata(capsys, workdir):
    result = run_sdkit(capsys, "generate", "--preset", "upscale/real-esrgan", "--image", "in.png",
                       "--model", "x4plus.pth")
    assert result.exit_code == 0, result.output
    [path] = saved_images(workdir)
    with Image.open(path) as image:
        assert image.size == (160, 96)
        parameters = image.info["parameters"]
    assert "Postprocess upscaler: x4plus" in parameters and "Postprocess upscale by: 4" in parameters
    again = run_sdkit(capsys, "generate", "--preset", "upscale/real-esrgan", "--image", "in.png",
                      "--model", "x4plus.pth")
    assert again.exit_code == 0 and len(saved_images(workdir)) == 2  # never overwrites


def test_model_by_name_from_the_models_folder_and_another_scale(capsys, workdir, installed_x4):
    result = run_sdkit(capsys, "generate", "--task", "upscale", "--image", "in.png",
                       "--model", "realesrgan_x4plus", "--scale", "2", "--tile", "0")
    assert result.exit_code == 0, result.output
    [path] = saved_images(workdir)
    with Image.open(path) as image:
        assert image.size == (80, 48)
        assert "Postprocess upscale by: 2" in image.info["parameters"]


@pytest.mark.parametrize("args, expected", [
    (["--model", "no-such-upscaler"], "put upscaler weights"),
    (["--model", "x4plus.pth", "--tile", "64", "--tile-overlap", "32"], "tile_overlap"),
    (["--model", "x4plus.pth", "--image", "x4plus.pth"], "not a readable image"),
])
def test_bad_input_exits_2_with_a_hint(capsys, workdir, args, expected):
    argv = ["generate", "--preset", "upscale/real-esrgan", "--image", "in.png", *args]
    result = run_sdkit(capsys, *argv)
    assert result.exit_code == 2, result.output
    message = " ".join(result.stderr.split())  # the console wraps long lines
    assert expected in message and "hint:" in message
    assert "Traceback" not in result.output
    assert saved_images(workdir) == []


def test_unsafe_pickle_exits_2(capsys, workdir):
    import torch

    torch.save({"payload": _Payload()}, workdir / "evil.pth")
    result = run_sdkit(capsys, "generate", "--preset", "upscale/real-esrgan", "--image", "in.png",
                       "--model", "evil.pth")
    assert result.exit_code == 2 and "refused" in result.stderr


class _Payload:
    def __reduce__(self):
        return (print, ("this would run on load",))


def test_txt2img_with_upscale_enlarges_each_image_and_records_it(capsys, workdir, installed_x4, tiny_pipeline_dir):
    result = run_sdkit(capsys, "generate", "--model", str(tiny_pipeline_dir("sd1")), "--prompt", "a cat",
                       "--steps", "2", "--width", "64", "--height", "64", "--seed", "5",
                       "--upscale", "RealESRGAN_x4plus")
    assert result.exit_code == 0, result.output
    [path] = sorted((workdir / "outputs" / "txt2img").glob("*.png"))
    with Image.open(path) as image:
        assert image.size == (256, 256)
        assert "Postprocess upscaler: RealESRGAN_x4plus" in image.info["parameters"]
        assert "Seed: 5" in image.info["parameters"]


def test_upscale_after_txt2img_takes_scale_and_tiles_and_goes_through_the_registry(capsys, workdir, installed_x4,
                                                                                   tiny_pipeline_dir):
    common = ["generate", "--model", str(tiny_pipeline_dir("sd1")), "--prompt", "a cat", "--steps", "2",
              "--width", "64", "--height", "64", "--seed", "5", "--upscale", "RealESRGAN_x4plus"]
    plan = run_sdkit(capsys, *common, "--scale", "2", "--tile", "32", "--tile-overlap", "8", "--dry-run", "--json")
    assert plan.exit_code == 0, plan.output
    step = json.loads(plan.stdout)["upscale"]
    assert step["engine"] == "realesrgan" and step["model"] == "RealESRGAN_x4plus"
    assert step["params"]["scale"] == 2 and step["params"]["tile"] == 32 and step["params"]["tile_overlap"] == 8

    result = run_sdkit(capsys, *common, "--scale", "2", "--tile", "32", "--tile-overlap", "8")
    assert result.exit_code == 0, result.output
    [path] = sorted((workdir / "outputs" / "txt2img").glob("*.png"))
    with Image.open(path) as image:
        assert image.size == (128, 128)
        text = image.info["parameters"]
    assert "Postprocess upscale by: 2, Postprocess upscaler tile: 32, Postprocess upscaler tile overlap: 8" in text
    assert text.index("Version: sdkit") < text.index("Postprocess upscaler:")  # after the generation fields

    unknown = run_sdkit(capsys, *common, "--upscale-engine", "sd15", "--dry-run")
    assert unknown.exit_code == 2 and "upscale" in unknown.stderr


def test_an_upscaler_that_does_not_exist_fails_the_dry_run(capsys, workdir, tiny_pipeline_dir):
    result = run_sdkit(capsys, "generate", "--model", str(tiny_pipeline_dir("sd1")), "--upscale", "NoSuchUpscaler",
                       "--dry-run")
    assert result.exit_code == 2 and "NoSuchUpscaler" in result.stderr and "Traceback" not in result.stderr


def test_tile_without_upscale_is_refused_for_txt2img(capsys, workdir, tiny_pipeline_dir):
    result = run_sdkit(capsys, "generate", "--model", str(tiny_pipeline_dir("sd1")), "--tile", "64", "--dry-run")
    assert result.exit_code == 2 and "--tile cannot be used with txt2img" in result.stderr
    assert "together with --upscale" in result.stderr


def test_an_upscaler_name_with_a_models_folder_that_is_a_file_names_the_setting(capsys, workdir, monkeypatch,
                                                                                tmp_path):
    not_a_folder = tmp_path / "models.txt"
    not_a_folder.write_text("oops")
    monkeypatch.setenv("SDKIT_MODELS_DIR", str(not_a_folder))
    result = run_sdkit(capsys, "generate", "--task", "upscale", "--image", "in.png", "--model", "RealESRGAN_x4plus",
                       "--dry-run")
    assert result.exit_code == 2 and "is a file, not a folder" in result.stderr and "SDKIT_MODELS_DIR" in result.stderr
