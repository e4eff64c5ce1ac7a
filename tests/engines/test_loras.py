"""LoRA, LoCon, LoHa and LoKr files through `sdkit generate`, on the bundled demo model and a tiny SDXL model.

The files are built by tests/lora_files.py from the models' own layers (random weights, kohya's names).
Runs share one process, as a batch or a server does, so a LoRA left active would show in the next image.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from cli_helpers import run_sdkit
from lora_files import write_diffusers_lora, write_loha, write_lokr, write_lora
from PIL import Image

from sdkit.demo import DEMO_MODEL_DIR
from sdkit.outputs.infotext import read_infotext
from sdkit.run import execute

PROMPT = "a red circle on a blue background"
WEIGHTED = "a (red:1.3) circle on a blue background"  # encoded by sdkit, not by the pipeline


@pytest.fixture(scope="module")
def lora_models(tmp_path_factory, tiny_pipeline_dir):
    root = tmp_path_factory.mktemp("lora-models")
    folder = root / "Lora"
    write_lora(DEMO_MODEL_DIR, folder / "detail.safetensors")
    write_lora(DEMO_MODEL_DIR, folder / "locon.safetensors", convolutions=True, seed=1)
    write_loha(DEMO_MODEL_DIR, folder / "hada.safetensors", seed=2)
    write_lokr(DEMO_MODEL_DIR, folder / "kron.safetensors", seed=3)
    write_diffusers_lora(DEMO_MODEL_DIR, folder / "peft_style", seed=6)  # a folder, named after itself
    write_lora(tiny_pipeline_dir("sd1"), folder / "narrow.safetensors")  # SD 1.x names, other widths
    sdxl = tiny_pipeline_dir("sdxl")
    write_lora(sdxl, folder / "xl.safetensors", seed=4)
    write_loha(sdxl, folder / "xl_hada.safetensors", seed=5)
    return root


@pytest.fixture
def models(lora_models, monkeypatch):
    monkeypatch.setenv("SDKIT_MODELS_DIR", str(lora_models))
    return lora_models


@pytest.fixture
def fresh_process(monkeypatch):
    """A model cache of this test's own: the first image is made before any LoRA was ever loaded."""
    monkeypatch.setattr(execute, "_loaded_models", {})
    return execute


def make(capsys, tmp_path, prompt, *args, code=0):
    out = tmp_path / f"out-{len(list(tmp_path.glob('out-*')))}"
    text = () if prompt is None else (prompt,)  # None: the prompt --from-image recalls
    result = run_sdkit(capsys, "generate", *text, "--seed", "5", "--steps", "3", "-o", str(out), "--json", *args)
    assert result.exit_code == code, result.output
    if code:
        return result
    [image] = json.loads(result.stdout)["images"]
    return image["path"]


def pixels(path):
    with Image.open(path) as image:
        return np.asarray(image).copy()


def test_each_format_changes_the_image_and_weight_zero_is_no_lora(capsys, tmp_path, models, fresh_process):
    plain = pixels(make(capsys, tmp_path, PROMPT))
    changed = {name: pixels(make(capsys, tmp_path, f"{PROMPT} <lora:{name}:0.8>"))
               for name in ("detail", "locon", "hada", "kron", "peft_style")}
    for name, image in changed.items():
        assert not np.array_equal(image, plain), name
    assert not np.array_equal(changed["detail"], changed["locon"])  # LoCon's convolution layers act too
    for name in changed:
        assert np.array_equal(pixels(make(capsys, tmp_path, f"{PROMPT} <lora:{name}:0>")), plain), name


def test_an_image_without_loras_after_loras_is_bit_identical_to_never_loading(capsys, tmp_path, models,
                                                                               fresh_process):
    before = [pixels(make(capsys, tmp_path, text)) for text in (PROMPT, WEIGHTED)]
    several = f"{PROMPT} <lora:detail:0.8> <lora:locon:-0.5> <lora:hada:1.4> <lora:kron:1:0.5>"
    assert not np.array_equal(pixels(make(capsys, tmp_path, several)), before[0])
    assert not np.array_equal(pixels(make(capsys, tmp_path, WEIGHTED + " <lora:hada:0.6>")), before[1])
    after = [pixels(make(capsys, tmp_path, text)) for text in (PROMPT, WEIGHTED)]
    assert all(np.array_equal(old, new) for old, new in zip(before, after, strict=True))


def test_text_encoder_and_unet_weights_act_separately(capsys, tmp_path, models, fresh_process):
    plain = pixels(make(capsys, tmp_path, WEIGHTED))
    text_only = pixels(make(capsys, tmp_path, WEIGHTED + " <lora:detail:1:0>"))
    unet_only = pixels(make(capsys, tmp_path, WEIGHTED + " <lora:detail:0:1>"))
    both = pixels(make(capsys, tmp_path, WEIGHTED + " <lora:detail:1>"))
    assert len({image.tobytes() for image in (plain, text_only, unet_only, both)}) == 4
    assert np.array_equal(pixels(make(capsys, tmp_path, WEIGHTED)), plain)  # the text encoder is clean again


def test_a_weight_change_does_not_read_the_file_again(capsys, tmp_path, models, fresh_process, sdkit_home):
    light = pixels(make(capsys, tmp_path, PROMPT, "--lora", "detail:0.4"))
    strong = pixels(make(capsys, tmp_path, PROMPT, "--lora", "detail:1.6"))
    again = pixels(make(capsys, tmp_path, PROMPT, "--lora", "DETAIL:0.4"))
    assert not np.array_equal(light, strong) and np.array_equal(light, again)
    log = (sdkit_home / "logs" / "sdkit.log").read_text(encoding="utf-8")
    assert log.count("detail.safetensors, 68 layers) as adapter") == 1


