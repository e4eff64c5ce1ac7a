"""`resolve_model`: demo model, paths, models-folder names, hub ids from the local cache, helpful failures."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sdkit.core.errors import UnknownKeyError, UserInputError
from sdkit.models import Family, resolve_model


def _fake_hub_repo(cache: Path, repo_id: str, pipeline: Path) -> Path:
    """Lay `pipeline` out as huggingface_hub's cache does: refs/main -> snapshots/<commit>/."""
    owner, name = repo_id.split("/")
    repo = cache / f"models--{owner}--{name}"
    commit = "0123456789abcdef0123456789abcdef01234567"
    shutil.copytree(pipeline, repo / "snapshots" / commit)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit, encoding="utf-8")
    return repo / "snapshots" / commit


def test_paths_to_folders_and_files_resolve(tiny_pipeline_dir, tiny_single_file):
    folder = resolve_model(str(tiny_pipeline_dir("sdxl")))
    assert (folder.source, folder.format, folder.family) == ("diffusers", "diffusers", Family.SDXL)
    single = resolve_model(tiny_single_file("sd2", prediction_type="v_prediction"))
    assert (single.source, single.format, single.family) == ("single-file", "safetensors", Family.SD2)
    assert single.config_dir == single.path.with_name(single.path.stem + ".config")
    ckpt = resolve_model(tiny_single_file("sd1", inpainting=True, suffix=".ckpt"))
    assert (ckpt.format, ckpt.family, ckpt.inpainting) == ("ckpt", Family.SD1, True)
    assert ckpt.size_bytes == ckpt.path.stat().st_size


def test_names_in_the_models_folder_match_case_insensitively(models_dir, tiny_single_file, tiny_pipeline_dir):
    shutil.copy(tiny_single_file("sd1"), models_dir / "DreamShaper_8.safetensors")
    (models_dir / "checkpoints").mkdir()
    shutil.copytree(tiny_pipeline_dir("sdxl"), models_dir / "checkpoints" / "juggernaut-xl")
    assert resolve_model("dreamshaper_8").path == models_dir / "DreamShaper_8.safetensors"
    assert resolve_model("DreamShaper_8.safetensors").family is Family.SD1
    nested = resolve_model("Juggernaut-XL")
    assert (nested.path, nested.family) == (models_dir / "checkpoints" / "juggernaut-xl", Family.SDXL)


def test_names_cannot_escape_the_models_folder(tmp_path, models_dir, tiny_single_file, monkeypatch):
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(tiny_single_file("sd1"), outside / "secret.safetensors")
    monkeypatch.chdir(models_dir)
    for reference in ("secret", "../outside/secret", "..", "/"):
        with pytest.raises(UserInputError):
            resolve_model(reference)
    # A real path is the user's own choice and still works.
    assert resolve_model(str(outside / "secret.safetensors")).name == "secret"


def test_reserved_subfolders_and_sidecars_are_not_models(models_dir, tiny_single_file):
    for folder in ("vae", "upscale"):
        (models_dir / folder).mkdir()
        shutil.copy(tiny_single_file("sd1"), models_dir / folder / f"in-{folder}.safetensors")
    with pytest.raises(UnknownKeyError):
        resolve_model("in-vae")
    with pytest.raises(UnknownKeyError):
        resolve_model("in-upscale")


def test_an_unknown_name_lists_what_there_is_with_did_you_mean(models_dir, tiny_single_file):
    shutil.copy(tiny_single_file("sd1"), models_dir / "realistic-vision.safetensors")
    with pytest.raises(UnknownKeyError) as caught:
        resolve_model("realistic-vison")
    assert "did you mean 'realistic-vision'" in caught.value.message
    assert "realistic-vision" in caught.value.hint and str(models_dir) in caught.value.hint


def test_an_unknown_name_in_an_empty_folder_says_where_it_looked(models_dir):
    with pytest.raises(UnknownKeyError) as caught:
        resolve_model("anything")
    assert str(models_dir) in caught.value.hint and "SDKIT_MODELS_DIR" in caught.value.hint


def test_an_ambiguous_name_asks_for_the_path(models_dir, tiny_single_file, tiny_pipeline_dir):
    shutil.copy(tiny_single_file("sd1"), models_dir / "twin.safetensors")
    shutil.copytree(tiny_pipeline_dir("sd1"), models_dir / "twin")
    with pytest.raises(UserInputError) as caught:
        resolve_model("twin")
    assert "matches 2 models" in caught.value.message and "path" in caught.value.hint


def test_a_hub_id_in_the_local_cache_resolves_offline(private_hub_cache, tiny_pipeline_dir):
    snapshot = _fake_hub_repo(private_hub_cache, "someone/tiny-xl", tiny_pipeline_dir("sdxl"))
    ref = resolve_model("someone/tiny-xl")
    assert (ref.name, ref.source, ref.path, ref.family) == ("someone/tiny-xl", "hub", snapshot, Family.SDXL)


def test_a_hub_id_not_in_the_cache_says_how_to_get_the_model():
    with pytest.raises(UserInputError) as caught:
        resolve_model("stabilityai/stable-diffusion-xl-base-1.0")
    error = caught.value
    assert "not in the local Hugging Face cache" in error.message and "never downloads" in error.message
    assert "--model" in error.hint and "hf download stabilityai/stable-diffusion-xl-base-1.0" in error.hint


def test_the_demo_folder_goes_by_the_demo_models_name():
    from sdkit.demo import DEMO_MODEL_DIR, DEMO_MODEL_NAME

    ref = resolve_model(str(DEMO_MODEL_DIR))
    assert ref.name == DEMO_MODEL_NAME and ref.path == DEMO_MODEL_DIR and ref.family == "sd1"


def test_an_empty_reference_is_refused():
    with pytest.raises(UserInputError, match="empty"):
        resolve_model("  ")


def test_existing_files_that_are_not_models_are_named(tmp_path):
    picture = tmp_path / "cat.png"
    picture.write_bytes(b"\x89PNG\r\n")
    with pytest.raises(UserInputError) as caught:
        resolve_model(str(picture))
    assert str(picture) in caught.value.message and "diffusers folder" in caught.value.hint


@pytest.mark.parametrize("reference", ["./missing.safetensors", "/nowhere/model.ckpt", "models/some/thing"])
def test_a_path_that_does_not_exist_says_so(reference):
    with pytest.raises(UserInputError) as caught:
        resolve_model(reference)
    assert "no such file or folder" in caught.value.message and "sdkit models list" in caught.value.hint


def test_overrides_replace_guessed_values(tiny_single_file):
    ref = resolve_model(tiny_single_file("sd2", prediction_type="v_prediction"))
    assert ref.guessed == ("prediction_type",)
    fixed = ref.with_overrides(prediction_type="epsilon")
    assert (fixed.prediction_type, fixed.guessed) == ("epsilon", ())
    with pytest.raises(UserInputError):
        ref.with_overrides(prediction_type="x0")
