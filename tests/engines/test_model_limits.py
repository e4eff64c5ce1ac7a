"""Values inside sdkit's general ranges but outside a loaded model's own limits end in exit 2, not a crash.

Through the CLI on tiny models: their schedulers have 1000 training timesteps (as every SD model's) and
their text encoders 2 layers each, so `--clip-skip 5` passes sdkit's 1..12 rule but not the model.
Each refusal names the range this model allows, writes nothing and is logged; the value at the edge of
the range still makes an image, so the checks refuse only what would have crashed.
"""

from __future__ import annotations

import pytest
from cli_helpers import run_sdkit
from PIL import Image

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # numpy 2 notes from inside diffusers


@pytest.fixture
def inputs(tmp_path):
    Image.new("RGB", (64, 64), (200, 30, 30)).save(tmp_path / "in.png")
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (16, 16, 48, 48))
    mask.save(tmp_path / "mask.png")
    return tmp_path


def generate(capsys, model, out_dir, *args):
    return run_sdkit(capsys, "generate", "--model", str(model), "--prompt", "a red fox", "-W", "64", "-H", "64",
                     "--seed", "1", "-o", str(out_dir), *args)


def assert_refused(result, out_dir, sdkit_home, *words):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "sdkit failed" not in result.output
    for word in words:
        assert word in result.output
    assert "hint:" in result.output
    assert not out_dir.exists() or not any(out_dir.iterdir()), "nothing may be written"
    log_text = (sdkit_home / "logs" / "sdkit.log").read_text(encoding="utf-8")
    assert words[0] in log_text


def test_steps_beyond_the_training_timesteps_are_refused(capsys, tiny_pipeline_dir, tmp_path, sdkit_home):
    out_dir = tmp_path / "out"
    result = generate(capsys, tiny_pipeline_dir("sd1"), out_dir, "--steps", "1001")
    assert_refused(result, out_dir, sdkit_home, "steps=1001", "allows 1..1000", "--steps 1000")


def test_lcm_steps_beyond_its_distilled_schedule_are_refused(capsys, tiny_pipeline_dir, tmp_path, sdkit_home):
    out_dir = tmp_path / "out"
    result = generate(capsys, tiny_pipeline_dir("sd1"), out_dir, "--sampler", "diffusers:lcm", "--steps", "60")
    assert_refused(result, out_dir, sdkit_home, "steps=60", "LCMScheduler", "allows 1..50")


@pytest.mark.parametrize("family,too_many,allowed", [("sd1", 5, "1..3"), ("sdxl", 3, "1..2")])
def test_clip_skip_beyond_the_text_encoder_is_refused(capsys, tiny_pipeline_dir, tmp_path, sdkit_home,
                                                      family, too_many, allowed):
    out_dir = tmp_path / "out"
    result = generate(capsys, tiny_pipeline_dir(family), out_dir, "--steps", "2", "--clip-skip", str(too_many))
    assert_refused(result, out_dir, sdkit_home, f"clip_skip={too_many}", "2 layers", f"clip skip can be {allowed}")


@pytest.mark.parametrize("family,edge", [("sd1", 3), ("sdxl", 2)])
def test_clip_skip_at_the_edge_still_draws(capsys, tiny_pipeline_dir, tmp_path, family, edge):
    result = generate(capsys, tiny_pipeline_dir(family), tmp_path / "out", "--steps", "2", "--clip-skip", str(edge))
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "out").glob("*.png"))) == 1


@pytest.mark.parametrize("task_args,strength,task", [((), "0.01", "img2img"), (("--mask",), "0.19", "inpaint")])
def test_strength_times_steps_below_one_is_refused(capsys, tiny_pipeline_dir, inputs, sdkit_home, task_args,
                                                   strength, task):
    out_dir = inputs / "out"
    extra = [str(inputs / "mask.png")] if task_args else []
    result = generate(capsys, tiny_pipeline_dir("sd1"), out_dir, "--image", str(inputs / "in.png"), *task_args,
                      *extra, "--strength", strength, "--steps", "5")
    assert_refused(result, out_dir, sdkit_home, f"strength={strength} with steps=5", f"{task} runs steps × strength",
                   "--strength to 0.2 or more")


def test_one_denoising_step_still_draws(capsys, tiny_pipeline_dir, inputs):
    result = generate(capsys, tiny_pipeline_dir("sd1"), inputs / "out", "--image", str(inputs / "in.png"),
                      "--mask", str(inputs / "mask.png"), "--strength", "0.2", "--steps", "5")
    assert result.exit_code == 0, result.output
    assert len(list((inputs / "out").glob("*.png"))) == 1


@pytest.mark.parametrize("sampler", ["automatic", "diffusers:ddim"])
def test_1000_leading_steps_past_the_last_timestep_are_refused(capsys, tiny_pipeline_dir, tmp_path, sdkit_home,
                                                               sampler):
    """The tiny SD 1.x model's own DDIM config (leading spacing, steps_offset 1) reaches timestep 1000 at 1000 steps."""
    out_dir = tmp_path / "out"
    result = generate(capsys, tiny_pipeline_dir("sd1"), out_dir, "--sampler", sampler, "--steps", "1000")
    assert_refused(result, out_dir, sdkit_home, "steps=1000", "allows 1..999", "past the model's last (999)")


@pytest.mark.parametrize("sampler", ["diffusers:dpmpp_2m", "uni_pc"])
def test_a_beta_schedule_that_repeats_its_first_timestep_is_refused(capsys, tiny_pipeline_dir, tmp_path, sdkit_home,
                                                                     sampler):
    """From 32 steps on, Beta's first two timesteps round to one: diffusers' multistep samplers then crash."""
    out_dir = tmp_path / "out"
    result = generate(capsys, tiny_pipeline_dir("sd1"), out_dir, "--sampler", sampler, "--schedule", "beta",
                      "--steps", "40")
    assert_refused(result, out_dir, sdkit_home, "steps=40", "schedule type 'Beta' allows 1..31", "--steps 31")


def test_the_most_beta_steps_still_draw_and_img2img_is_not_refused(capsys, tiny_pipeline_dir, inputs):
    model = tiny_pipeline_dir("sd1")
    txt2img = generate(capsys, model, inputs / "txt2img", "--sampler", "diffusers:dpmpp_2m", "--schedule", "beta",
                       "--steps", "31")
    assert txt2img.exit_code == 0, txt2img.output
    # img2img starts at a step index the pipeline sets, so the repeated timestep does no harm there.
    img2img = generate(capsys, model, inputs / "img2img", "--image", str(inputs / "in.png"), "--strength", "1",
                       "--sampler", "diffusers:dpmpp_2m", "--schedule", "beta", "--steps", "40")
    assert img2img.exit_code == 0, img2img.output