def test_lora_flags_are_recorded_as_tags_with_hashes_and_from_image_finds_them_by_hash(capsys, tmp_path, models,
                                                                                        monkeypatch):
    from sdkit.networks.lora_files import addnet_hash

    made = make(capsys, tmp_path, PROMPT + " <lora:hada:0.5>", "--lora", "detail:0.7")
    info = read_infotext(made)
    assert info.prompt == PROMPT + " <lora:hada:0.5> <lora:detail:0.7>"
    hashes = {name: addnet_hash(models / "Lora" / f"{name}.safetensors") for name in ("hada", "detail")}
    assert info.fields["Lora hashes"] == f"hada: {hashes['hada']}, detail: {hashes['detail']}"
    assert np.array_equal(pixels(make(capsys, tmp_path, None, "--from-image", made)), pixels(made))

    moved = tmp_path / "moved-models"
    shutil.copytree(models, moved)
    (moved / "Lora" / "detail.safetensors").rename(moved / "Lora" / "sharp.safetensors")
    monkeypatch.setenv("SDKIT_MODELS_DIR", str(moved))
    again = make(capsys, tmp_path, None, "--from-image", made)  # found by its hash under its new name
    assert np.array_equal(pixels(again), pixels(made))
    assert read_infotext(again).prompt == PROMPT + " <lora:hada:0.5> <lora:sharp:0.7>"

    (moved / "Lora" / "hada.safetensors").unlink()
    failed = make(capsys, tmp_path, None, "--from-image", made, "--dry-run", code=2)
    assert f"made with LoRA 'hada' [{hashes['hada']}], which is not in" in " ".join(failed.stderr.split())


def test_a_lora_for_another_model_is_refused_and_leaves_the_model_clean(capsys, tmp_path, models, fresh_process):
    plain = pixels(make(capsys, tmp_path, PROMPT))
    family = make(capsys, tmp_path, PROMPT + " <lora:xl>", "--dry-run", code=2)  # before torch is needed
    assert "is made for SDXL models, but the model sdkit-shapes is SD 1.x" in " ".join(family.stderr.split())
    narrow = make(capsys, tmp_path, PROMPT, "--lora", "narrow", code=2)
    assert "'narrow' (narrow.safetensors) does not fit the model sdkit-shapes: size mismatch" in " ".join(
        narrow.stderr.split())
    assert np.array_equal(pixels(make(capsys, tmp_path, PROMPT)), plain)


def test_sdxl_loras_with_two_text_encoders_load(capsys, tmp_path, models, fresh_process, tiny_pipeline_dir):
    from sdkit.engines.sd.loras import _tuner_layers

    model = ("--model", str(tiny_pipeline_dir("sdxl")), "-W", "64", "-H", "64")
    plain = pixels(make(capsys, tmp_path, WEIGHTED, *model))
    for name in ("xl", "xl_hada"):
        assert not np.array_equal(pixels(make(capsys, tmp_path, f"{WEIGHTED} <lora:{name}:1:0>", *model)), plain)
    [loaded] = fresh_process._loaded_models.values()
    for adapter in loaded.lora_adapters.values():
        assert adapter.parts == {"unet", "text_encoder", "text_encoder_2"}
        assert _tuner_layers(loaded.components["text_encoder_2"], adapter.name)
    assert np.array_equal(pixels(make(capsys, tmp_path, WEIGHTED, *model)), plain)


def test_a_preset_sets_loras_as_the_flag_does(capsys, tmp_path, models):
    preset = tmp_path / "styled.yaml"
    preset.write_text("schema_version: 1\ntask: txt2img\nparams:\n  loras: ['hada:0.6', 'detail']\n", encoding="utf-8")
    from_preset = make(capsys, tmp_path, PROMPT, "--preset", str(preset))
    from_flags = make(capsys, tmp_path, PROMPT, "--lora", "hada:0.6", "--lora", "detail")
    assert np.array_equal(pixels(from_preset), pixels(from_flags))
    assert read_infotext(from_preset).prompt == PROMPT + " <lora:hada:0.6> <lora:detail:1>"


def test_a_process_that_meets_many_loras_drops_the_least_recently_used(capsys, tmp_path, models, fresh_process,
                                                                       sdkit_home, monkeypatch):
    from sdkit.engines.sd import loras

    monkeypatch.setattr(loras, "MAX_LOADED_ADAPTERS", 1)
    plain = pixels(make(capsys, tmp_path, PROMPT))
    first = pixels(make(capsys, tmp_path, PROMPT + " <lora:hada:0.7>"))
    pixels(make(capsys, tmp_path, PROMPT + " <lora:kron:0.7>"))  # hada is dropped
    assert np.array_equal(pixels(make(capsys, tmp_path, PROMPT)), plain)
    assert np.array_equal(pixels(make(capsys, tmp_path, PROMPT + " <lora:hada:0.7>")), first)  # read again
    log = (sdkit_home / "logs" / "sdkit.log").read_text(encoding="utf-8")
    assert log.count("hada.safetensors, 108 layers) as adapter") == 2 and "dropping LoRA adapter" in log
    [loaded] = fresh_process._loaded_models.values()
    assert len(loaded.lora_adapters) == 1
