"""Broken, unsafe and wrong files each get a clear error naming the file; pickles never run code."""

from __future__ import annotations

import os
import pickle
import shutil

import pytest
from cli_helpers import run_sdkit

from sdkit.core.errors import UserInputError
from sdkit.models import list_models, load_components, model_short_hash, resolve_model


class RunsCode:
    """Unpickling this calls os.system: what a booby-trapped checkpoint does."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _refused(reference) -> UserInputError:
    with pytest.raises(UserInputError) as caught:
        resolve_model(str(reference))
    return caught.value


@pytest.mark.parametrize("suffix", [".ckpt", ".pt", ".bin"])
def test_a_checkpoint_that_runs_code_when_unpickled_is_refused_and_the_code_never_runs(tmp_path, suffix):
    import torch

    marker = tmp_path / "pwned"
    path = tmp_path / f"evil{suffix}"
    torch.save({"state_dict": {"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(1),
                               "payload": RunsCode(marker)}}, path)
    error = _refused(path)
    assert str(path) in error.message and "refused" in error.message
    assert "safetensors" in error.hint
    assert not marker.exists()


def test_a_plain_pickle_with_a_payload_is_refused_through_the_cli(tmp_path, capsys):
    marker = tmp_path / "pwned"
    path = tmp_path / "legacy.ckpt"
    path.write_bytes(pickle.dumps({"state_dict": RunsCode(marker)}))
    result = run_sdkit(capsys, "models", "show", str(path))
    assert result.exit_code == 2
    stderr = "".join(result.stderr.split())  # the console wraps and folds long lines
    assert "refused" in stderr and "legacy.ckpt" in stderr
    assert "Traceback" not in result.output
    assert not marker.exists()


def test_a_vae_that_runs_code_is_refused_too(tmp_path, tiny_pipeline_dir):
    import torch

    marker = tmp_path / "pwned"
    vae = tmp_path / "vae.pt"
    torch.save({"decoder.conv_in.weight": RunsCode(marker)}, vae)
    ref = resolve_model(str(tiny_pipeline_dir("sd1")))
    with pytest.raises(UserInputError) as caught:
        load_components(ref, vae=str(vae))
    assert "refused" in caught.value.message and str(vae) in caught.value.message
    assert not marker.exists()


@pytest.mark.parametrize("component", ["unet", "text_encoder"])
def test_a_diffusers_folder_with_a_booby_trapped_bin_is_refused(tmp_path, tiny_pipeline_dir, component):
    import torch

    marker = tmp_path / "pwned"
    folder = tmp_path / "trapped"
    shutil.copytree(tiny_pipeline_dir("sd1"), folder)
    weights = next((folder / component).glob("*.safetensors"))
    bin_name = "diffusion_pytorch_model.bin" if component == "unet" else "pytorch_model.bin"
    torch.save({"payload": RunsCode(marker)}, folder / component / bin_name)
    weights.unlink()
    ref = resolve_model(str(folder))
    with pytest.raises(UserInputError) as caught:
        load_components(ref)
    assert str(folder) in caught.value.message and "refused" in caught.value.message
    assert not marker.exists()


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(("name", "make", "expected"), [
    ("empty.safetensors", lambda p, good: _write(p, b""), "empty"),
    ("empty.ckpt", lambda p, good: _write(p, b""), "empty"),
    ("notes.safetensors", lambda p, good: _write(p, b"these are my prompt notes, not weights\n" * 20),
     "not a .safetensors file"),
    ("header.safetensors", lambda p, good: _write(p, (20).to_bytes(8, "little") + b"{not json at all}}}}" + b"0" * 64),
     "not valid JSON"),
    ("cut.safetensors", lambda p, good: _write(p, good.read_bytes()[: good.stat().st_size // 2]), "truncated"),
    ("cut.ckpt", lambda p, good: _write(p, good.read_bytes()[: good.stat().st_size // 2]), "truncated or corrupt"),
    ("garbage.ckpt", lambda p, good: _write(p, os.urandom(4096)), "checkpoint"),
])
def test_broken_files_get_a_clear_error_naming_the_file(tmp_path, tiny_single_file, name, make, expected):
    good = tiny_single_file("sd1", suffix=".ckpt" if name.endswith(".ckpt") else ".safetensors")
    path = make(tmp_path / name, good)
    error = _refused(path)
    assert str(path) in error.message
    assert expected in error.message
    assert error.hint


def test_a_random_tensor_dict_is_not_a_model(tmp_path):
    import torch
    from safetensors.torch import save_file

    path = tmp_path / "random.safetensors"
    save_file({"layer.weight": torch.randn(4, 4), "layer.bias": torch.randn(4)}, str(path))
    error = _refused(path)
    assert str(path) in error.message and "no Stable Diffusion UNet" in error.message
    assert "SD" in error.hint or "Stable Diffusion" in error.hint


def test_a_unet_with_the_wrong_input_layer_is_not_a_model(tmp_path):
    import torch
    from safetensors.torch import save_file

    path = tmp_path / "odd.safetensors"
    save_file({"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(8, 3, 3, 3)}, str(path))
    assert "4 input channels" in _refused(path).message


def test_partial_checkpoints_say_what_is_missing(tmp_path, tiny_single_file):
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(tiny_single_file("sd1")))
    no_vae = {key: value for key, value in tensors.items() if not key.startswith("first_stage_model.")}
    save_file(no_vae, str(tmp_path / "no-vae.safetensors"))
    assert "lacks the VAE" in _refused(tmp_path / "no-vae.safetensors").message
    unet_only = {key: value for key, value in tensors.items() if key.startswith("model.diffusion_model.")}
    save_file(unet_only, str(tmp_path / "unet-only.safetensors"))
    assert "no text encoder" in _refused(tmp_path / "unet-only.safetensors").message


def test_lora_and_vae_files_given_as_models_are_named_as_such(tmp_path):
    import torch
    from safetensors.torch import save_file

    save_file({"lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": torch.zeros(4, 4)},
              str(tmp_path / "style.safetensors"))
    assert "LoRA" in _refused(tmp_path / "style.safetensors").message
    save_file({"encoder.conv_in.weight": torch.zeros(4, 3, 3, 3), "decoder.conv_in.weight": torch.zeros(4, 4, 3, 3)},
              str(tmp_path / "vae-ft-mse.safetensors"))
    error = _refused(tmp_path / "vae-ft-mse.safetensors")
    assert "VAE-only" in error.message and "--vae" in error.message


def test_weights_that_do_not_fit_the_config_fail_with_the_file_and_family(tmp_path, tiny_single_file):
    """A tiny checkpoint without its sidecar is loaded with the full-size SD 1.x config: a clear error."""
    path = tmp_path / "lonely.safetensors"
    shutil.copy(tiny_single_file("sd1"), path)
    ref = resolve_model(str(path))
    assert ref.config_dir is None
    with pytest.raises(UserInputError) as caught:
        load_components(ref)
    assert str(path) in caught.value.message and "sd1" in caught.value.message
    assert "lonely.config" in caught.value.hint


def _snapshot(folder):
    return sorted((str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns)
                  for p in folder.rglob("*"))


def test_nothing_is_written_into_the_models_folder(models_dir, tiny_single_file, tiny_pipeline_dir, capsys):
    shutil.copy(tiny_single_file("sd1"), models_dir / "tiny.safetensors")
    shutil.copytree(tiny_single_file("sd1").with_name(tiny_single_file("sd1").stem + ".config"),
                    models_dir / "tiny.config")
    shutil.copytree(tiny_pipeline_dir("sd2", prediction_type="v_prediction"), models_dir / "tiny-folder")
    (models_dir / "broken.safetensors").write_bytes(b"")
    before = _snapshot(models_dir)
    assert {ref.name for ref in list_models()} == {"tiny", "tiny-folder"}  # the broken file is skipped
    assert run_sdkit(capsys, "models", "list", "--json").exit_code == 0
    for name in ("tiny", "tiny-folder"):
        ref = resolve_model(name)
        assert model_short_hash(ref)
        assert set(load_components(ref)) >= {"unet", "vae", "text_encoder", "tokenizer", "scheduler"}
    assert _snapshot(models_dir) == before
