"""ComfyUI's sampler names through `sdkit generate`: ComfyUI's batches, what the PNG records, and `--from-image`.

What a ComfyUI user relies on: a batch of N at seed S is ComfyUI's batch (one generator for the batch,
so every image records seed S and its place in the batch); one image of that batch can be made again
alone from its PNG; `diffusers:<name>` still means diffusers' scheduler, and images sdkit 0.5 made with
an id on diffusers come back there. Which numbers ComfyUI's own code gives is tests/sampling's and
tests/engines/test_comfyui_sampling.py's part.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from cli_helpers import generate_images, run_sdkit
from PIL import Image

from sdkit.outputs.infotext import parse_infotext

PROMPT = "a red circle on a blue background"


def generate(capsys, out: Path, *args: str) -> list[tuple[np.ndarray, dict, Path]]:
    return generate_images(capsys, out, *args, prompt=PROMPT)


def from_image(capsys, image: Path, out: Path, *args: str) -> tuple[np.ndarray, dict]:
    result = run_sdkit(capsys, "generate", "--from-image", str(image), "--output-dir", str(out), *args, "--json")
    assert result.exit_code == 0, result.output
    [made] = json.loads(result.stdout)["images"]
    with Image.open(made["path"]) as png:
        return np.asarray(png.convert("RGB")), parse_infotext(png.text["parameters"]).fields


def levels(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(int) - b.astype(int)).max())


def test_a_comfyui_batch_shares_its_seed_and_each_image_comes_back_alone(capsys, tmp_path):
    batch = generate(capsys, tmp_path / "batch", "--sampler", "euler_ancestral", "--batch-size", "2",
                     "--batch-count", "2")
    assert [fields["Seed"] for _, fields, _ in batch] == ["9", "9", "11", "11"]  # batch b at seed + b·size
    assert [fields["ComfyUI batch index"] for _, fields, _ in batch] == ["0", "1", "0", "1"]
    assert {fields["ComfyUI batch size"] for _, fields, _ in batch} == {"2"}
    assert {(fields["ComfyUI sampler"], fields["ComfyUI scheduler"]) for _, fields, _ in batch} == {
        ("euler_ancestral", "normal")}
    assert batch[0][1]["Sampler"] == "Euler a" and batch[0][1]["Schedule type"] == "Normal"
    assert "Diffusers scheduler" not in batch[0][1]
    assert not np.array_equal(batch[0][0], batch[1][0])

    # Image 1 of the first batch, alone: the noise of place 1 of a batch of 2 (the UNet's batched CPU
    # arithmetic may move a pixel by one level).
    again, fields = from_image(capsys, batch[1][2], tmp_path / "again")
    assert levels(again, batch[1][0]) <= 1
    assert (fields["ComfyUI batch index"], fields["ComfyUI batch size"], fields["Seed"]) == ("1", "2", "9")
    # Seed 9 alone is a batch of one: its initial noise is image 0's, but Euler a's per-step noise is drawn
    # for the whole batch from one generator, so in ComfyUI it is another picture; hence the recorded size.
    [(alone, alone_fields, _)] = generate(capsys, tmp_path / "alone", "--sampler", "euler_ancestral")
    assert levels(alone, batch[0][0]) > 1 and "ComfyUI batch index" not in alone_fields
    first_again, _ = from_image(capsys, batch[0][2], tmp_path / "first-again")
    assert levels(first_again, batch[0][0]) <= 1


def test_without_per_step_noise_image_0_of_a_comfyui_batch_is_its_seed_alone(capsys, tmp_path):
    batch = generate(capsys, tmp_path / "batch", "--sampler", "euler", "--batch-size", "2")
    [(alone, _, _)] = generate(capsys, tmp_path / "alone", "--sampler", "euler")
    assert levels(alone, batch[0][0]) <= 1 and levels(alone, batch[1][0]) > 1


def test_comfyui_a1111_and_diffusers_names_are_three_computations(capsys, tmp_path):
    [(comfyui, comfyui_fields, _)] = generate(capsys, tmp_path / "c", "--sampler", "dpmpp_2m", "--schedule", "karras")
    [(a1111, a1111_fields, _)] = generate(capsys, tmp_path / "a", "--sampler", "DPM++ 2M Karras")
    [(diffusers, diffusers_fields, diffusers_path)] = generate(capsys, tmp_path / "d", "--sampler",
                                                               "diffusers:dpmpp_2m", "--schedule", "karras")
    assert comfyui_fields["ComfyUI sampler"] == "dpmpp_2m" and "ComfyUI sampler" not in a1111_fields
    assert diffusers_fields["Diffusers scheduler"] == "DPMSolverMultistepScheduler"
    # ComfyUI starts txt2img at noise·sqrt(1 + σ₀²), A1111 at noise·σ₀: different pictures of one seed.
    assert not np.array_equal(comfyui, a1111) and not np.array_equal(comfyui, diffusers)
    again, fields = from_image(capsys, diffusers_path, tmp_path / "again")
    assert np.array_equal(again, diffusers) and fields["Diffusers scheduler"] == "DPMSolverMultistepScheduler"


def test_comfyui_names_refuse_nv_noise_and_a_place_outside_the_batch(capsys, tmp_path):
    nv = run_sdkit(capsys, "generate", "--sampler", "euler", "--rng", "nv", "--steps", "2", "-W", "64", "-H", "64",
                   "--output-dir", str(tmp_path / "nv"))
    assert nv.exit_code == 2 and "ComfyUI draws its noise on the CPU" in nv.stderr
    assert "name the sampler as A1111 does" in nv.stderr and "Traceback" not in nv.output
    assert not (tmp_path / "nv").exists() or not list((tmp_path / "nv").glob("*.png"))

    (_, _, path), _ = generate(capsys, tmp_path / "made", "--sampler", "euler", "--batch-size", "2")
    with Image.open(path) as png:
        text = png.text["parameters"].replace("ComfyUI batch index: 0", "ComfyUI batch index: 5")
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("parameters", text)
    Image.new("RGB", (64, 64)).save(tmp_path / "edited.png", pnginfo=info)
    result = run_sdkit(capsys, "generate", "--from-image", str(tmp_path / "edited.png"), "--dry-run")
    assert result.exit_code == 2 and "comfyui_batch_index" in result.stderr


def test_a_comfyui_hires_fix_comes_back_and_a_pass_named_otherwise_says_so(capsys, tmp_path):
    hires = ("--hires-scale", "2", "--hires-steps", "2", "--hires-denoise", "0.5")
    [(image, fields, path)] = generate(capsys, tmp_path / "made", "--sampler", "euler", *hires)
    assert image.shape == (128, 128, 3) and fields["ComfyUI sampler"] == "euler"
    assert "Hires sampler" not in fields and "Diffusers hires scheduler" not in fields  # as the first pass
    again, _ = from_image(capsys, path, tmp_path / "again")
    assert np.array_equal(again, image)
    # A ComfyUI first pass and an A1111 hires pass with the same label: the PNG tells them apart. (Euler a:
    # ComfyUI reseeds its step noise, A1111 continues the image's generator, so the pictures differ.)
    [(comfyui, _, _)] = generate(capsys, tmp_path / "comfyui", "--sampler", "euler_ancestral", *hires)
    [(mixed, mixed_fields, mixed_path)] = generate(capsys, tmp_path / "mixed", "--sampler", "euler_ancestral",
                                                   *hires, "--hires-sampler", "Euler a")
    assert mixed_fields["Hires sampler"] == "Euler a" and mixed_fields["ComfyUI sampler"] == "euler_ancestral"
    assert not np.array_equal(mixed, comfyui)
    mixed_again, _ = from_image(capsys, mixed_path, tmp_path / "mixed-again")
    assert np.array_equal(mixed_again, mixed)
