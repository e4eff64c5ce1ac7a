"""Unreadable model files are named with what was expected, and never hide the rest of the models folder."""

from __future__ import annotations

import json
import shutil
import struct

import pytest
from cli_helpers import run_sdkit


def flat(text: str) -> str:
    """Text without whitespace: the console wraps long messages (and folds long paths) at its width."""
    return "".join(text.split())


def _safetensors(path, header: dict, data: bytes = b"\0" * 16):
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    return path


BAD_HEADERS = {
    "offsets-not-numbers": ({"a": {"dtype": "F32", "shape": [1], "data_offsets": ["zz", "zz"]}}, "data_offsets"),
    "offsets-as-text": ({"a": {"dtype": "F32", "shape": [1], "data_offsets": ["0", "4"]}}, "data_offsets"),
    "offsets-backwards": ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [8, 4]}}, "end before they begin"),
    "offsets-negative": ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [-4, 4]}}, "data_offsets"),
    "shape-not-numbers": ({"a": {"dtype": "F32", "shape": ["x"], "data_offsets": [0, 4]}}, "shape"),
    "shape-floats": ({"a": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 4]}}, "shape"),
    "size-mismatch": ({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 4]}}, "do not hold"),
    "entry-not-a-table": ({"a": [1, 2, 3]}, "not a description of a tensor"),
    "dtype-missing": ({"a": {"shape": [1], "data_offsets": [0, 4]}}, "dtype"),
}


@pytest.mark.parametrize("case", sorted(BAD_HEADERS))
def test_a_safetensors_file_with_a_bad_header_is_named_with_what_was_expected(tmp_path, capsys, case):
    header, words = BAD_HEADERS[case]
    path = _safetensors(tmp_path / f"{case}.safetensors", header)
    for command in (("models", "show", str(path)),
                    ("generate", "--model", str(path), "--prompt", "x", "--dry-run")):
        result = run_sdkit(capsys, *command)
        assert result.exit_code == 2, (command, result.output)
        assert "Traceback" not in result.output and "sdkit failed" not in result.output
        assert flat(str(path)) in flat(result.stderr) and flat(words) in flat(result.stderr)
        assert flat("expected a .safetensors checkpoint") in flat(result.stderr)


def test_a_text_file_named_ckpt_is_named_as_a_text_file(tmp_path, capsys):
    path = tmp_path / "notes.ckpt"
    path.write_text("my favourite prompts\n" * 40, encoding="utf-8")
    result = run_sdkit(capsys, "models", "show", str(path))
    assert result.exit_code == 2, result.output
    assert "KeyError" not in result.output and "Traceback" not in result.output
    assert flat(str(path)) in flat(result.stderr) and "text file" in result.stderr
    assert flat("expected a PyTorch checkpoint") in flat(result.stderr)


def _folder_with_broken_files(models_dir, tiny_single_file):
    good = tiny_single_file("sd1")
    shutil.copy(good, models_dir / "good.safetensors")
    shutil.copytree(good.with_name(good.stem + ".config"), models_dir / "good.config")
    _safetensors(models_dir / "bad-offsets.safetensors", BAD_HEADERS["offsets-not-numbers"][0])
    (models_dir / "notes.ckpt").write_text("not weights\n" * 40, encoding="utf-8")


def test_models_list_shows_unreadable_files_and_lists_the_rest(models_dir, tiny_single_file, capsys):
    _folder_with_broken_files(models_dir, tiny_single_file)
    result = run_sdkit(capsys, "models", "list", "--no-hash")
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output and "sdkit failed" not in result.output
    rows = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip()}
    assert "sd1" in rows["good"]
    assert "unreadable" in rows["bad-offsets"] and "unreadable" in rows["notes"]
    stderr = flat(result.stderr)
    assert flat(f"{models_dir / 'bad-offsets.safetensors'}") in stderr and "data_offsets" in stderr
    assert flat(f"{models_dir / 'notes.ckpt'}") in stderr and "textfile" in stderr


