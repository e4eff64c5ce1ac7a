"""`sdkit generate` on tiny SD 1.x, SD 2.x and SDXL models: every family × task × source, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import run_sdkit
from PIL import Image

FAMILIES = ["sd1", "sd2", "sdxl"]
TASKS = ["txt2img", "img2img", "inpaint"]
FAST = ["--steps", "2", "--width", "64", "--height", "64", "--seed", "11"]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("inputs")
    init = Image.new("RGB", (64, 64), (200, 40, 40))
    init.paste((30, 30, 220), (16, 16, 48, 48))
    init.save(folder / "init.png")
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (16, 16, 48, 48))
    mask.save(folder / "mask.png")
    (folder / "not-an-image.png").write_text("hello")
    return {"image": folder / "init.png", "mask": folder / "mask.png", "bad": folder / "not-an-image.png"}


def task_flags(task: str, inputs: dict[str, Path]) -> list[str]:
    if task == "img2img":
        return ["--image", str(inputs["image"]), "--strength", "0.6"]
    if task == "inpaint":
        return ["--image", str(inputs["image"]), "--mask", str(inputs["mask"])]
    return []


def generate_json(capsys, *args: str) -> dict:
    result = run_sdkit(capsys, "generate", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize("source", ["diffusers", "single-file"])
@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_task_and_source(capsys, tmp_path, family, source, tiny_pipeline_dir, tiny_single_file,
                                      inputs):
    model = tiny_pipeline_dir(family) if source == "diffusers" else tiny_single_file(family)
    expected_engine = {"sd1": "sd15", "sd2": "sd2", "sdxl": "sdxl"}[family]
    for task in TASKS:
        out = tmp_path / task
        result = generate_json(capsys, "--model", str(model), "--prompt", "a red square", *FAST,
                               *task_flags(task, inputs), "--output-dir", str(out))
        assert result["engine"] == expected_engine and result["task"] == task
        [image_info] = result["images"]
        path = Path(image_info["path"])
        assert path.parent == out and path.name == "00000-11.png"
        with Image.open(path) as image:
            assert image.size == (64, 64)
            parameters = image.text["parameters"]
        assert parameters.startswith("a red square\n")
        assert "Steps: 2" in parameters and "Seed: 11" in parameters and "Size: 64x64" in parameters
        assert ("Denoising strength" in parameters) == (task != "txt2img")


def test_inpainting_checkpoint_with_nine_channel_unet(capsys, tmp_path, tiny_pipeline_dir, tiny_single_file, inputs):
    for model in (tiny_pipeline_dir("sd1", inpainting=True), tiny_single_file("sd1", inpainting=True)):
        result = generate_json(capsys, "--model", str(model), "--prompt", "x", *FAST,
                               *task_flags("inpaint", inputs), "--output-dir", str(tmp_path))
        assert result["task"] == "inpaint" and len(result["images"]) == 1
    refused = run_sdkit(capsys, "generate", "--model", str(tiny_pipeline_dir("sd1", inpainting=True)), *FAST,
                        "--output-dir", str(tmp_path))
    assert refused.exit_code == 2 and "inpainting model" in refused.stderr


def test_switching_task_never_reloads_the_model(capsys, tmp_path, monkeypatch, tiny_pipeline_dir, inputs):
    import sdkit.models.resolve as resolve
    import sdkit.run.execute as execute

    monkeypatch.setattr(execute, "_loaded_models", {})
    calls = []
    original = resolve.source

    def counting_source(kind):
        calls.append(kind)
        return original(kind)

    monkeypatch.setattr(resolve, "source", counting_source)
    model = str(tiny_pipeline_dir("sd1"))
    for task in TASKS:
        generate_json(capsys, "--model", model, *FAST, *task_flags(task, inputs), "--output-dir", str(tmp_path))
    assert calls == ["diffusers"]


def pixels(path: str) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


def test_batches_number_seeds_and_images_are_independent_of_batch(capsys, tmp_path, tiny_pipeline_dir):
    model = str(tiny_pipeline_dir("sd1"))
    batch = generate_json(capsys, "--model", model, *FAST, "--seed", "100", "--batch-size", "2",
                          "--batch-count", "2", "--output-dir", str(tmp_path / "batch"))
    assert [image["seed"] for image in batch["images"]] == [100, 101, 102, 103]
    assert len(list((tmp_path / "batch").glob("*.png"))) == 4
    alone = generate_json(capsys, "--model", model, *FAST, "--seed", "101", "--output-dir", str(tmp_path / "one"))
    difference = np.abs(pixels(batch["images"][1]["path"]) - pixels(alone["images"][0]["path"]))
    # Same noise; a batched matmul may round differently in the last bit, never more than a level or two.
    assert difference.max() <= 2


def test_same_inputs_give_bit_identical_pixels(capsys, tmp_path, tiny_pipeline_dir):
    model = str(tiny_pipeline_dir("sdxl"))
    runs = [generate_json(capsys, "--model", model, *FAST, "--sampler", "Euler a", "--output-dir",
                          str(tmp_path / str(i)))["images"][0]["path"] for i in range(2)]
    assert np.array_equal(pixels(runs[0]), pixels(runs[1]))


def test_random_seed_is_drawn_and_reported(capsys, tmp_path, tiny_pipeline_dir):
    result = generate_json(capsys, "--model", str(tiny_pipeline_dir("sd1")), "--steps", "1", "--width", "64",
                           "--height", "64", "--output-dir", str(tmp_path))
    seed = result["images"][0]["seed"]
    assert isinstance(seed, int) and 0 <= seed < 2**32
    assert Path(result["images"][0]["path"]).name == f"00000-{seed}.png"


def test_default_output_folder_is_outputs_task_in_the_current_folder(capsys, tmp_path, monkeypatch,
                                                                    tiny_pipeline_dir):
    monkeypatch.chdir(tmp_path)
    result = run_sdkit(capsys, "generate", "--model", str(tiny_pipeline_dir("sd1")), *FAST)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "outputs" / "txt2img" / "00000-11.png").is_file()
    assert "outputs/txt2img/00000-11.png" in result.stdout
    again = run_sdkit(capsys, "generate", "--model", str(tiny_pipeline_dir("sd1")), *FAST)
    assert again.exit_code == 0 and (tmp_path / "outputs" / "txt2img" / "00001-11.png").is_file()


def test_sidecar_holds_the_full_parameters(capsys, tmp_path, tiny_pipeline_dir):
    result = generate_json(capsys, "--model", str(tiny_pipeline_dir("sd1")), *FAST, "--sidecar",
                           "--output-dir", str(tmp_path))
    sidecar = json.loads(Path(result["images"][0]["sidecar"]).read_text())
    assert sidecar["seed"] == 11 and sidecar["params"]["steps"] == 2 and "Seed: 11" in sidecar["parameters"]


@pytest.mark.parametrize("family", FAMILIES)
def test_long_prompt_is_encoded_in_chunks_not_cut(capsys, tmp_path, tiny_pipeline_dir, family):
    """Words past the encoder's 75-token window still change the image (A1111's chunking)."""
    base = " ".join(f"w{i}" for i in range(40))  # ~120 tokens with the tests' character-level vocabulary
    model = str(tiny_pipeline_dir(family))
    images = []
    for ending in ("red", "blue"):
        result = run_sdkit(capsys, "generate", "--model", model, *FAST, "--prompt", f"{base} {ending}",
                           "--negative-prompt", "blurry", "--json", "--output-dir", str(tmp_path / ending))
        assert result.exit_code == 0, result.output
        assert "ignored" not in result.stderr
        images.append(pixels(json.loads(result.stdout)["images"][0]["path"]))
    assert not np.array_equal(images[0], images[1])


def test_engine_that_does_not_match_the_model(capsys, tmp_path, tiny_pipeline_dir):
    result = run_sdkit(capsys, "generate", "--model", str(tiny_pipeline_dir("sdxl")), "--engine", "sd15", *FAST,
                       "--output-dir", str(tmp_path))
    assert result.exit_code == 2 and "sdxl model" in result.stderr and "--engine sdxl" in result.stderr


def test_unsupported_mode_is_refused(capsys, tiny_pipeline_dir):
    result = run_sdkit(capsys, "generate", "--model", str(tiny_pipeline_dir("sd1")), "--mode", "turbo", "--dry-run")
    assert result.exit_code == 2 and "supports modes" in result.stderr


def test_turbo_mode_sets_few_step_defaults(capsys, tiny_pipeline_dir):
    result = run_sdkit(capsys, "generate", "--model", str(tiny_pipeline_dir("sdxl")), "--mode", "turbo",
                       "--dry-run", "--json")
    params = json.loads(result.stdout)["params"]
    assert (params["steps"], params["cfg_scale"], params["mode"]) == (1, 0.0, "turbo")


@pytest.mark.parametrize("flag,value,message", [
    ("--image", "bad", "not a readable image"),
    ("--image", "missing", "input image not found"),
])
def test_bad_init_images(capsys, tmp_path, tiny_pipeline_dir, inputs, flag, value, message):
    path = inputs["bad"] if value == "bad" else tmp_path / "nope.png"
    result = run_sdkit(capsys, "generate", "--model", str(tiny_pipeline_dir("sd1")), *FAST, flag, str(path),
                       "--output-dir", str(tmp_path / "out"))
    assert result.exit_code == 2 and message in result.stderr and "Traceback" not in result.output
    assert not list((tmp_path / "out").glob("*.png"))


def test_all_black_mask_is_refused(capsys, tmp_path, tiny_pipeline_dir, inputs):
    black = tmp_path / "black.png"
    Image.new("L", (64, 64), 0).save(black)
    result = run_sdkit(capsys, "generate", "--model", str(tiny_pipeline_dir("sd1")), *FAST, "--image",
                       str(inputs["image"]), "--mask", str(black), "--output-dir", str(tmp_path / "out"))
    assert result.exit_code == 2 and "all black" in result.stderr


def test_model_native_size_is_the_default(capsys, tiny_pipeline_dir):
    result = run_sdkit(capsys, "generate", "--model", str(tiny_pipeline_dir("sd1")), "--dry-run", "--json")
    params = json.loads(result.stdout)["params"]
    assert (params["width"], params["height"]) == (64, 64)


def test_img2img_keeps_the_input_size_unless_told_otherwise(capsys, tmp_path, tiny_pipeline_dir):
    image = tmp_path / "wide.png"
    Image.new("RGB", (99, 72), "white").save(image)
    model = str(tiny_pipeline_dir("sd1"))
    result = run_sdkit(capsys, "generate", "--model", model, "--image", str(image), "--dry-run", "--json")
    params = json.loads(result.stdout)["params"]
    assert (params["task"], params["width"], params["height"]) == ("img2img", 96, 72)
    result = run_sdkit(capsys, "generate", "--model", model, "--image", str(image), "--width", "64", "--dry-run",
                       "--json")
    assert json.loads(result.stdout)["params"]["width"] == 64


def test_prediction_type_override_for_single_files(capsys, tiny_single_file):
    model = str(tiny_single_file("sd2"))
    result = run_sdkit(capsys, "generate", "--model", model, "--prediction-type", "v_prediction", "--dry-run",
                       "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["model_info"]["prediction_type"] == "v_prediction"
    bad = run_sdkit(capsys, "generate", "--model", model, "--prediction-type", "x", "--dry-run")
    assert bad.exit_code == 2 and "unknown prediction type" in bad.stderr


def test_vae_override_is_used_and_recorded(capsys, tmp_path, tiny_pipeline_dir):
    model = str(tiny_pipeline_dir("sd1"))
    plain = generate_json(capsys, "--model", model, *FAST, "--output-dir", str(tmp_path / "a"))
    from tiny_models import build_tiny_pipeline

    other_vae = build_tiny_pipeline("sd1", tmp_path / "other", seed=1) / "vae"  # same shape, other weights
    swapped = generate_json(capsys, "--model", model, *FAST, "--vae", str(other_vae), "--output-dir",
                            str(tmp_path / "b"))
    assert swapped["vae"] == str(other_vae)
    assert not np.array_equal(pixels(plain["images"][0]["path"]), pixels(swapped["images"][0]["path"]))
    with Image.open(swapped["images"][0]["path"]) as image:
        assert "VAE: vae" in image.text["parameters"]


@pytest.mark.parametrize("family", FAMILIES)
def test_clip_skip_changes_the_image_and_is_recorded(capsys, tmp_path, tiny_pipeline_dir, family):
    model = str(tiny_pipeline_dir(family))
    images = {}
    for skip in ("1", "2"):
        result = generate_json(capsys, "--model", model, *FAST, "--prompt", "a cat", "--clip-skip", skip,
                               "--output-dir", str(tmp_path / skip))
        images[skip] = result["images"][0]["path"]
    assert not np.array_equal(pixels(images["1"]), pixels(images["2"]))
    with Image.open(images["2"]) as image:
        assert "Clip skip: 2" in image.text["parameters"]
    with Image.open(images["1"]) as image:
        assert "Clip skip" not in image.text["parameters"]
