"""`sdkit models list` and `sdkit models show`, as a user sees them."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys

from cli_helpers import run_sdkit


def flat(text: str) -> str:
    """Text without whitespace: the console wraps long messages (and folds long paths) at its width."""
    return "".join(text.split())


def _fill(models_dir, tiny_single_file, tiny_pipeline_dir):
    shutil.copy(tiny_single_file("sd1"), models_dir / "anything-v5.safetensors")
    shutil.copytree(tiny_single_file("sd1").with_name(tiny_single_file("sd1").stem + ".config"),
                    models_dir / "anything-v5.config")
    shutil.copy(tiny_single_file("sd2", prediction_type="v_prediction"), models_dir / "sd21-768.safetensors")
    shutil.copytree(tiny_pipeline_dir("sdxl", inpainting=True), models_dir / "xl-inpaint")
    (models_dir / "upscale").mkdir()
    (models_dir / "upscale" / "4x-UltraSharp.safetensors").write_bytes(b"not listed as a model")


def test_list_shows_name_family_format_size_and_hash(capsys, models_dir, tiny_single_file, tiny_pipeline_dir):
    _fill(models_dir, tiny_single_file, tiny_pipeline_dir)
    result = run_sdkit(capsys, "models", "list")
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip()[:2] in ("an", "sd", "xl")}
    assert set(lines) == {"anything-v5", "sd21-768", "xl-inpaint"}
    short = hashlib.sha256((models_dir / "anything-v5.safetensors").read_bytes()).hexdigest()[:10]
    assert "sd1" in lines["anything-v5"] and "safetensors" in lines["anything-v5"] and short in lines["anything-v5"]
    assert "MB" in lines["anything-v5"]
    assert "sdxl inpaint" in lines["xl-inpaint"] and "diffusers" in lines["xl-inpaint"]
    assert "v?" in lines["sd21-768"] and "guessed" in flat(result.stderr)
    assert "eps" in lines["anything-v5"].split()  # SD 1.x files are epsilon models, not a guess
    assert "UltraSharp" not in result.output and "anything-v5.config" not in result.output


def test_list_json_is_machine_readable(capsys, models_dir, tiny_single_file, tiny_pipeline_dir):
    _fill(models_dir, tiny_single_file, tiny_pipeline_dir)
    result = run_sdkit(capsys, "models", "list", "--json")
    assert result.exit_code == 0
    records = {record["name"]: record for record in json.loads(result.stdout)}
    assert set(records) == {"anything-v5", "sd21-768", "xl-inpaint"}
    sd1 = records["anything-v5"]
    assert (sd1["family"], sd1["format"], sd1["source"], sd1["inpainting"]) == ("sd1", "safetensors", "single-file",
                                                                                 False)
    assert sd1["size_bytes"] == (models_dir / "anything-v5.safetensors").stat().st_size
    assert len(sd1["short_hash"]) == 10
    assert records["sd21-768"]["guessed"] == ["prediction_type"]
    assert records["xl-inpaint"]["inpainting"] is True
    no_hash = json.loads(run_sdkit(capsys, "models", "list", "--json", "--no-hash").stdout)
    assert all(record["short_hash"] is None for record in no_hash)


def test_list_skips_broken_files_with_a_warning(capsys, models_dir, tiny_single_file, tiny_pipeline_dir):
    _fill(models_dir, tiny_single_file, tiny_pipeline_dir)
    (models_dir / "half-downloaded.safetensors").write_bytes(b"\x00" * 100)
    result = run_sdkit(capsys, "models", "list", "--no-hash")
    assert result.exit_code == 0
    assert "half-downloaded.safetensors" in result.stderr
    assert "anything-v5" in result.stdout


def test_an_empty_models_folder_says_where_it_looked(capsys, models_dir):
    result = run_sdkit(capsys, "models", "list")
    assert result.exit_code == 0
    assert flat("no models found") in flat(result.stderr) and flat(str(models_dir)) in flat(result.stderr)


def test_show_explains_one_reference(capsys, models_dir, tiny_single_file, tiny_pipeline_dir):
    _fill(models_dir, tiny_single_file, tiny_pipeline_dir)
    result = run_sdkit(capsys, "models", "show", "SD21-768")
    assert result.exit_code == 0
    assert "family: sd2" in result.stdout and "guessed" in result.stdout
    record = json.loads(run_sdkit(capsys, "models", "show", "xl-inpaint", "--json").stdout)
    assert (record["family"], record["inpainting"], record["format"]) == ("sdxl", True, "diffusers")
    missing = run_sdkit(capsys, "models", "show", "anything-v4")
    assert missing.exit_code == 2 and flat("did you mean 'anything-v5'") in flat(missing.stderr)
    assert "Traceback" not in missing.output


def test_listing_safetensors_models_imports_no_torch(models_dir, tiny_single_file, tiny_pipeline_dir, tmp_path):
    _fill(models_dir, tiny_single_file, tiny_pipeline_dir)
    code = ("import sys\nfrom sdkit.cli.app import main\n"
            "try:\n    main(['models', 'list', '--json'])\nexcept SystemExit:\n    pass\n"
            "heavy = [name for name in ('torch', 'diffusers', 'transformers') if name in sys.modules]\n"
            "sys.stderr.write('HEAVY=' + ','.join(heavy))\n")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                               env={**os.environ, "SDKIT_MODELS_DIR": str(models_dir)})
    assert len(json.loads(completed.stdout)) == 3
    assert completed.stderr.strip().endswith("HEAVY="), completed.stderr[-500:]


def _folder_stating(models_dir, tiny_pipeline_dir, name, prediction_type):
    """A copy of the tiny SD 1.x folder whose scheduler config states `prediction_type` (None: states none)."""
    folder = models_dir / name
    shutil.copytree(tiny_pipeline_dir("sd1"), folder)
    config = folder / "scheduler" / "scheduler_config.json"
    data = json.loads(config.read_text(encoding="utf-8"))
    data.pop("prediction_type", None)
    if prediction_type is not None:
        data["prediction_type"] = prediction_type
    config.write_text(json.dumps(data), encoding="utf-8")
    return folder


def test_a_prediction_type_the_model_does_not_state_is_shown_as_guessed(capsys, models_dir, tiny_pipeline_dir):
    _folder_stating(models_dir, tiny_pipeline_dir, "says-nothing", None)
    _folder_stating(models_dir, tiny_pipeline_dir, "says-epsilon", "epsilon")
    result = run_sdkit(capsys, "models", "list", "--no-hash")
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines() if line.strip()[:5] == "says-"}
    assert "eps?" in rows["says-nothing"] and "eps" in rows["says-epsilon"]
    assert "guessed" in result.stderr
    records = {r["name"]: r for r in json.loads(run_sdkit(capsys, "models", "list", "--json", "--no-hash").stdout)}
    assert records["says-nothing"]["guessed"] == ["prediction_type"]
    assert records["says-epsilon"]["guessed"] == []
    shown = run_sdkit(capsys, "models", "show", "says-nothing")
    assert "prediction_type: epsilon (guessed" in shown.stdout


def test_a_prediction_type_sdkit_cannot_draw_is_named(capsys, models_dir, tiny_pipeline_dir):
    folder = _folder_stating(models_dir, tiny_pipeline_dir, "predicts-samples", "sample")
    result = run_sdkit(capsys, "models", "show", str(folder))
    assert result.exit_code == 2, result.output
    assert "'sample'" in result.stderr and "scheduler_config.json" in flat(result.stderr)
    listed = {r["name"]: r for r in json.loads(run_sdkit(capsys, "models", "list", "--json", "--no-hash").stdout)}
    assert listed["predicts-samples"]["unreadable"] is True and "'sample'" in listed["predicts-samples"]["problem"]
