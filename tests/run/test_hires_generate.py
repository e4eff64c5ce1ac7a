"""A1111's hires fix through `sdkit generate`: two passes on a tiny SD 1.x model (64² → 128², 2 steps).

What a user relies on: the saved image has the second pass's size while the infotext keeps the
first pass's, keys exactly as A1111 writes them; seeds reproduce and batches do not change an image;
every latent mode, the model-free resizes and an upscaler model work; `--from-image` on such a PNG
(sdkit's or an A1111-written one) runs both passes again, pixel for pixel.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import run_sdkit
from PIL import Image
from PIL.PngImagePlugin import PngInfo

FAST = ("--width", "64", "--height", "64", "--steps", "2", "--seed", "21")
UPSCALE_WEIGHTS = Path(__file__).parents[1] / "upscale" / "upscale_weights.py"


@pytest.fixture
def tiny_one(tmp_path, tiny_pipeline_dir) -> str:
    """The tiny SD 1.x model in this test's models folder as `tiny-one` (so --from-image finds it)."""
    shutil.copytree(tiny_pipeline_dir("sd1"), tmp_path / "models" / "tiny-one")
    return "tiny-one"


@pytest.fixture(scope="module")
def tiny_upscaler_file(tmp_path_factory) -> Path:
    """A one-block x4 Real-ESRGAN `.pth` with random weights (the x4plus layout)."""
    spec = importlib.util.spec_from_file_location("hires_upscale_weights", UPSCALE_WEIGHTS)
    weights = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(weights)
    return weights.write_basicsr_pth(tmp_path_factory.mktemp("hires-upscaler") / "tiny_x4.pth", blocks=1)


def generate(capsys, *args: str) -> dict:
    result = run_sdkit(capsys, "generate", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def saved(result: dict, index: int = 0) -> tuple[np.ndarray, str]:
    """(pixels, parameters text) of one saved image."""
    with Image.open(result["images"][index]["path"]) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16), image.text["parameters"]


def field_line(parameters: str) -> str:
    return parameters.strip().split("\n")[-1]


def test_hires_scale_makes_a_two_pass_image_with_a1111s_keys(capsys, tmp_path, tiny_pipeline_dir):
    model = str(tiny_pipeline_dir("sd1"))
    plain = generate(capsys, "--model", model, "a red square", *FAST, "-o", str(tmp_path / "plain"))
    hires = generate(capsys, "--model", model, "a red square", *FAST, "--hires-scale", "2", "-o", str(tmp_path / "h"))
    plain_pixels, _ = saved(plain)
    pixels, parameters = saved(hires)
    assert plain_pixels.shape == (64, 64, 3) and pixels.shape == (128, 128, 3)
    line = field_line(parameters)
    # Size stays the first pass's; the second pass's strength is "Denoising strength"; no "Hires steps" for 0.
    assert "Size: 64x64" in line and "Hires steps" not in line
    assert (", Denoising strength: 0.7, RNG: CPU, Hires upscale: 2, Hires upscaler: Latent, "
            "Diffusers scheduler: DDIMScheduler, Version: sdkit ") in line
    assert hires["hires"] == {"size": "128x128", "upscaler": "Latent", "kind": "latent", "upscaler_engine": None,
                              "upscaler_model": None, "sampler": None}
    # The second pass redraws: the image is not the first pass merely enlarged.
    enlarged = np.asarray(Image.fromarray(plain_pixels.astype(np.uint8)).resize((128, 128), Image.BILINEAR),
                          dtype=np.int16)
    assert np.abs(pixels - enlarged).mean() > 1


