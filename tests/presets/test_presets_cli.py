"""`sdkit presets list/show/validate/diff/schema` as a user runs them."""

from __future__ import annotations

import json
import sys

import yaml
from cli_helpers import run_sdkit, run_sdkit_process
from preset_helpers import write

from sdkit.presets import load_preset

BUILTIN_NAMES = {"txt2img/basic", "txt2img/sdxl", "txt2img/sdxl-turbo", "img2img/restore", "inpaint/simple",
                 "upscale/real-esrgan"}


def test_list_json_shows_builtins_with_their_fields(capsys):
    result = run_sdkit(capsys, "presets", "list", "--json")
    assert result.exit_code == 0
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert BUILTIN_NAMES <= set(rows)
    assert rows["upscale/real-esrgan"] | {"path": None, "description": None} == {
        "name": "upscale/real-esrgan", "task": "upscale", "engine": "realesrgan", "mode": "normal",
        "source": "builtin", "description": None, "path": None, "shadows": [], "error": None}


def test_list_table_and_task_filter(capsys, user_dir):
    write(user_dir / "txt2img" / "basic.yaml", "schema_version: 1\ntask: txt2img\ndescription: my own\n")
    result = run_sdkit(capsys, "presets", "list", "--task", "txt2img")
    assert result.exit_code == 0
    for header in ("name", "task", "engine", "mode", "source", "description"):
        assert header in result.stdout
    assert "txt2img/basic" in result.stdout and "(hides builtin)" in result.stdout
    assert "txt2img/sdxl-turbo" in result.stdout and "upscale/real-esrgan" not in result.stdout


def test_show_prints_effective_yaml_that_loads_back(capsys, tmp_path):
    result = run_sdkit(capsys, "presets", "show", "txt2img/sdxl")
    assert result.exit_code == 0
    assert result.stdout.startswith("# preset txt2img/sdxl from builtin")
    data = yaml.safe_load(result.stdout)
    assert data["schema_version"] == 1 and data["engine"] == "sdxl"
    assert data["params"] == {"steps": 30, "cfg_scale": 6.0, "width": 1024, "height": 1024, "sampler": "DPM++ 2M",
                              "schedule": "karras", "vae_tiling": True}
    copy = load_preset(str(write(tmp_path / "copy.yaml", result.stdout)))
    assert copy.effective() == load_preset("txt2img/sdxl").effective()


def test_show_json_and_unknown_name(capsys):
    assert json.loads(run_sdkit(capsys, "presets", "show", "inpaint/simple", "--json").stdout)["task"] == "inpaint"
    result = run_sdkit(capsys, "presets", "show", "inpaint/simpel")
    assert result.exit_code == 2
    assert "did you mean 'inpaint/simple'" in result.stderr and "Traceback" not in result.output


def test_validate_exit_codes_and_every_problem_per_file(capsys, tmp_path):
    good = write(tmp_path / "good.yaml", "schema_version: 1\ntask: upscale\nparams:\n  tile: 256\n")
    bad = write(tmp_path / "bad.yaml", "schema_version: 1\ntask: txt2img\nparams:\n  stepz: 1\n  width: 63\n")
    old = write(tmp_path / "old.yaml", "schema_version: 0\ntask: txt2img\ncfg: 4\n")
    assert run_sdkit(capsys, "presets", "validate", str(good), str(old)).exit_code == 0

    result = run_sdkit(capsys, "presets", "validate", str(good), str(bad), str(old))
    assert result.exit_code == 2
    assert f"ok {good}" in result.stdout and f"invalid {bad}" in result.stdout
    assert f"{bad}:4: params.stepz" in result.stdout and f"{bad}:5: params.width" in result.stdout
    assert "migrated" in result.stdout
    assert "1 of 3 presets is invalid" in result.stderr and "Traceback" not in result.output


def test_validate_notes_an_engine_that_is_not_installed(capsys, tmp_path):
    path = write(tmp_path / "later.yaml", "schema_version: 1\ntask: txt2img\nengine: not-yet-installed\n")
    result = run_sdkit(capsys, "presets", "validate", str(path), "upscale/real-esrgan")
    assert result.exit_code == 0
    assert "engine 'not-yet-installed' is not installed" in result.stdout
    assert "ok upscale/real-esrgan\n" in result.stdout  # realesrgan is sdkit's own engine


def test_validate_warns_about_a_model_that_is_not_here(capsys, tmp_path, sdkit_home):
    missing_file = write(tmp_path / "file.yaml", "schema_version: 1\ntask: txt2img\nmodel: ~/nope/model.safetensors\n")
    missing_name = write(tmp_path / "name.yaml", "schema_version: 1\ntask: img2img\nmodel: anything-v3\n")
    missing_upscaler = write(tmp_path / "up.yaml", "schema_version: 1\ntask: upscale\nmodel: RealESRGAN_x4plus\n")
    result = run_sdkit(capsys, "presets", "validate", str(missing_file), str(missing_name), str(missing_upscaler))
    # A warning, not an error: the preset may be meant for a machine that has the model.
    assert result.exit_code == 0, result.output
    for path in (missing_file, missing_name, missing_upscaler):
        assert f"ok {path}\n" in result.stdout
    assert f"warning: {missing_file}: model '~/nope/model.safetensors' is not usable here" in result.stderr
    assert f"warning: {missing_name}: model 'anything-v3' is not usable here: unknown model 'anything-v3'" \
        in result.stderr
    # Upscalers are found as `generate` finds them: by the engine, in the models folder's upscale/.
    assert f"{missing_upscaler}: model 'RealESRGAN_x4plus' is not usable here: unknown upscaler model" in result.stderr
    assert "model 'RealESRGAN_x4plus' is not usable" in (sdkit_home / "logs" / "sdkit.log").read_text()


