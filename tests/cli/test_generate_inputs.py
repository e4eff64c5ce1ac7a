"""`sdkit generate` given awkward input: each case ends in one message that names the thing, and nothing lost."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest
from cli_helpers import run_sdkit
from PIL import Image

FAST = ["--steps", "1", "--width", "64", "--height", "64", "--seed", "1"]


def flat(text: str) -> str:
    """Console output with the terminal's line wrapping undone."""
    return " ".join(text.split())


def test_a_positional_prompt_is_the_prompt(capsys, tiny_pipeline_dir):
    result = run_sdkit(capsys, "generate", "a fox", "--model", str(tiny_pipeline_dir("sd1")), "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["params"]["prompt"] == "a fox"


def test_a_prompt_given_twice_is_refused(capsys, tmp_path):
    result = run_sdkit(capsys, "generate", "a fox", "--prompt", "a cat", "--dry-run")
    assert result.exit_code == 2
    assert "twice" in result.stderr and "hint:" in result.stderr


def test_an_empty_output_folder_is_refused(capsys, tmp_path, monkeypatch, tiny_pipeline_dir):
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    result = run_sdkit(capsys, "generate", "--model", str(tiny_pipeline_dir("sd1")), *FAST, "-o", "")
    assert result.exit_code == 2
    assert "output folder is empty" in result.stderr and "hint:" in result.stderr
    assert list(here.iterdir()) == []


@pytest.mark.parametrize("role", ["image", "mask"])
def test_the_dry_run_opens_the_input_image_and_mask(capsys, tmp_path, tiny_pipeline_dir, role):
    good = tmp_path / "good.png"
    Image.new("RGB", (64, 64), "grey").save(good)
    broken = tmp_path / "broken.png"
    broken.write_bytes(good.read_bytes()[:60])  # a PNG cut short: its header reads, its pixels do not
    files = {"image": good, "mask": good, role: broken}
    result = run_sdkit(capsys, "generate", "--model", str(tiny_pipeline_dir("sd1")), "--image", str(files["image"]),
                       "--mask", str(files["mask"]), "--dry-run")
    assert result.exit_code == 2, result.output
    assert str(broken) in flat(result.stderr) and ("mask" in result.stderr) == (role == "mask")


def test_a_tiny_input_image_is_named_as_the_source_of_the_size(capsys, tmp_path, tiny_pipeline_dir):
    dot = tmp_path / "dot.png"
    Image.new("RGB", (1, 1)).save(dot)
    result = run_sdkit(capsys, "generate", "--model", str(tiny_pipeline_dir("sd1")), "--image", str(dot), "--dry-run")
    assert result.exit_code == 2
    message = flat(result.stderr)
    assert "width=8" in message and str(dot) in message and "1x1" in message and "-W" in message


@pytest.mark.parametrize("field", ["prompt", "negative_prompt"])
def test_control_characters_a_png_cannot_store_are_refused(capsys, tmp_path, tiny_pipeline_dir, field):
    preset = tmp_path / "nul.yaml"
    preset.write_text(f'schema_version: 1\ntask: txt2img\nparams:\n  {field}: "a\\0b"\n')
    result = run_sdkit(capsys, "generate", "--preset", str(preset), "--model", str(tiny_pipeline_dir("sd1")),
                       "--dry-run")
    assert result.exit_code == 2, result.output
    message = flat(result.stderr)
    assert f"nul.yaml:4: params.{field}:" in message and "U+0000" in message and "cannot store" in message


def test_escape_sequences_and_undecodable_bytes_in_a_prompt_are_refused(capsys, tiny_pipeline_dir):
    model = str(tiny_pipeline_dir("sd1"))
    for text in ("red \x1b[31malert", "caf\udce9"):  # ESC; a Latin-1 byte that the command line could not decode
        result = run_sdkit(capsys, "generate", "--prompt", text, "--model", model, "--dry-run")
        assert result.exit_code == 2, result.output
        assert "prompt=" in result.stderr and "\x1b" not in result.stderr
    tabbed = run_sdkit(capsys, "generate", "--prompt", "a\tfox\nat night", "--model", model, "--dry-run")
    assert tabbed.exit_code == 0, tabbed.output


def test_a_full_disk_names_the_folder_and_the_images_kept(capsys, tmp_path, monkeypatch, tiny_pipeline_dir):
    import sdkit.run.execute as execute

    real_write_png = execute.write_png
    written: list[Path] = []

    def fills_up_after_one(folder, label, image, pnginfo=None):
        if written:
            raise OSError(errno.ENOSPC, "No space left on device")
        written.append(real_write_png(folder, label, image, pnginfo))
        return written[-1]

    monkeypatch.setattr(execute, "write_png", fills_up_after_one)
    out = tmp_path / "out"
    result = run_sdkit(capsys, "generate", "--model", str(tiny_pipeline_dir("sd1")), *FAST, "--batch-count", "3",
                       "--output-dir", str(out))
    assert result.exit_code == 1
    message = flat(result.stderr)
    assert f"the disk holding the output folder {out} is full" in message
    assert "kept 1 image(s) there: 00000-1.png" in message and "hint: free some space" in message
    assert "OSError" not in message and "Traceback" not in result.output
    assert [path.name for path in out.iterdir()] == ["00000-1.png"]
