"""A preset file is validated with every problem reported at once: file, line, field and hint."""

from __future__ import annotations

import pytest
from preset_helpers import write

from sdkit.core.tasks import Mode, Task
from sdkit.presets import PresetError, load_preset

GOOD = """
    schema_version: 1
    task: txt2img
    engine: sdxl
    mode: turbo
    description: fast
    params:
      steps: 1
      cfg_scale: 0
      width: 512
"""


def problems_of(path) -> list:
    with pytest.raises(PresetError) as caught:
        load_preset(str(path))
    return caught.value.problems


def test_valid_file_loads_as_a_frozen_preset(tmp_path):
    preset = load_preset(str(write(tmp_path / "good.yaml", GOOD)))
    assert (preset.task, preset.engine, preset.mode, preset.source) == (Task.TXT2IMG, "sdxl", Mode.TURBO, "file")
    assert dict(preset.params) == {"steps": 1, "cfg_scale": 0.0, "width": 512}
    assert preset.schema_version == 1 and preset.migrated_from is None
    with pytest.raises(TypeError):
        preset.params["steps"] = 5  # type: ignore[index]


def test_unknown_keys_get_did_you_mean_with_their_lines(tmp_path):
    path = write(tmp_path / "typo.yaml", """
        schema_version: 1
        task: txt2img
        descripton: oops
        params:
          stepz: 3
    """)
    problems = problems_of(path)
    by_field = {problem.field: problem for problem in problems}
    assert by_field["descripton"].line == 3 and "did you mean 'description'" in by_field["descripton"].message
    assert by_field["params.stepz"].line == 5 and "did you mean 'steps'" in by_field["params.stepz"].message


def test_parameter_of_another_task_names_the_tasks_that_take_it(tmp_path):
    path = write(tmp_path / "strength.yaml", "schema_version: 1\ntask: txt2img\nparams:\n  strength: 0.5\n")
    [problem] = problems_of(path)
    assert problem.field == "params.strength" and problem.line == 4
    assert "img2img, inpaint" in problem.hint


def test_wrong_types_are_rejected_strictly(tmp_path):
    path = write(tmp_path / "types.yaml", """
        schema_version: 1
        task: txt2img
        params:
          steps: "20"
          vae_tiling: 3
          rng: gpu
    """)
    fields = {problem.field: problem for problem in problems_of(path)}
    assert set(fields) == {"params.steps", "params.vae_tiling", "params.rng"}
    assert fields["params.steps"].line == 4 and "integer" in fields["params.steps"].message
    assert "'cpu', 'nv' or 'device'" in fields["params.rng"].message


def test_out_of_range_values_are_reported_together_with_type_errors(tmp_path):
    path = write(tmp_path / "ranges.yaml", """
        schema_version: 1
        task: img2img
        params:
          steps: 0
          cfg_scale: 51
          strength: 1.5
          width: 63
          seed: nope
    """)
    fields = {problem.field: problem for problem in problems_of(path)}
    assert set(fields) == {"params.steps", "params.cfg_scale", "params.strength", "params.width", "params.seed"}
    assert "at least 1" in fields["params.steps"].message
    assert "(0, 1]" in fields["params.strength"].message and fields["params.strength"].line == 6
    assert "multiple of 8" in fields["params.width"].message and fields["params.width"].hint == "try 64"


def test_upscale_ranges(tmp_path):
    path = write(tmp_path / "up.yaml", "schema_version: 1\ntask: upscale\nparams:\n  tile: 64\n  tile_overlap: 40\n")
    [problem] = problems_of(path)
    assert problem.field == "params.tile_overlap" and "half the tile" in problem.message


def test_a_preset_need_not_name_input_images(tmp_path):
    path = write(tmp_path / "inpaint.yaml", "schema_version: 1\ntask: inpaint\nparams:\n  mask_blur: 4\n")
    assert load_preset(str(path)).task is Task.INPAINT


def test_unknown_task_and_mode(tmp_path):
    path = write(tmp_path / "task.yaml", "schema_version: 1\ntask: txt2im\nmode: turbos\n")
    fields = {problem.field: problem for problem in problems_of(path)}
    assert "did you mean 'txt2img'" in fields["task"].message and fields["task"].line == 2
    assert fields["mode"].line == 3 and "lightning" in fields["mode"].hint


def test_missing_task(tmp_path):
    [problem] = problems_of(write(tmp_path / "notask.yaml", "schema_version: 1\nparams: {}\n"))
    assert problem.field == "task" and "txt2img" in problem.hint


def test_top_level_parameter_hints_at_params_section(tmp_path):
    path = write(tmp_path / "flat.yaml", "schema_version: 1\ntask: txt2img\ncfg: 7\nsteps: 3\n")
    fields = {problem.field: problem for problem in problems_of(path)}
    assert "params.cfg_scale" in fields["cfg"].hint
    assert "params.steps" in fields["steps"].hint


def test_missing_schema_version(tmp_path):
    with pytest.raises(PresetError) as caught:
        load_preset(str(write(tmp_path / "nover.yaml", "task: txt2img\n")))
    assert "schema_version" in caught.value.message and "missing" in caught.value.message
    assert "schema_version: 1" in caught.value.hint


def test_newer_schema_version_asks_for_an_upgrade(tmp_path):
    with pytest.raises(PresetError) as caught:
        load_preset(str(write(tmp_path / "new.yaml", "task: txt2img\nschema_version: 7\n")))
    assert "7 is newer" in caught.value.message
    assert caught.value.problems[0].line == 2
    assert "upgrade sdkit" in caught.value.hint


@pytest.mark.parametrize("value", ["one", "true", "-1", "1.5"])
def test_unreadable_schema_version(tmp_path, value):
    with pytest.raises(PresetError) as caught:
        load_preset(str(write(tmp_path / "v.yaml", f"schema_version: {value}\ntask: txt2img\n")))
    assert "is not a schema version" in caught.value.message


def test_bad_yaml_syntax_names_the_line(tmp_path):
    text = "schema_version: 1\ntask: txt2img\nparams:\n  steps: [1, 2\n  cfg_scale: 3\n"
    path = write(tmp_path / "syntax.yaml", text)
    with pytest.raises(PresetError) as caught:
        load_preset(str(path))
    [problem] = caught.value.problems
    assert "not valid YAML" in problem.message and problem.line is not None and problem.line >= 4
    assert f"{path}:{problem.line}" in caught.value.message


def test_yaml_tags_are_not_executed(tmp_path):
    path = write(tmp_path / "evil.yaml", "schema_version: 1\ntask: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(PresetError, match="not valid YAML"):
        load_preset(str(path))


def test_duplicate_keys_are_an_error(tmp_path):
    path = write(tmp_path / "dup.yaml", "schema_version: 1\ntask: txt2img\nparams:\n  steps: 2\n  steps: 3\n")
    [problem] = problems_of(path)
    assert problem.field == "params.steps" and problem.line == 5 and "line 4" in problem.message


@pytest.mark.parametrize("text", ["", "- a\n- b\n", "just a string\n"])
def test_file_must_be_a_mapping(tmp_path, text):
    path = tmp_path / "shape.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PresetError) as caught:
        load_preset(str(path))
    assert str(path) in caught.value.message and caught.value.hint


def test_missing_file(tmp_path):
    with pytest.raises(PresetError, match="no such file"):
        load_preset(str(tmp_path / "absent.yaml"))
