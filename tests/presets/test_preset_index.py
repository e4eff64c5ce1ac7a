"""The preset index: reused while nothing changed, rebuilt when a file changes, never trusted when damaged.

Each test goes through the real `sdkit presets ...` commands and reads the index file they leave in the
private SDKIT_HOME's cache folder.
"""

from __future__ import annotations

import json
import os

from cli_helpers import run_sdkit
from preset_helpers import write

from sdkit.presets.index import PresetIndex, code_fingerprint, index_path

PRESET = """\
schema_version: 1
task: txt2img
description: {description}
params:
  steps: {steps}
"""


def listed(capsys) -> dict[str, dict]:
    result = run_sdkit(capsys, "presets", "list", "--json")
    assert result.exit_code == 0, result.output
    return {row["name"]: row for row in json.loads(result.stdout)}


def index_entries() -> dict[str, dict]:
    return json.loads(index_path().read_text(encoding="utf-8"))["files"]


def test_an_unchanged_index_answers_without_reading_any_file_again(capsys, user_dir):
    path = write(user_dir / "txt2img" / "mine.yaml", PRESET.format(description="mine", steps=3))
    first = listed(capsys)
    assert first["txt2img/mine"]["description"] == "mine"
    assert str(path) in index_entries()
    # An entry whose stamp matches is believed: a forged description proves the file was not parsed again.
    data = json.loads(index_path().read_text(encoding="utf-8"))
    data["files"][str(path)]["preset"]["description"] = "from the index"
    index_path().write_text(json.dumps(data), encoding="utf-8")
    assert listed(capsys)["txt2img/mine"]["description"] == "from the index"
    index = PresetIndex.open()
    assert index.read(path, name="txt2img/mine", source="user").description == "from the index"
    assert (index.reused, index.validated, index.changed) == (1, 0, False)
    again = index_path().stat()
    listed(capsys)
    assert index_path().stat().st_mtime_ns == again.st_mtime_ns  # nothing changed: not written again


def test_a_changed_file_is_read_again(capsys, user_dir):
    path = write(user_dir / "txt2img" / "mine.yaml", PRESET.format(description="aaaa", steps=3))
    listed(capsys)
    # A new modification time alone: the entry is rebuilt with the new stamp.
    stamp = path.stat()
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 5_000_000_000))
    listed(capsys)
    assert index_entries()[str(path)]["mtime_ns"] == path.stat().st_mtime_ns
    # New content of the same size under the old modification time (an edit within the file system's
    # timestamp granularity): the CRC of the bytes tells.
    before = path.stat()
    path.write_text(PRESET.format(description="bbbb", steps=4), encoding="utf-8")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size
    shown = run_sdkit(capsys, "presets", "show", "txt2img/mine", "--json")
    assert json.loads(shown.stdout)["params"] == {"steps": 4}
    assert listed(capsys)["txt2img/mine"]["description"] == "bbbb"


def test_added_and_removed_files_are_listed_as_they_are(capsys, user_dir):
    listed(capsys)
    added = write(user_dir / "txt2img" / "new.yaml", PRESET.format(description="new", steps=2))
    assert listed(capsys)["txt2img/new"]["description"] == "new"
    added.unlink()
    assert "txt2img/new" not in listed(capsys)
    assert str(added) not in index_entries()


def test_invalid_presets_read_the_same_from_the_index(capsys, user_dir):
    path = write(user_dir / "txt2img" / "bad.yaml", PRESET.format(description="bad", steps=-2) + "  bogus: 1\n")
    outputs = [run_sdkit(capsys, "presets", "validate", "txt2img/bad") for _ in range(2)]
    assert outputs[0] == outputs[1] and outputs[0].exit_code == 2
    assert "params.steps: -2 must be at least 1" in outputs[0].stdout and "params.bogus" in outputs[0].stdout
    assert "error" in index_entries()[str(path)]
    rows = [listed(capsys)["txt2img/bad"] for _ in range(2)]
    assert rows[0] == rows[1] and rows[0]["error"].startswith("bad.yaml:5: params.steps")


def test_a_corrupt_index_is_ignored_and_rewritten(capsys, user_dir):
    write(user_dir / "txt2img" / "mine.yaml", PRESET.format(description="mine", steps=3))
    expected = listed(capsys)
    for damage in (b"{not json", b"\xff\xfe", b'{"format": 1, "code": [], "files": {"x": 1}}', b"[]"):
        index_path().write_bytes(damage)
        assert listed(capsys) == expected
        assert json.loads(index_path().read_text(encoding="utf-8"))["files"]


def test_an_entry_with_the_wrong_shape_is_read_afresh(capsys, user_dir):
    path = write(user_dir / "txt2img" / "mine.yaml", PRESET.format(description="mine", steps=3))
    listed(capsys)
    data = json.loads(index_path().read_text(encoding="utf-8"))
    del data["files"][str(path)]["preset"]["task"]
    index_path().write_text(json.dumps(data), encoding="utf-8")
    assert listed(capsys)["txt2img/mine"]["task"] == "txt2img"


def test_an_index_written_by_other_code_is_not_trusted(capsys, user_dir):
    path = write(user_dir / "txt2img" / "mine.yaml", PRESET.format(description="mine", steps=3))
    listed(capsys)
    data = json.loads(index_path().read_text(encoding="utf-8"))
    assert data["code"] == code_fingerprint()
    data["code"] = [*data["code"][:-1], "pydantic elsewhere 1 2"]  # e.g. another pydantic installed
    data["files"][str(path)]["preset"]["description"] = "stale"
    index_path().write_text(json.dumps(data), encoding="utf-8")
    assert listed(capsys)["txt2img/mine"]["description"] == "mine"


def test_a_cache_folder_that_cannot_be_written_only_costs_time(capsys, user_dir, sdkit_home):
    write(user_dir / "txt2img" / "mine.yaml", PRESET.format(description="mine", steps=3))
    sdkit_home.mkdir(exist_ok=True)
    (sdkit_home / "cache").write_text("a file where the cache folder should be", encoding="utf-8")
    assert listed(capsys)["txt2img/mine"]["description"] == "mine"
    schema = run_sdkit(capsys, "presets", "schema")
    assert schema.exit_code == 0 and json.loads(schema.stdout)["title"] == "sdkit preset"


def test_a_broken_plugin_still_fails_softly_with_a_warm_index(capsys, user_dir, make_plugin):
    write(user_dir / "txt2img" / "mine.yaml", PRESET.format(description="mine", steps=3))
    make_plugin("broken-presets", target="no_such_module_anywhere:FOLDER")
    for _ in range(2):
        result = run_sdkit(capsys, "presets", "list")
        assert result.exit_code == 0, result.output
        assert "skipping the presets of broken-presets 1.0" in result.stderr
        assert "txt2img/mine" in result.stdout and "txt2img/basic" in result.stdout


def test_the_schema_is_cached_and_the_same(capsys):
    outputs = [run_sdkit(capsys, "presets", "schema") for _ in range(2)]
    assert outputs[0] == outputs[1] and outputs[0].exit_code == 0
    schema = json.loads(outputs[0].stdout)
    assert set(schema["discriminator"]["mapping"]) == {"txt2img", "img2img", "inpaint", "upscale"}
    cached = json.loads((index_path().parent / "preset-schema.json").read_text(encoding="utf-8"))
    assert cached["schema"] == schema