def test_every_hires_option_is_written_as_a1111_writes_it(capsys, tmp_path, tiny_pipeline_dir):
    result = generate(capsys, "--model", str(tiny_pipeline_dir("sd1")), "a fox", "--negative-prompt", "fog", *FAST,
                      "--hires-size", "128x128", "--hires-steps", "3", "--hires-denoise", "0.5",
                      "--hires-sampler", "Euler", "--hires-schedule", "karras", "--hires-prompt", "a red fox",
                      "--hires-negative-prompt", "blur", "--hires-cfg-scale", "4", "-o", str(tmp_path))
    pixels, parameters = saved(result)
    assert pixels.shape == (128, 128, 3)
    line = field_line(parameters)
    assert line.startswith("Steps: 2, Sampler: DDIM, Schedule type: Uniform, CFG scale: 7, Seed: 21, Size: 64x64, ")
    assert line.split("Model: tiny-sd1, ", 1)[1].startswith(
        "Denoising strength: 0.5, RNG: CPU, Hires sampler: Euler, Hires prompt: a red fox, Hires negative prompt: "
        "blur, Hires CFG Scale: 4, Hires schedule type: Karras, Hires resize: 128x128, Hires steps: 3, "
        "Hires upscaler: Latent, Diffusers scheduler: DDIMScheduler, "
        "Diffusers hires scheduler: none (A1111's sampling), Version: sdkit ")  # the hires pass's "Euler": A1111's
    # A hires value equal to the first pass's is not written (A1111 writes only those that differ).
    same = generate(capsys, "--model", str(tiny_pipeline_dir("sd1")), "a fox", *FAST, "--hires-scale", "2",
                    "--hires-prompt", "a fox", "--hires-cfg-scale", "7", "--hires-sampler", "DDIM",
                    "-o", str(tmp_path / "same"))
    assert "Hires prompt" not in saved(same)[1] and "Hires CFG" not in saved(same)[1]
    assert "Hires sampler" not in saved(same)[1]


def test_seeds_reproduce_and_a_batch_does_not_change_an_image(capsys, tmp_path, tiny_pipeline_dir):
    model = str(tiny_pipeline_dir("sd1"))
    hires = ("--hires-scale", "2", "--hires-upscaler", "Latent (nearest)")
    batch = generate(capsys, "--model", model, "x", *FAST, *hires, "--seed", "40", "--batch-size", "2",
                     "-o", str(tmp_path / "batch"))
    assert [image["seed"] for image in batch["images"]] == [40, 41]
    alone = generate(capsys, "--model", model, "x", *FAST, *hires, "--seed", "41", "-o", str(tmp_path / "a"))
    again = generate(capsys, "--model", model, "x", *FAST, *hires, "--seed", "41", "-o", str(tmp_path / "b"))
    assert np.array_equal(saved(alone)[0], saved(again)[0])
    # Same noise in both passes; a batched matmul may round differently in the last bit, never by more.
    assert np.abs(saved(batch, 1)[0] - saved(alone)[0]).max() <= 2
    assert np.abs(saved(batch, 0)[0] - saved(alone)[0]).max() > 2  # and another seed is another image


def test_every_latent_mode_and_model_free_resize(capsys, tmp_path, tiny_pipeline_dir):
    model = str(tiny_pipeline_dir("sd1"))
    images = {}
    for upscaler in ("Latent", "latent (antialiased)", "Latent (bicubic)", "Latent (bicubic antialiased)",
                     "Latent (nearest)", "Latent (nearest-exact)", "Lanczos", "Nearest", "None"):
        result = generate(capsys, "--model", model, "x", *FAST, "--hires-scale", "2", "--hires-upscaler", upscaler,
                          "-o", str(tmp_path / upscaler))
        pixels, parameters = saved(result)
        assert pixels.shape == (128, 128, 3), upscaler
        images[field_line(parameters).split("Hires upscaler: ")[1].split(", ")[0]] = pixels
    # Written in A1111's spelling whatever the case typed; the modes are really different enlargements.
    assert "Latent (antialiased)" in images
    assert not np.array_equal(images["Latent"], images["Latent (nearest)"])
    assert not np.array_equal(images["Latent"], images["Lanczos"])


def test_an_upscaler_model_and_its_round_trip(capsys, tmp_path, tiny_one, tiny_upscaler_file):
    upscale_dir = tmp_path / "models" / "upscale"
    upscale_dir.mkdir(parents=True)
    shutil.copy(tiny_upscaler_file, upscale_dir / "tiny_x4.pth")
    first = generate(capsys, "--model", tiny_one, "a boat", *FAST, "--hires-scale", "2",
                     "--hires-upscaler", "tiny_x4", "-o", str(tmp_path / "a"))
    assert first["hires"]["kind"] == "model" and first["hires"]["upscaler_engine"] == "realesrgan"
    pixels, parameters = saved(first)
    assert pixels.shape == (128, 128, 3) and "Hires upscaler: tiny_x4, " in parameters
    again = generate(capsys, "--from-image", first["images"][0]["path"], "-o", str(tmp_path / "b"))
    assert again["params"]["hires_upscaler"] == "tiny_x4"
    assert np.array_equal(pixels, saved(again)[0])

    (upscale_dir / "tiny_x4.pth").unlink()  # an image naming an upscaler that is not here
    missing = run_sdkit(capsys, "generate", "--from-image", first["images"][0]["path"], "--dry-run")
    assert missing.exit_code == 2
    message = " ".join(missing.stderr.split())
    assert "'tiny_x4'" in message and first["images"][0]["path"] in message and "--hires-upscaler" in message


