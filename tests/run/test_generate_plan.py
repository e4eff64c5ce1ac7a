"""Planning a run: precedence of flags over preset over defaults, and what gets logged and remembered."""

from __future__ import annotations

import json

import pytest
import yaml
from cli_helpers import run_sdkit
from PIL import Image


@pytest.fixture
def in_png(tmp_path, monkeypatch):
    """`in.png` (64x64) in the current folder: the dry run opens input images as the run would."""
    monkeypatch.chdir(tmp_path)
    Image.new("RGB", (64, 64), "grey").save(tmp_path / "in.png")
    return tmp_path / "in.png"


def test_flags_beat_preset_beat_defaults_and_the_log_says_so(capsys, sdkit_home, tiny_pipeline_dir, in_png):
    result = run_sdkit(capsys, "generate", "--preset", "img2img/restore", "--model", str(tiny_pipeline_dir("sd1")),
                       "--image", "in.png", "--steps", "5", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    params = plan["params"]
    assert params["steps"] == 5  # flag over preset's 30
    assert params["strength"] == 0.35 and params["cfg_scale"] == 6.0  # preset over engine defaults
    assert params["sampler"] == "automatic"  # engine default
    assert plan["preset"] == {"name": "img2img/restore", "source": "builtin", "schema_version": 1,
                              "path": plan["preset"]["path"]}
    assert plan["flag_overrides"] == {"steps": 5, "image": "in.png"}
    assert plan["preset_changes"]["strength"] == {"default": 0.75, "preset": 0.35}

    log_text = (sdkit_home / "logs" / "sdkit.log").read_text()
    assert "preset img2img/restore from builtin" in log_text and "schema_version 1" in log_text
    assert "changes against defaults" in log_text and "flags override" in log_text

    state = json.loads((sdkit_home / "state" / "state.json").read_text())
    assert state["last_preset"]["name"] == "img2img/restore"
    assert state["last_preset"]["effective"]["params"]["steps"] == 5


def test_preset_file_path_and_task_conflict(capsys, tmp_path, tiny_pipeline_dir):
    preset = tmp_path / "mine.yaml"
    preset.write_text(yaml.safe_dump({"schema_version": 1, "task": "txt2img", "params": {"steps": 3}}))
    model = str(tiny_pipeline_dir("sd1"))
    result = run_sdkit(capsys, "generate", "--preset", str(preset), "--model", model, "--dry-run", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["params"]["steps"] == 3
    conflict = run_sdkit(capsys, "generate", "--preset", str(preset), "--task", "upscale", "--dry-run")
    assert conflict.exit_code == 2 and "conflicts with preset" in conflict.stderr


def test_flags_that_do_not_belong_to_the_task(capsys, tiny_pipeline_dir):
    result = run_sdkit(capsys, "generate", "--model", str(tiny_pipeline_dir("sd1")), "--tile", "64", "--dry-run")
    assert result.exit_code == 2 and "--tile cannot be used with txt2img" in result.stderr


def test_output_dir_from_the_config(capsys, tmp_path, sdkit_home, tiny_pipeline_dir):
    (sdkit_home / "config").mkdir(parents=True, exist_ok=True)
    (sdkit_home / "config" / "config.yaml").write_text(f"output_dir: {tmp_path / 'configured'}\n")
    result = run_sdkit(capsys, "generate", "--model", str(tiny_pipeline_dir("sd1")), "--steps", "1", "--seed", "3",
                       "--width", "64", "--height", "64", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["images"][0]["path"] == str(tmp_path / "configured" / "txt2img" / "00000-3.png")


def test_dry_run_checks_sampler_names(capsys, tiny_pipeline_dir):
    model = str(tiny_pipeline_dir("sd1"))
    unsupported = run_sdkit(capsys, "generate", "--model", model, "--sampler", "DPM adaptive", "--dry-run")
    assert unsupported.exit_code == 2 and "nearest" in unsupported.stderr.lower()
    misspelt = run_sdkit(capsys, "generate", "--model", model, "--sampler", "eulr a", "--dry-run")
    assert misspelt.exit_code == 2 and "did you mean" in misspelt.stderr
    legacy = run_sdkit(capsys, "generate", "--model", model, "--sampler", "DPM++ 2M SDE Karras", "--dry-run", "--json")
    assert json.loads(legacy.stdout)["sampler"] == {"id": "dpmpp_2m_sde", "schedule": "karras", "model_default": False}


def _model_with_recommendations(tmp_path, tiny_pipeline_dir, content: str):
    import shutil

    model = tmp_path / "recommending-model"
    shutil.copytree(tiny_pipeline_dir("sd1"), model)
    (model / "sdkit.json").write_text(content)
    return model


def test_a_model_folder_recommends_settings_between_engine_defaults_and_preset(capsys, tmp_path, sdkit_home,
                                                                             tiny_pipeline_dir, in_png):
    model = _model_with_recommendations(tmp_path, tiny_pipeline_dir, json.dumps(
        {"recommended": {"cfg_scale": 3.5, "steps": 9, "image": "/etc/passwd", "cfg_scael": 2}}))
    quiet_preset = tmp_path / "quiet.yaml"
    quiet_preset.write_text(yaml.safe_dump({"schema_version": 1, "task": "txt2img", "params": {"prompt": "x"}}))

    plain = json.loads(run_sdkit(capsys, "generate", "--preset", str(quiet_preset), "--model", str(model),
                                 "--dry-run", "--json").stdout)["params"]
    assert (plain["cfg_scale"], plain["steps"]) == (3.5, 9)  # over the engine's 7.0 and 20
    assert plain.get("image") is None  # only sampling settings may be recommended

    preset = json.loads(run_sdkit(capsys, "generate", "--preset", "img2img/restore", "--model", str(model),
                                  "--image", "in.png", "--dry-run", "--json").stdout)["params"]
    assert (preset["cfg_scale"], preset["steps"]) == (6.0, 30)  # the preset's own values win
    flag = json.loads(run_sdkit(capsys, "generate", "--preset", str(quiet_preset), "--model", str(model),
                                "--cfg-scale", "5", "--dry-run", "--json").stdout)["params"]
    assert flag["cfg_scale"] == 5.0

    log_text = (sdkit_home / "logs" / "sdkit.log").read_text()
    assert "recommends {'cfg_scale': 3.5, 'steps': 9}" in log_text
    assert "ignoring cfg_scael, image" in log_text


def test_an_unreadable_recommendation_file_is_a_clear_input_error(capsys, tmp_path, tiny_pipeline_dir):
    model = _model_with_recommendations(tmp_path, tiny_pipeline_dir, "{not json")
    result = run_sdkit(capsys, "generate", "--model", str(model), "--dry-run")
    assert result.exit_code == 2
    assert "sdkit.json" in result.stderr and "Traceback" not in result.stderr
