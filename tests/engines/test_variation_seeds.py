"""A1111's variation seeds and "seed resize from" through `sdkit generate`, on the demo model.

What an A1111 user relies on: every image of a variation batch keeps the seed and records its own
variation seed; an image of the batch is the same picture made alone with that variation seed; strength 0
is the plain image; the fields go into the infotext and come back with `--from-image`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import generate_images, run_sdkit
from PIL import Image

PROMPT = "a red circle on a blue background"


def generate(capsys, out: Path, *args: str) -> list[tuple[np.ndarray, dict, Path]]:
    return generate_images(capsys, out, *args, prompt=PROMPT)


def close(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal up to the one level that the UNet's batched CPU arithmetic can move a pixel."""
    return int(np.abs(a.astype(int) - b.astype(int)).max()) <= 1


@pytest.mark.parametrize("sampler", ["Euler a", "diffusers:euler"])  # A1111's sampling, and a diffusers scheduler
def test_a_variation_batch_keeps_the_seed_and_moves_the_variation_seed(capsys, tmp_path, sampler):
    variation = ("--sampler", sampler, "--variation-seed", "100", "--variation-strength", "0.3")
    batch = generate(capsys, tmp_path / "batch", *variation, "--batch-size", "2")
    assert [fields["Seed"] for _, fields, _ in batch] == ["9", "9"]
    assert [fields["Variation seed"] for _, fields, _ in batch] == ["100", "101"]
    assert batch[0][1]["Variation seed strength"] == "0.3"
    [(alone, _, _)] = generate(capsys, tmp_path / "alone", "--sampler", sampler, "--variation-seed", "101",
                               "--variation-strength", "0.3")
    assert close(batch[1][0], alone)
    [(plain, plain_fields, _)] = generate(capsys, tmp_path / "plain", "--sampler", sampler)
    assert not close(batch[0][0], plain) and not close(batch[0][0], batch[1][0])
    assert "Variation seed" not in plain_fields
    [(zero, zero_fields, _)] = generate(capsys, tmp_path / "zero", "--sampler", sampler, "--variation-seed", "100",
                                        "--variation-strength", "0")
    assert np.array_equal(zero, plain) and "Variation seed" not in zero_fields


def test_variation_and_seed_resize_come_back_with_from_image(capsys, tmp_path):
    [(made, fields, path)] = generate(capsys, tmp_path / "made", "--sampler", "DPM++ 2M", "--variation-seed", "55",
                                      "--variation-strength", "0.5", "--seed-resize-from", "32x32")
    assert fields["Seed resize from"] == "32x32"
    [(plain_resize, _, _)] = generate(capsys, tmp_path / "resize", "--sampler", "DPM++ 2M",
                                      "--seed-resize-from", "32x32")
    [(plain, _, _)] = generate(capsys, tmp_path / "plain", "--sampler", "DPM++ 2M")
    assert not np.array_equal(plain_resize, plain)
    result = run_sdkit(capsys, "generate", "--from-image", str(path), "--output-dir", str(tmp_path / "again"),
                       "--json")
    assert result.exit_code == 0, result.output
    [again] = json.loads(result.stdout)["images"]
    assert np.array_equal(np.asarray(Image.open(again["path"]).convert("RGB")), made)


def test_a_drawn_variation_seed_is_recorded(capsys, tmp_path):
    [(_, fields, _)] = generate(capsys, tmp_path / "drawn", "--variation-strength", "0.2")
    assert 0 <= int(fields["Variation seed"]) < 2**32


@pytest.mark.parametrize("flags,named", [
    (("--variation-strength", "1.5"), "variation_strength"),
    (("--variation-seed", "-2", "--variation-strength", "0.1"), "variation_seed"),
    (("--seed-resize-from", "big"), "--seed-resize-from"),
    (("--seed-resize-from", "0x512"), "--seed-resize-from"),
])
def test_bad_variation_values_are_refused_with_a_hint(capsys, flags, named):
    result = run_sdkit(capsys, "generate", "--prompt", PROMPT, *flags, "--dry-run")
    assert result.exit_code == 2
    assert named in result.output and "hint:" in result.output
