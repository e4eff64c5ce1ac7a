"""Hostile presets: alias bombs, deep nesting, huge files and values end fast with exit 2 naming the file.

Presets come from other people (plugins, shared files), so reading one must be bounded in time, memory
and the length of every message, whatever the file holds. Each case goes through the real CLI.
"""

from __future__ import annotations

import json
import os
import time

import pytest
from cli_helpers import run_sdkit
from preset_helpers import write
from yaml_bombs import HEADER, list_bomb_as_prompt, mapping_bomb, merge_key_bomb

import sdkit.cli.app  # noqa: F401  (imported here, so the time bounds below measure the command only)
from sdkit.presets.yamlfile import MAX_PRESET_BYTES

# Well under a second: the bombs used to run for minutes.
TIME_LIMIT_S = 1.0


def timed(capsys, *args: str):
    started = time.perf_counter()
    result = run_sdkit(capsys, *args)
    return result, time.perf_counter() - started


def assert_refused(result, elapsed: float, path, *words: str) -> None:
    assert result.exit_code == 2, result.output[-2000:]
    assert "Traceback" not in result.output
    assert elapsed < TIME_LIMIT_S, f"took {elapsed:.2f} s"
    assert str(path) in result.output
    for word in words:
        assert word in result.output
    # Every line is short (the longest, a hint listing every parameter, has 425 characters): nothing
    # from the file is quoted at length.
    assert max(len(line) for line in result.output.splitlines()) < 600


@pytest.mark.parametrize("build", [mapping_bomb, list_bomb_as_prompt, merge_key_bomb])
def test_alias_bombs_are_refused_at_once_by_validate(capsys, tmp_path, build):
    path = write(tmp_path / "bomb.yaml", build())
    assert path.stat().st_size < 1000  # a few hundred bytes that would expand to billions of values
    result, elapsed = timed(capsys, "presets", "validate", str(path))
    assert_refused(result, elapsed, path, "invalid", "values, counting each alias", "1 of 1 preset is invalid")


@pytest.mark.parametrize("command", [("presets", "show"), ("generate", "--dry-run", "--preset")])
def test_a_list_bomb_prompt_is_refused_by_show_and_generate(capsys, tmp_path, command):
    path = write(tmp_path / "bomb.yaml", list_bomb_as_prompt())
    result, elapsed = timed(capsys, *command, str(path))
    assert_refused(result, elapsed, path, "error: invalid preset", "values, counting each alias")


def test_a_listed_bomb_is_shown_as_invalid_and_the_rest_are_listed(capsys, user_dir):
    write(user_dir / "txt2img" / "bomb.yaml", mapping_bomb())
    result, elapsed = timed(capsys, "presets", "list", "--json")
    assert result.exit_code == 0 and elapsed < TIME_LIMIT_S
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert "values, counting each alias" in rows["txt2img/bomb"]["error"]
    assert rows["txt2img/basic"]["error"] is None


def test_an_alias_inside_its_own_value_is_refused(capsys, tmp_path):
    path = write(tmp_path / "loop.yaml", HEADER + "params:\n  prompt: &a [*a]\n")
    result, elapsed = timed(capsys, "presets", "validate", str(path))
    assert_refused(result, elapsed, path, f"{path}:4", "the alias *a is used inside its own value")


BLOCK_NESTING = "".join(f"\n{'  ' * (level + 2)}k{level}:" for level in range(40))


@pytest.mark.parametrize("body", ["[" * 20_000, "{a: " * 20_000, BLOCK_NESTING])
def test_deep_nesting_is_refused_without_recursion_error(capsys, tmp_path, body):
    path = write(tmp_path / "deep.yaml", HEADER + "params:\n  prompt: " + body + "\n")
    result, elapsed = timed(capsys, "presets", "validate", str(path))
    assert_refused(result, elapsed, path, "levels deep")
    assert "RecursionError" not in result.output


def test_a_quarter_megabyte_preset_is_refused_before_it_is_parsed(capsys, tmp_path):
    # A valid preset of one long prompt: PyYAML's pure-Python scanner needs seconds per megabyte.
    path = write(tmp_path / "big.yaml", HEADER + "params:\n  prompt: \"" + "a " * (128 * 1024) + "\"\n")
    assert MAX_PRESET_BYTES < path.stat().st_size
    result, elapsed = timed(capsys, "presets", "validate", str(path))
    assert_refused(result, elapsed, path, f"larger than {MAX_PRESET_BYTES} bytes")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are a POSIX feature")
