"""The SD engines read prompts in A1111's language, through `sdkit generate` on the bundled demo model."""

from __future__ import annotations

import json

import numpy as np
from cli_helpers import run_sdkit
from PIL import Image

from sdkit.outputs.infotext import read_infotext


def make(capsys, tmp_path, name, *args):
    result = run_sdkit(capsys, "generate", *args, "--seed", "21", "--steps", "6", "-o", str(tmp_path / name), "--json")
    assert result.exit_code == 0, result.output
    [image] = json.loads(result.stdout)["images"]
    return image["path"], result


def pixels(path):
    with Image.open(path) as image:
        return np.asarray(image).copy()


def test_weights_and_brackets_change_the_image_escapes_and_weight_one_do_not(capsys, tmp_path):
    plain, _ = make(capsys, tmp_path, "plain", "a red circle on a blue background")
    weighted, _ = make(capsys, tmp_path, "weighted", "a (red:1.6) circle on a blue background")
    same_weight, _ = make(capsys, tmp_path, "one", "a (red:1) circle on a blue background")
    assert not np.array_equal(pixels(plain), pixels(weighted))
    assert np.array_equal(pixels(plain), pixels(same_weight))  # weight 1 is the plain prompt, bit for bit


def test_prompt_editing_switches_the_text_during_sampling(capsys, tmp_path):
    red, _ = make(capsys, tmp_path, "red", "a red circle on a blue background")
    blue, _ = make(capsys, tmp_path, "blue", "a blue circle on a blue background")
    switched, _ = make(capsys, tmp_path, "switched", "a [red:blue:3] circle on a blue background")
    assert not np.array_equal(pixels(switched), pixels(red)) and not np.array_equal(pixels(switched), pixels(blue))
    late, _ = make(capsys, tmp_path, "late", "a [red:blue:6] circle on a blue background")
    assert np.array_equal(pixels(late), pixels(red))  # switching after the last step is the first text throughout


def test_a_non_default_emphasis_is_recorded_and_recalled(capsys, tmp_path):
    path, _ = make(capsys, tmp_path, "nonorm", "a (red:1.4) circle", "--emphasis", "no-norm")
    assert read_infotext(path).fields["Emphasis"] == "No norm"
    again, _ = make(capsys, tmp_path, "again", "--from-image", path)
    assert np.array_equal(pixels(path), pixels(again)) and read_infotext(again).fields["Emphasis"] == "No norm"
    default, _ = make(capsys, tmp_path, "default", "a (red:1.4) circle")
    assert "Emphasis" not in read_infotext(default).fields


def test_lora_tags_in_the_negative_prompt_are_removed_with_a_warning_and_kept_in_the_infotext(capsys, tmp_path):
    # (LoRAs in the prompt itself: tests/engines/test_loras.py)
    tagged, result = make(capsys, tmp_path, "tagged", "a red circle", "-n", "blurry <lora:detail:0.7>")
    plain, _ = make(capsys, tmp_path, "plain", "a red circle", "-n", "blurry ")
    assert "<lora:detail:0.7> in the negative prompt" in result.stderr
    assert np.array_equal(pixels(tagged), pixels(plain))
    assert read_infotext(tagged).negative_prompt == "blurry <lora:detail:0.7>"


def test_a_long_prompt_with_break_is_encoded_in_chunks(capsys, tmp_path):
    long, _ = make(capsys, tmp_path, "long", "a red circle BREAK on a blue background, " * 3)
    assert pixels(long).shape == (64, 64, 3)
