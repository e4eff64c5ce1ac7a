"""`generate --dry-run` refuses what the run would refuse on the model, without loading it."""

from __future__ import annotations

from cli_helpers import run_sdkit
from PIL import Image


def test_dry_run_refuses_the_models_step_and_strength_limits(capsys, tmp_path):
    image = tmp_path / "red.png"
    Image.new("RGB", (64, 64), "red").save(image)
    too_many = run_sdkit(capsys, "generate", "--steps", "100000", "--sampler", "diffusers:dpmpp_2m", "--dry-run")
    assert too_many.exit_code == 2 and "steps=100000" in too_many.stderr and "allows 1..1000" in too_many.stderr
    no_step_left = run_sdkit(capsys, "generate", "--image", str(image), "--strength", "0.05", "--steps", "10",
                             "--sampler", "diffusers:dpmpp_2m", "--dry-run")
    assert no_step_left.exit_code == 2 and "leaves no step to run" in no_step_left.stderr
    # A1111's sampling always runs at least one img2img step (int(strength·steps) + 1): nothing to refuse.
    a1111 = run_sdkit(capsys, "generate", "--image", str(image), "--strength", "0.05", "--steps", "10",
                      "--sampler", "Euler", "--dry-run")
    assert a1111.exit_code == 0, a1111.output


def test_an_unknown_device_fails_the_dry_run(capsys):
    result = run_sdkit(capsys, "generate", "--device", "tpu", "--dry-run")
    assert result.exit_code == 2 and "device='tpu'" in result.stderr
