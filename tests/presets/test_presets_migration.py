"""Schema version 0 files (parameters at the top level, A1111-style names) migrate to version 1."""

from __future__ import annotations

import logging

import pytest
from preset_helpers import write

from sdkit.core.tasks import Mode, Task
from sdkit.presets import PresetError, load_preset
from sdkit.presets.migrations import migrate, migrate_v0_to_v1

V0 = """
    schema_version: 0
    task: img2img
    pipeline: sd15
    mode: lcm
    description: an old one
    prompt: a cat
    negative: blurry
    cfg: 5
    sampler_name: Euler a
    scheduler: karras
    size: 512x768
    denoising_strength: 0.4
    steps: 6
"""


def test_v0_file_migrates_to_v1(tmp_path, caplog, monkeypatch):
    path = write(tmp_path / "old.yaml", V0)
    monkeypatch.setattr(logging.getLogger("sdkit"), "propagate", True)  # the CLI turns it off; caplog needs it
    with caplog.at_level(logging.WARNING, logger="sdkit"):
        preset = load_preset(str(path))
    assert preset.schema_version == 1 and preset.migrated_from == 0
    assert (preset.task, preset.engine, preset.mode, preset.description) == (Task.IMG2IMG, "sd15", Mode.LCM,
                                                                             "an old one")
    assert dict(preset.params) == {
        "prompt": "a cat", "negative_prompt": "blurry", "cfg_scale": 5.0, "sampler": "Euler a",
        "schedule": "karras", "width": 512, "height": 768, "strength": 0.4, "steps": 6,
    }
    assert "uses schema_version 0" in caplog.text and "migrated it to version 1" in caplog.text


@pytest.mark.parametrize(("size", "expected"), [("640x384", (640, 384)), ([256, 128], (256, 128)), (320, (320, 320))])
def test_v0_size_forms(size, expected):
    migrated, origins = migrate_v0_to_v1({"schema_version": 0, "task": "txt2img", "size": size})
    assert (migrated["params"]["width"], migrated["params"]["height"]) == expected
    assert origins[("params", "width")] == ("size",)


def test_migrate_runs_until_current_and_keeps_origins():
    data, origins = migrate({"schema_version": 0, "task": "txt2img", "cfg": 3, "pipeline": "sdxl"}, 0)
    assert data == {"schema_version": 1, "task": "txt2img", "engine": "sdxl", "params": {"cfg_scale": 3}}
    assert origins[("params", "cfg_scale")] == ("cfg",) and origins[("engine",)] == ("pipeline",)


def test_errors_in_a_migrated_file_point_at_the_line_and_name_as_written(tmp_path):
    path = write(tmp_path / "old-bad.yaml", "schema_version: 0\ntask: img2img\ncfg: 5\ndenoising_strength: 3\n")
    with pytest.raises(PresetError) as caught:
        load_preset(str(path))
    [problem] = caught.value.problems
    assert problem.line == 4 and "denoising_strength" in problem.field and "(0, 1]" in problem.message
    assert "schema_version 0" in caught.value.hint


def test_migrated_preset_shows_in_current_form(tmp_path, capsys):
    from cli_helpers import run_sdkit

    path = write(tmp_path / "old.yaml", V0)
    result = run_sdkit(capsys, "presets", "show", str(path))
    assert result.exit_code == 0
    assert "migrated from schema_version 0" in result.stdout
    rewritten = write(tmp_path / "new.yaml", result.stdout)
    again = load_preset(str(rewritten))
    assert again.migrated_from is None and dict(again.params) == dict(load_preset(str(path)).params)
