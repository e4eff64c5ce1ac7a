"""The bundled demo model through `sdkit generate`: what the README's first command makes, every sampler,
img2img and inpaint, read back by the pixel evaluator. A regression in an engine, a sampler or a task
shows up here as wrong colours or shapes, which random-weight models cannot show."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from cli_helpers import run_sdkit
from PIL import Image

from sdkit.demo.evaluate import read_image
from sdkit.demo.shapes import Combo, draw_at

SAMPLE = [Combo("red", "circle", "blue"), Combo("yellow", "square", "purple"), Combo("white", "triangle", "green")]
# Five prompts for the per-sampler target (80 % of five is four): the three above and two held-out ones.
SAMPLER_SAMPLE = [*SAMPLE, Combo("green", "triangle", "purple"), Combo("black", "circle", "white")]


def generate(capsys, out: Path, *args: str) -> list[Path]:
    result = run_sdkit(capsys, "generate", *args, "--output-dir", str(out), "--json")
    assert result.exit_code == 0, result.output
    return [Path(image["path"]) for image in json.loads(result.stdout)["images"]]


def reading(path: Path):
    with Image.open(path) as image:
        return read_image(image.convert("RGB"))


def test_the_readme_command_draws_the_prompted_picture(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_sdkit(capsys, "generate", "--preset", "txt2img/basic", "--seed", "1")
    assert result.exit_code == 0, result.output
    assert "bundled demo model" in result.stderr
    [path] = (tmp_path / "outputs" / "txt2img").glob("*.png")
    seen = reading(path)
    assert (seen.background, seen.colour, seen.shape) == ("blue", "red", "circle")


def test_every_supported_sampler_paints_the_prompted_colours(capsys, tmp_path):
    """Issue 5's sampler target: at the preset's 20 steps (and the model's recommended CFG), each sampler
    gets at least 80 % of the backgrounds and, separately, of the shape colours right. A sampler mapped onto
    the wrong scheduler, schedule, prediction type or noise loses colours here. LCM is left out: it samples
    only models distilled for it (sdkit's lcm mode), which the demo model is not."""
    from sdkit.samplers import sampler_table

    specs = sorted((spec for spec in sampler_table().samplers.values() if spec.supported and spec.id != "lcm"),
                   key=lambda spec: spec.id)
    shares = {}
    for spec in specs:
        readings = []
        for index, combo in enumerate(SAMPLER_SAMPLE):
            [path] = generate(capsys, tmp_path / spec.id, "--prompt", combo.caption,
                              "--sampler", "diffusers:" + spec.id, "--steps", "20", "--seed", str(index))
            readings.append((reading(path), combo))
        shares[spec.id] = {
            "background": np.mean([seen.background == combo.background for seen, combo in readings]),
            "colour": np.mean([seen.colour == combo.colour for seen, combo in readings])}
    assert len(shares) >= 16
    assert not {sampler: share for sampler, share in shares.items() if min(share.values()) < 0.8}, shares


def test_inpaint_changes_the_masked_area_and_leaves_the_rest(capsys, tmp_path):
    source = tmp_path / "in.png"
    draw_at(Combo("red", "square", "blue"), 16, 16, 32).save(source)
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (12, 12, 52, 52))
    mask.save(tmp_path / "mask.png")
    [result] = generate(capsys, tmp_path / "out", "--image", str(source), "--mask", str(tmp_path / "mask.png"),
                        "--prompt", "a yellow square on a blue background", "--seed", "5", "--mask-blur", "2")
    before = np.asarray(Image.open(source).convert("RGB"), dtype=np.int16)
    after = np.asarray(Image.open(result).convert("RGB"), dtype=np.int16)
    outside = np.ones((64, 64), dtype=bool)
    outside[6:58, 6:58] = False  # the mask plus its feathered border
    assert np.abs(after - before)[outside].mean() < 12  # the rest is kept
    assert np.abs(after - before)[16:48, 16:48].mean() > 30  # the masked square was repainted