def test_a_named_pipe_is_refused_instead_of_blocking_the_read(capsys, tmp_path):
    path = tmp_path / "pipe.yaml"
    os.mkfifo(path)
    result, elapsed = timed(capsys, "presets", "validate", str(path))
    assert_refused(result, elapsed, path, "is not a regular file")


@pytest.mark.parametrize(("value", "words"), [
    ("1" * 5000, "is larger than any preset value can be"),  # Python refuses to parse it (4300 digits)
    ("0x" + "F" * 5000, "is larger than any preset value can be"),  # parses, but could never be printed
    ("2024-13-45", "'2024-13-45' cannot be read as a timestamp: month must be in 1..12"),
])
def test_values_python_cannot_build_are_refused_with_their_line(capsys, tmp_path, value, words):
    path = write(tmp_path / "odd.yaml", HEADER + f"params:\n  steps: {value}\n")
    for command in (("presets", "validate"), ("presets", "show")):
        result, elapsed = timed(capsys, *command, str(path))
        assert_refused(result, elapsed, path, f"{path}:4", words)


@pytest.mark.parametrize("text", [
    HEADER.replace("txt2img", "t" * 50_000),
    HEADER + "mode: " + "m" * 50_000 + "\n",
    HEADER.replace("1", '"' + "1" * 50_000 + '"'),
    HEADER + "params:\n  steps: " + "s" * 50_000 + "\n",
    HEADER + "params:\n  prompt: [" + ", ".join(["x" * 100] * 400) + "]\n",
    HEADER + "params:\n  ? " + "k" * 50_000 + "\n  : 1\n",
])
def test_values_quoted_in_messages_are_cut_short(capsys, tmp_path, text):
    path = write(tmp_path / "long.yaml", text)
    for command in (("presets", "validate"), ("generate", "--dry-run", "--preset")):
        result, elapsed = timed(capsys, *command, str(path))
        assert_refused(result, elapsed, path, "…")
        assert len(result.output) < 40_000


def test_an_engine_name_in_the_validate_note_is_cut_short(capsys, tmp_path):
    path = write(tmp_path / "engine.yaml", HEADER + "engine: " + "e" * 50_000 + "\n")
    result = run_sdkit(capsys, "presets", "validate", str(path))
    assert result.exit_code == 0
    assert "is not installed" in result.stdout and "e" * 100 not in result.stdout


@pytest.mark.parametrize("name", ["a" * 300, "a/" * 3000 + "b", "/tmp/" + "a" * 300 + ".yaml"])
def test_a_name_or_path_too_long_for_the_file_system_is_bad_input(capsys, name):
    result = run_sdkit(capsys, "presets", "show", name)
    assert result.exit_code == 2, result.output[-2000:]
    assert "Traceback" not in result.output and "OSError" not in result.output
    assert max(len(line) for line in result.output.splitlines()) < 600


def test_a_message_lists_the_first_problems_and_counts_the_rest(capsys, tmp_path, user_dir):
    text = HEADER + "".join(f"key{number}: 1\n" for number in range(200))
    path = write(tmp_path / "many.yaml", text)
    result, elapsed = timed(capsys, "generate", "--dry-run", "--preset", str(path))
    assert_refused(result, elapsed, path, "(200 problems)", "key19", "… and 180 more")
    assert "key20:" not in result.output
    # `presets validate` is where every problem is listed.
    result = run_sdkit(capsys, "presets", "validate", str(path))
    assert result.exit_code == 2 and "key199" in result.stdout
    write(user_dir / "txt2img" / "many.yaml", text)
    rows = {row["name"]: row for row in json.loads(run_sdkit(capsys, "presets", "list", "--json").stdout)}
    assert rows["txt2img/many"]["error"].endswith("; … and 180 more")


def test_ordinary_aliases_still_work(capsys, tmp_path):
    path = write(tmp_path / "aliases.yaml", HEADER + "params:\n  prompt: &text a lighthouse at dusk\n"
                                                     "  negative_prompt: *text\n")
    result = run_sdkit(capsys, "presets", "show", str(path), "--json")
    assert result.exit_code == 0, result.output
    params = json.loads(result.stdout)["params"]
    assert params == {"prompt": "a lighthouse at dusk", "negative_prompt": "a lighthouse at dusk"}