class CountingEvents:
    """The run layer's events, recording what a progress bar would show."""

    def __init__(self) -> None:
        self.started: list[int] = []
        self.steps: list[tuple[int, int]] = []

    def image_started(self, index: int, total: int, steps: int) -> None:
        self.started.append(steps)

    def step_finished(self, index: int, step: int, steps: int) -> None:
        self.steps.append((step, steps))

    def should_stop(self) -> bool:
        return False


@pytest.mark.parametrize("hires_steps, second_pass", [(0, 3), (2, 2)])
def test_hires_steps_zero_means_the_first_pass_count(tiny_pipeline_dir, hires_steps, second_pass):
    from sdkit.run.execute import run_images
    from sdkit.run.plan import make_plan

    plan = make_plan(model=str(tiny_pipeline_dir("sd1")), flags={
        "prompt": "x", "width": 64, "height": 64, "steps": 3, "seed": 3, "hires_scale": 2,
        "hires_steps": hires_steps, "hires_denoise": 0.6})
    events = CountingEvents()
    (image,) = run_images(plan, events)
    total = 3 + second_pass
    # Progress runs through both passes; the second runs exactly its steps at any strength (A1111's rule).
    assert events.started == [total] and events.steps == [(step, total) for step in range(1, total + 1)]
    assert image.image.size == (128, 128)
    assert image.infotext.get("Hires steps") == (hires_steps or None)


def test_hires_size_crops_to_another_aspect_ratio_or_keeps_it(capsys, tmp_path, tiny_pipeline_dir):
    model = str(tiny_pipeline_dir("sd1"))
    wide = generate(capsys, "--model", model, "x", *FAST, "--hires-size", "128x96", "-o", str(tmp_path / "w"))
    assert saved(wide)[0].shape == (96, 128, 3) and "Hires resize: 128x96" in saved(wide)[1]
    kept = generate(capsys, "--model", model, "x", "--width", "64", "--height", "96", "--steps", "2",
                    "--hires-size", "128x0", "-o", str(tmp_path / "k"))
    assert saved(kept)[0].shape == (192, 128, 3) and "Hires resize: 128x0" in saved(kept)[1]


def test_prompt_editing_in_the_second_pass_counts_from_the_end_of_the_first(capsys, tmp_path, tiny_pipeline_dir):
    from sdkit.prompts.schedule import text_per_step

    # 20 first-pass steps: step 25 is the second pass's step 5, and 1.5 is halfway through it.
    assert text_per_step("a [b:c:25]", 10, first_pass_steps=20) == ["a b"] * 5 + ["a c"] * 5
    assert text_per_step("a [b:c:1.5]", 10, first_pass_steps=20) == ["a b"] * 5 + ["a c"] * 5
    assert text_per_step("a [b:c:15]", 10, first_pass_steps=20) == ["a c"] * 10
    # End to end: with 2 first-pass steps, [cat:dog:2] is "cat" in the first pass and "dog" in all the second.
    model = str(tiny_pipeline_dir("sd1"))
    edited = generate(capsys, "--model", model, "a [cat:dog:2]", *FAST, "--hires-scale", "2", "-o", str(tmp_path / "e"))
    split = generate(capsys, "--model", model, "a cat", *FAST, "--hires-scale", "2", "--hires-prompt", "a dog",
                     "-o", str(tmp_path / "s"))
    plain = generate(capsys, "--model", model, "a cat", *FAST, "--hires-scale", "2", "-o", str(tmp_path / "p"))
    assert np.array_equal(saved(edited)[0], saved(split)[0])
    assert not np.array_equal(saved(edited)[0], saved(plain)[0])


