"""`load_components`: single files load offline into the same components as their diffusers folders."""

from __future__ import annotations

import shutil

import pytest
from tiny_models import copy_config_folder

from sdkit.core.errors import UnknownKeyError, UserInputError
from sdkit.models import load_components, resolve_model

SD_KEYS = {"unet", "vae", "text_encoder", "tokenizer", "scheduler"}


def _same_weights(first, second) -> bool:
    import torch

    a, b = first.state_dict(), second.state_dict()
    return a.keys() == b.keys() and all(torch.equal(a[key], b[key]) for key in a)


@pytest.mark.parametrize(("family", "inpainting", "suffix"), [
    ("sd1", False, ".safetensors"), ("sd1", True, ".ckpt"), ("sd2", False, ".safetensors"),
    ("sdxl", False, ".safetensors"), ("sdxl", True, ".safetensors"),
])
def test_a_single_file_loads_the_same_components_as_its_folder(tiny_pipeline_dir, tiny_single_file, family,
                                                               inpainting, suffix):
    prediction = "v_prediction" if family == "sd2" else "epsilon"
    from_folder = load_components(resolve_model(str(tiny_pipeline_dir(family, inpainting, prediction))))
    from_file = load_components(resolve_model(str(tiny_single_file(family, inpainting, prediction, suffix))))
    expected = SD_KEYS | ({"text_encoder_2", "tokenizer_2"} if family == "sdxl" else set())
    assert set(from_folder) == set(from_file) == expected
    for name in expected - {"tokenizer", "tokenizer_2", "scheduler"}:
        assert _same_weights(from_folder[name], from_file[name]), name
    assert from_file["unet"].config.in_channels == (9 if inpainting else 4)
    assert from_file["scheduler"].config.prediction_type == prediction
    assert from_file["tokenizer"]("a cat").input_ids == from_folder["tokenizer"]("a cat").input_ids


def test_a_folder_with_only_fp16_variant_weights_loads(tmp_path, tiny_pipeline_dir):
    import torch
    from diffusers import StableDiffusionPipeline

    pipeline = StableDiffusionPipeline.from_pretrained(tiny_pipeline_dir("sd1"), torch_dtype=torch.float16)
    pipeline.save_pretrained(tmp_path / "fp16-only", variant="fp16")
    assert not (tmp_path / "fp16-only" / "unet" / "diffusion_pytorch_model.safetensors").exists()
    components = load_components(resolve_model(str(tmp_path / "fp16-only")), torch_dtype=torch.float16)
    assert components["unet"].dtype == torch.float16


def test_torch_dtype_is_applied(tiny_single_file):
    import torch

    components = load_components(resolve_model(str(tiny_single_file("sd1"))), torch_dtype=torch.bfloat16)
    assert components["unet"].dtype == torch.bfloat16 and components["text_encoder"].dtype == torch.bfloat16


def test_a_prediction_type_override_reaches_the_scheduler(tiny_single_file):
    ref = resolve_model(str(tiny_single_file("sd2", prediction_type="v_prediction")))
    components = load_components(ref.with_overrides(prediction_type="epsilon"))
    assert components["scheduler"].config.prediction_type == "epsilon"


def test_without_a_sidecar_the_bundled_family_config_and_real_clip_tokenizer_are_used(
        tmp_path, monkeypatch, tiny_pipeline_dir, tiny_single_file):
    """Stand a tiny config in for the shipped SD 1.x one: loading must assemble it with CLIP's vocabulary."""
    import sdkit.models.family_configs as family_configs

    shipped = tmp_path / "configs"
    copy_config_folder(tiny_pipeline_dir("sd1"), shipped / "sd1")
    for name in ("vocab.json", "merges.txt", "tokenizer.json"):
        (shipped / "sd1" / "tokenizer" / name).unlink(missing_ok=True)
    monkeypatch.setattr(family_configs, "CONFIGS_DIR", shipped)
    path = tmp_path / "plain.safetensors"
    shutil.copy(tiny_single_file("sd1"), path)
    ref = resolve_model(str(path))
    assert ref.config_dir is None
    components = load_components(ref)
    assert len(components["tokenizer"]) == 49408
    assert components["tokenizer"]("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]
    reference = load_components(resolve_model(str(tiny_pipeline_dir("sd1"))))
    assert _same_weights(components["unet"], reference["unet"])


def _vae_only_file(tmp_path, tiny_single_file, family="sd1"):
    """A VAE-only .safetensors as VAE downloads come: the LDM VAE keys without their prefix, other weights."""
    import torch
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(tiny_single_file(family)))
    vae = {key.removeprefix("first_stage_model."): torch.full_like(value, 0.5)
           for key, value in tensors.items() if key.startswith("first_stage_model.")}
    path = tmp_path / "my-vae.safetensors"
    save_file(vae, str(path))
    return path


def test_vae_override_from_a_single_file_and_by_name(tmp_path, models_dir, tiny_pipeline_dir, tiny_single_file):
    import torch

    vae_file = _vae_only_file(tmp_path, tiny_single_file)
    for ref_path in (tiny_pipeline_dir("sd1"), tiny_single_file("sd1")):
        vae = load_components(resolve_model(str(ref_path)), vae=str(vae_file))["vae"]
        assert torch.all(vae.decoder.conv_in.weight == 0.5)
    (models_dir / "vae").mkdir()
    shutil.copy(vae_file, models_dir / "vae" / "kl-f8-anime.safetensors")
    vae = load_components(resolve_model(str(tiny_pipeline_dir("sd1"))), vae="KL-F8-anime")["vae"]
    assert torch.all(vae.encoder.conv_in.weight == 0.5)


def test_vae_override_from_a_diffusers_folder(tmp_path, tiny_pipeline_dir, tiny_single_file):
    import torch
    from diffusers import AutoencoderKL

    source = AutoencoderKL.from_pretrained(tiny_pipeline_dir("sd1"), subfolder="vae")
    with torch.no_grad():
        source.decoder.conv_out.bias.fill_(0.25)
    source.save_pretrained(tmp_path / "vae-folder")
    components = load_components(resolve_model(str(tiny_pipeline_dir("sd1"))), vae=str(tmp_path / "vae-folder"))
    assert torch.all(components["vae"].decoder.conv_out.bias == 0.25)
    # a whole pipeline folder works too: its vae/ subfolder is used
    components = load_components(resolve_model(str(tiny_single_file("sd1"))), vae=str(tiny_pipeline_dir("sd1")))
    assert not torch.all(components["vae"].decoder.conv_out.bias == 0.25)
    assert _same_weights(components["vae"], AutoencoderKL.from_pretrained(tiny_pipeline_dir("sd1"), subfolder="vae"))


def test_bad_vae_references_are_clear(tmp_path, tiny_pipeline_dir, tiny_single_file):
    ref = resolve_model(str(tiny_pipeline_dir("sd1")))
    with pytest.raises(UnknownKeyError) as caught:
        load_components(ref, vae="no-such-vae")
    assert "VAE" in caught.value.message
    with pytest.raises(UserInputError) as caught:
        load_components(ref, vae=str(tiny_single_file("sd1").with_name("nothing.safetensors")))
    assert "does not exist" in caught.value.message
    not_vae = tmp_path / "not-vae.safetensors"
    import torch
    from safetensors.torch import save_file

    save_file({"a": torch.zeros(1)}, str(not_vae))
    with pytest.raises(UserInputError) as caught:
        load_components(ref, vae=str(not_vae))
    assert str(not_vae) in caught.value.message and "no VAE" in caught.value.message