def test_validate_finds_models_from_headers_without_torch(tmp_path, tiny_single_file, tiny_pipeline_dir):
    single_file, folder = tiny_single_file("sd1"), tiny_pipeline_dir("sd1")
    upscaler = tmp_path / "models" / "upscale" / "RealESRGAN_x4plus.pth"
    upscaler.parent.mkdir(parents=True)
    upscaler.write_bytes(b"only its name is looked up")
    presets = [write(tmp_path / "file.yaml", f"schema_version: 1\ntask: txt2img\nmodel: {single_file}\n"),
               write(tmp_path / "folder.yaml", f"schema_version: 1\ntask: inpaint\nengine: sd15\nmodel: {folder}\n"),
               write(tmp_path / "up.yaml", "schema_version: 1\ntask: upscale\nmodel: RealESRGAN_x4plus\n"),
               write(tmp_path / "xl.yaml", f"schema_version: 1\ntask: txt2img\nengine: sdxl\nmodel: {folder}\n")]
    script = (
        "import sys\nfrom sdkit.cli.app import main\n"
        f"try:\n    main(['presets', 'validate', *{[str(path) for path in presets]!r}])\n"
        "except SystemExit as stop:\n    print('EXIT', stop.code or 0)\n"
        "print('HEAVY:', sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'diffusers', 'transformers')))\n"
    )
    import subprocess

    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                               cwd=tmp_path)
    assert "HEAVY: []" in completed.stdout, completed.stdout + completed.stderr
    assert "EXIT 0" in completed.stdout
    for path in presets:
        assert f"ok {path}" in completed.stdout
    # Only the SDXL preset on an SD 1.x model is warned about: the found models pass.
    warnings = [line for line in completed.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, completed.stderr
    assert f"{presets[3]}: model '{folder}' is not usable here" in warnings[0] and "sdxl" in warnings[0]


def test_validate_reports_bad_syntax_with_line(capsys, tmp_path):
    broken = write(tmp_path / "broken.yaml", "schema_version: 1\ntask: txt2img\nparams: {steps: 3\n")
    result = run_sdkit(capsys, "presets", "validate", str(broken))
    assert result.exit_code == 2
    assert f"{broken}:" in result.stdout and "not valid YAML" in result.stdout


def test_diff_lists_fields_that_differ(capsys):
    result = run_sdkit(capsys, "presets", "diff", "txt2img/sdxl", "txt2img/sdxl-turbo", "--json")
    assert result.exit_code == 0
    rows = {row["field"]: (row["a"], row["b"]) for row in json.loads(result.stdout)}
    assert rows["mode"] == ("normal", "turbo")
    assert rows["params.steps"] == (30, 1) and rows["params.cfg_scale"] == (6.0, 0.0)
    assert rows["params.schedule"] == ("karras", None)
    assert "task" not in rows and "engine" not in rows

    table = run_sdkit(capsys, "presets", "diff", "txt2img/sdxl", "txt2img/sdxl-turbo")
    assert "params.steps" in table.stdout and "(unset)" in table.stdout
    same = run_sdkit(capsys, "presets", "diff", "txt2img/basic", "txt2img/basic")
    assert same.exit_code == 0 and "same values" in same.stdout


def test_schema_to_stdout_and_file(capsys, tmp_path):
    result = run_sdkit(capsys, "presets", "schema")
    schema = json.loads(result.stdout)
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert set(schema["discriminator"]["mapping"]) == {"txt2img", "img2img", "inpaint", "upscale"}
    target = tmp_path / "preset.schema.json"
    assert run_sdkit(capsys, "presets", "schema", "-o", str(target)).exit_code == 0
    assert json.loads(target.read_text()) == schema


def test_presets_commands_import_no_ml_stack(tmp_path):
    """`presets list` and `presets show` stay light: no torch, diffusers, transformers or spandrel."""
    script = (
        "import sys\n"
        "from sdkit.cli.app import main\n"
        "for argv in (['presets', 'list'], ['presets', 'show', 'txt2img/basic'], ['presets', 'validate', "
        "'txt2img/sdxl']):\n"
        "    try:\n        main(argv)\n    except SystemExit as stop:\n        assert not stop.code, stop.code\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'diffusers', 'transformers', 'spandrel'))\n"
        "print('HEAVY:', heavy)\n"
    )
    import subprocess

    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                               cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert "HEAVY: []" in completed.stdout
    # And as a real command: exit code and output of the installed entry point.
    result = run_sdkit_process("presets", "show", "upscale/real-esrgan", cwd=str(tmp_path))
    assert result.exit_code == 0 and "tile_overlap: 32" in result.stdout
