"""The built-in presets are valid, say what the issue asks of them, and ship inside the wheel."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from sdkit.core.tasks import Mode, Task
from sdkit.presets import diff_presets, list_presets, load_preset, preset_changes
from sdkit.presets.builtin import PRESETS_FOLDER

REPO = Path(__file__).resolve().parents[2]


def test_every_builtin_file_is_valid_and_current():
    files = sorted(Path(PRESETS_FOLDER).rglob("*.yaml"))
    assert len(files) >= 6
    for path in files:
        assert yaml.safe_load(path.read_text())["schema_version"] == 1, path
        preset = load_preset(str(path))
        assert preset.description and preset.params, path
    assert all(info.error is None for info in list_presets() if info.source == "builtin")


@pytest.mark.parametrize(("name", "task", "engine", "mode", "params"), [
    ("txt2img/basic", Task.TXT2IMG, None, Mode.NORMAL, {"steps": 20}),
    ("txt2img/sdxl", Task.TXT2IMG, "sdxl", Mode.NORMAL,
     {"width": 1024, "height": 1024, "steps": 30, "cfg_scale": 6.0, "sampler": "DPM++ 2M", "schedule": "karras"}),
    ("txt2img/sdxl-turbo", Task.TXT2IMG, "sdxl", Mode.TURBO,
     {"width": 512, "height": 512, "steps": 1, "cfg_scale": 0.0}),
    ("upscale/real-esrgan", Task.UPSCALE, "realesrgan", Mode.NORMAL, {"tile": 512, "tile_overlap": 32}),
    ("img2img/restore", Task.IMG2IMG, None, Mode.NORMAL, {}),
    ("inpaint/simple", Task.INPAINT, None, Mode.NORMAL, {}),
])
def test_builtin_preset_contents(name, task, engine, mode, params):
    preset = load_preset(name)
    assert (preset.task, preset.engine, preset.mode) == (task, engine, mode)
    assert {key: preset.params[key] for key in params} == params


def test_basic_leaves_the_model_and_size_unset_for_the_demo_model():
    basic = load_preset("txt2img/basic")
    assert basic.model is None
    assert "width" not in basic.params and "height" not in basic.params  # the model's native size applies
    assert "cfg_scale" not in basic.params  # the engine's 7, or what the model recommends (the demo's is lower)


def test_preset_changes_against_engine_defaults():
    preset = load_preset("txt2img/sdxl")
    defaults = {"steps": 30, "cfg_scale": 7.5, "width": 1024, "height": 1024, "sampler": "automatic"}
    changes = preset_changes(preset, defaults)
    assert changes["cfg_scale"] == {"default": 7.5, "preset": 6.0}
    assert changes["sampler"] == {"default": "automatic", "preset": "DPM++ 2M"}
    assert changes["schedule"] == {"default": None, "preset": "karras"}  # not among the defaults
    assert "steps" not in changes and "width" not in changes  # equal to the default: not a change


def test_diff_of_a_preset_with_itself_is_empty_and_order_is_header_then_params():
    sdxl, turbo = load_preset("txt2img/sdxl"), load_preset("txt2img/sdxl-turbo")
    assert diff_presets(sdxl, sdxl) == []
    fields = [item.field for item in diff_presets(sdxl, turbo)]
    assert fields[:3] == ["mode", "model", "description"]
    assert fields[3:] == sorted(fields[3:]) and all(field.startswith("params.") for field in fields[3:])


def test_wheel_ships_the_presets_and_a_wheel_install_finds_them(tmp_path):
    """Build the wheel (hatchling, no network), then import sdkit from it alone and list the presets."""
    build = subprocess.run(
        [sys.executable, "-c", "import sys; from hatchling.build import build_wheel; print(build_wheel(sys.argv[1]))",
         str(tmp_path / "dist")],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert build.returncode == 0, build.stderr
    wheel = tmp_path / "dist" / build.stdout.strip().splitlines()[-1]
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        assert "sdkit/builtin_presets/txt2img/basic.yaml" in names
        assert "sdkit/builtin_presets/upscale/real-esrgan.yaml" in names
        archive.extractall(tmp_path / "site")
    # Run from another folder with the unpacked wheel first on the path: the packaged copy must be used.
    script = ("from sdkit.presets import list_presets\n"
              "for info in list_presets():\n    print(info.name, info.source, info.path)\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    listed = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=60)
    assert listed.returncode == 0, listed.stderr
    rows = {line.split()[0]: line.split()[2] for line in listed.stdout.splitlines()}
    assert rows["txt2img/basic"] == str(tmp_path / "site" / "sdkit" / "builtin_presets" / "txt2img" / "basic.yaml")