def test_models_list_json_flags_unreadable_files_with_the_reason(models_dir, tiny_single_file, capsys):
    _folder_with_broken_files(models_dir, tiny_single_file)
    result = run_sdkit(capsys, "models", "list", "--json", "--no-hash")
    assert result.exit_code == 0, result.output
    records = {record["name"]: record for record in json.loads(result.stdout)}
    assert set(records) == {"good", "bad-offsets", "notes"}
    assert records["good"]["unreadable"] is False and records["good"]["family"] == "sd1"
    for name, words in (("bad-offsets", "data_offsets"), ("notes", "text file")):
        record = records[name]
        assert record["unreadable"] is True and record["family"] is None
        assert record["location"] in record["problem"] and words in record["problem"]
        assert record["hint"].startswith("expected ")


def test_a_reader_failure_on_one_file_does_not_stop_the_listing(models_dir, tiny_single_file, capsys, monkeypatch):
    """Whatever a hostile file makes a reader raise, the file is shown as unreadable and the rest listed."""
    from sdkit.models.sources import models_folder

    _folder_with_broken_files(models_dir, tiny_single_file)
    real = models_folder.describe_file

    def fragile(path, *args):
        if path.name == "notes.ckpt":
            raise IndexError("a corner no reader expected")
        return real(path, *args)

    monkeypatch.setattr(models_folder, "describe_file", fragile)
    result = run_sdkit(capsys, "models", "list", "--json", "--no-hash")
    assert result.exit_code == 0, result.output
    records = {record["name"]: record for record in json.loads(result.stdout)}
    assert records["good"]["unreadable"] is False
    assert records["notes"]["unreadable"] is True and "IndexError" in records["notes"]["problem"]


# ------------------------------------------------------------------ the models folder itself is wrong
def test_a_models_folder_that_is_a_file_is_named_in_a_warning(tmp_path, capsys, monkeypatch):
    not_a_folder = tmp_path / "models.txt"
    not_a_folder.write_text("oops", encoding="utf-8")
    monkeypatch.setenv("SDKIT_MODELS_DIR", str(not_a_folder))
    result = run_sdkit(capsys, "models", "list")
    assert result.exit_code == 0, result.output
    stderr = flat(result.stderr)
    assert "warning" in stderr and flat(str(not_a_folder)) in stderr and "isafile" in stderr
    assert "SDKIT_MODELS_DIR" in stderr
    as_json = run_sdkit(capsys, "models", "list", "--json")
    assert json.loads(as_json.stdout) == [] and flat(str(not_a_folder)) in flat(as_json.stderr)


def test_a_name_lookup_in_a_models_folder_that_is_a_file_is_refused(tmp_path, capsys, monkeypatch):
    not_a_folder = tmp_path / "models.txt"
    not_a_folder.write_text("oops", encoding="utf-8")
    monkeypatch.setenv("SDKIT_MODELS_DIR", str(not_a_folder))
    for command in (("models", "show", "dreamshaper_8"),
                    ("generate", "--model", "dreamshaper_8", "--prompt", "x", "--dry-run")):
        result = run_sdkit(capsys, *command)
        assert result.exit_code == 2, (command, result.output)
        stderr = flat(result.stderr)
        assert flat(str(not_a_folder)) in stderr and "isafile" in stderr and "SDKIT_MODELS_DIR" in stderr


def test_a_models_folder_from_the_config_that_is_a_file_names_the_config(tmp_path, capsys, monkeypatch, sdkit_home):
    from sdkit.runtime.paths import paths

    not_a_folder = tmp_path / "models.txt"
    not_a_folder.write_text("oops", encoding="utf-8")
    monkeypatch.delenv("SDKIT_MODELS_DIR")
    config = paths().config_file
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(f"models_dir: {not_a_folder}\n", encoding="utf-8")
    result = run_sdkit(capsys, "models", "show", "anything")
    assert result.exit_code == 2, result.output
    assert flat(str(not_a_folder)) in flat(result.stderr) and flat(str(config)) in flat(result.stderr)


def test_a_vae_name_in_a_models_folder_that_is_a_file_is_refused(tmp_path, capsys, monkeypatch, tiny_pipeline_dir):
    not_a_folder = tmp_path / "models.txt"
    not_a_folder.write_text("oops", encoding="utf-8")
    monkeypatch.setenv("SDKIT_MODELS_DIR", str(not_a_folder))
    result = run_sdkit(capsys, "generate", "--model", str(tiny_pipeline_dir("sd1")), "--vae", "vae-ft-mse",
                       "--prompt", "x", "--dry-run")
    assert result.exit_code == 2, result.output
    assert flat(str(not_a_folder)) in flat(result.stderr) and "isafile" in flat(result.stderr)