def test_from_image_runs_both_passes_again_bit_for_bit(capsys, tmp_path, tiny_one):
    first = generate(capsys, "--model", tiny_one, "a [cat:dog:1]", *FAST, "--hires-size", "128x96",
                     "--hires-steps", "2", "--hires-denoise", "0.55", "--hires-sampler", "Euler a",
                     "--hires-prompt", "a (dog:1.2)", "--hires-cfg-scale", "5", "-o", str(tmp_path / "a"))
    again = generate(capsys, "--from-image", first["images"][0]["path"], "-o", str(tmp_path / "b"))
    params = again["params"]
    assert (params["hires_width"], params["hires_height"], params["hires_steps"], params["hires_denoise"]) == \
        (128, 96, 2, 0.55)
    assert (params["hires_sampler"], params["hires_prompt"], params["hires_cfg_scale"]) == ("Euler a", "a (dog:1.2)", 5)
    assert "strength" not in params and again["task"] == "txt2img"
    assert np.array_equal(saved(first)[0], saved(again)[0])
    assert saved(first)[1] == saved(again)[1]


def test_an_a1111_hires_png_regenerates_both_passes(capsys, tmp_path, tiny_one):
    info = PngInfo()
    info.add_text("parameters", "a castle\nNegative prompt: fog\nSteps: 2, Sampler: Euler, Schedule type: Automatic, "
                                "CFG scale: 6, Seed: 77, Size: 64x64, Model: tiny-one, Denoising strength: 0.6, "
                                "Hires upscale: 2, Hires steps: 2, Hires upscaler: Latent (bicubic), "
                                "Hires checkpoint: other, Version: v1.10.1")
    path = tmp_path / "a1111.png"
    Image.new("RGB", (128, 128)).save(path, pnginfo=info)
    result = run_sdkit(capsys, "generate", "--from-image", str(path), "--json", "-o", str(tmp_path / "a"))
    assert result.exit_code == 0, result.output
    recalled = json.loads(result.stdout)
    assert recalled["hires"]["size"] == "128x128" and recalled["hires"]["upscaler"] == "Latent (bicubic)"
    assert "Hires checkpoint: 'other'" in " ".join(result.stderr.split())  # named, not silently dropped
    direct = generate(capsys, "--model", tiny_one, "a castle", "--negative-prompt", "fog", "--steps", "2",
                      "--sampler", "Euler", "--cfg-scale", "6", "--seed", "77", "-W", "64", "-H", "64",
                      "--hires-scale", "2", "--hires-steps", "2", "--hires-denoise", "0.6", "--rng", "nv",
                      "--hires-upscaler", "Latent (bicubic)", "-o", str(tmp_path / "b"))
    assert saved(recalled)[0].shape == (128, 128, 3)
    assert np.array_equal(saved(recalled)[0], saved(direct)[0])


@pytest.mark.parametrize("family", ["sd2", "sdxl"])
@pytest.mark.parametrize("upscaler", ["Latent", "Lanczos"])
def test_the_other_families_draw_both_passes(capsys, tmp_path, tiny_pipeline_dir, family, upscaler):
    result = generate(capsys, "--model", str(tiny_pipeline_dir(family)), "x", *FAST, "--hires-scale", "1.5",
                      "--hires-upscaler", upscaler, "-o", str(tmp_path))
    pixels, parameters = saved(result)
    assert pixels.shape == (96, 96, 3) and "Hires upscale: 1.5" in parameters


def test_a_preset_sets_the_hires_fix_and_a_scale_of_0_turns_it_off(capsys, tmp_path, tiny_one):
    preset = tmp_path / "hires.yaml"
    preset.write_text("schema_version: 1\ntask: txt2img\nparams:\n  hires_scale: 2\n  hires_upscaler: nearest\n"
                      "  hires_denoise: 0.4\n")
    planned = run_sdkit(capsys, "generate", "--preset", str(preset), "--model", tiny_one, "x", *FAST, "--dry-run",
                        "--json")
    assert planned.exit_code == 0, planned.output
    plan = json.loads(planned.stdout)
    assert plan["hires"]["upscaler"] == "Nearest" and plan["params"]["hires_denoise"] == 0.4
    hires = generate(capsys, "--model", tiny_one, "x", *FAST, "--hires-size", "128x128", "-o", str(tmp_path / "a"))
    first_pass = generate(capsys, "--from-image", hires["images"][0]["path"], "--hires-scale", "0",
                          "-o", str(tmp_path / "b"))
    plain = generate(capsys, "--model", tiny_one, "x", *FAST, "-o", str(tmp_path / "c"))
    assert first_pass["hires"] is None and "Hires" not in saved(first_pass)[1]
    assert np.array_equal(saved(first_pass)[0], saved(plain)[0])
