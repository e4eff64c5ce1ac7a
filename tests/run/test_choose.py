"""Which engine and model a run gets: named engine, the model's family, or the task's default engine."""

from __future__ import annotations

import pytest
from cli_helpers import run_sdkit

from sdkit.core.errors import UserInputError
from sdkit.core.tasks import Task
from sdkit.demo import DEMO_MODEL_DIR, DEMO_MODEL_NAME
from sdkit.run.choose import choose, engines_for


def test_nothing_named_runs_the_tasks_default_engine_with_its_default_model():
    choice = choose(Task.TXT2IMG, None, None)
    assert choice.entry.key == "sd15" and choice.model_is_default
    assert choice.model_ref.name == DEMO_MODEL_NAME and choice.model_ref.path == DEMO_MODEL_DIR


def test_an_engine_without_a_default_model_asks_for_one():
    with pytest.raises(UserInputError) as caught:
        choose(Task.TXT2IMG, "sdxl", None)
    assert "engine 'sdxl' has no default model" in caught.value.message and "--model" in caught.value.hint


def test_the_models_family_chooses_the_engine(tiny_pipeline_dir):
    choice = choose(Task.IMG2IMG, None, str(tiny_pipeline_dir("sdxl")))
    assert choice.entry.key == "sdxl" and choice.model_ref.family == "sdxl" and not choice.model_is_default
    assert engines_for("sdxl", Task.TXT2IMG) == ["sdxl"] and engines_for("sdxl", Task.UPSCALE) == []


def test_a_model_of_another_family_than_the_named_engine_is_refused_before_loading(tiny_pipeline_dir):
    with pytest.raises(UserInputError) as caught:
        choose(Task.TXT2IMG, "sdxl", str(tiny_pipeline_dir("sd1")))
    assert "is a sd1 model, but engine 'sdxl' runs sdxl models" in caught.value.message
    assert "--engine sd15" in caught.value.hint


def test_an_empty_model_flag_is_refused_not_read_as_no_model(capsys):
    result = run_sdkit(capsys, "generate", "--model", "", "--dry-run")
    assert result.exit_code == 2 and "empty" in result.stderr and "Traceback" not in result.stderr


def test_an_sdxl_preset_on_an_sd1_model_fails_the_dry_run(capsys, tiny_pipeline_dir):
    result = run_sdkit(capsys, "generate", "--preset", "txt2img/sdxl", "--model", str(tiny_pipeline_dir("sd1")),
                       "--dry-run")
    assert result.exit_code == 2 and "engine 'sdxl' runs sdxl models" in result.stderr


def test_a_named_engine_that_does_not_do_the_task_is_refused_before_any_model_is_looked_at():
    with pytest.raises(UserInputError) as caught:
        choose(Task.UPSCALE, "sd15", "no-such-model")
    assert caught.value.message == "engine 'sd15' does not do upscale; it does: img2img, inpaint, txt2img"
