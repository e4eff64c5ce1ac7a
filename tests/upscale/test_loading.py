"""Loading upscaler weights: the layouts users meet, names in the models folder, and every bad file."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sdkit.core.errors import UnknownKeyError, UserInputError
from sdkit.upscale import load_upscaler, upscale_image
from sdkit.upscale.loading import supported_architectures


def small_image() -> Image.Image:
    values = np.random.default_rng(3).integers(0, 256, (12, 16, 3), dtype=np.uint8)
    return Image.fromarray(values)


@pytest.mark.parametrize("layout", ["x4plus_pth", "x4plus_params", "x4plus_safetensors", "old_style"])
def test_each_x4_layout_loads_as_esrgan_with_the_same_output(weight_files, layout):
    reference, _ = upscale_image(small_image(), str(weight_files["x4plus_pth"]), tile=0)
    upscaler = load_upscaler(weight_files[layout])
    assert (upscaler.architecture, upscaler.scale) == ("ESRGAN", 4)
    assert "2nb" in upscaler.tags
    result, fields = upscale_image(small_image(), str(weight_files[layout]), tile=0)
    assert result.size == (64, 48)
    assert np.array_equal(np.asarray(result), np.asarray(reference))  # same weights, same pixels
    assert fields["Postprocess upscaler"] == weight_files[layout].stem


def test_anime_6b_and_x2plus_are_detected(weight_files):
    anime = load_upscaler(weight_files["anime_6b"])
    assert anime.scale == 4 and "6nb" in anime.tags
    x2 = load_upscaler(weight_files["x2plus"])
    assert x2.architecture == "ESRGAN" and x2.scale == 2  # pixel-unshuffle variant
    result, fields = upscale_image(small_image(), str(weight_files["x2plus"]), tile=0)
    assert result.size == (32, 24) and fields["Postprocess upscale by"] == 2


def test_loaded_models_are_cached_per_process(weight_files):
    assert load_upscaler(weight_files["fast_x4"]) is load_upscaler(weight_files["fast_x4"])


def test_names_are_found_in_the_models_folder_by_stem_ignoring_case(installed_x4):
    assert load_upscaler("realesrgan_X4PLUS").path == installed_x4
    assert load_upscaler("RealESRGAN_x4plus.pth").path == installed_x4


def test_unknown_name_says_where_weights_belong(installed_x4, upscale_folder):
    with pytest.raises(UnknownKeyError) as caught:
        load_upscaler("RealESRGAN_x4plu")
    assert "RealESRGAN_x4plus" in caught.value.message  # did you mean
    assert str(upscale_folder) in caught.value.hint


def test_a_name_cannot_escape_the_models_folder(upscale_folder, weight_files, tmp_path, monkeypatch):
    outside = upscale_folder.parent / "secret.pth"
    outside.write_bytes(weight_files["fast_x4"].read_bytes())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # names are matched against the folder's files, never joined to it
    for name in (f"..{os.sep}secret", "../secret", "../secret.pth", "secret"):
        with pytest.raises(UserInputError):
            load_upscaler(name)


def test_missing_file_and_missing_model_point_to_the_folder(upscale_folder, tmp_path):
    with pytest.raises(UserInputError) as caught:
        load_upscaler(str(tmp_path / "nowhere" / "x4.pth"))
    assert "not found" in caught.value.message and str(upscale_folder) in caught.value.hint
    with pytest.raises(UserInputError) as caught:
        load_upscaler(None)
    assert str(upscale_folder) in caught.value.hint


def test_unknown_architecture_names_the_supported_ones(tmp_path):
    path = tmp_path / "mystery.safetensors"
    from safetensors.torch import save_file

    save_file({"encoder.weight": torch.zeros(4, 4), "decoder.bias": torch.zeros(4)}, str(path))
    with pytest.raises(UserInputError) as caught:
        load_upscaler(path)
    assert "unknown upscaler architecture" in caught.value.message
    for arch in ("ESRGAN", "SwinIR", "HAT"):
        assert arch in caught.value.hint
    assert "ESRGAN" in supported_architectures()


class _RunsCode:
    """Pickles into a call of Path.touch: loading the file would create the marker."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_pickle_that_runs_code_is_refused_and_does_not_run(tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "evil.pth"
    torch.save({"params_ema": {"conv_first.weight": torch.zeros(1)}, "payload": _RunsCode(marker)}, path)
    with open(path, "rb") as stream:  # the payload really is in the file
        assert b"touch" in stream.read()
    with pytest.raises(UserInputError) as caught:
        load_upscaler(path)
    assert "refused" in caught.value.message and ".safetensors" in caught.value.hint
    assert not marker.exists()


@pytest.mark.parametrize("name, content, expected", [
    ("garbage.pth", b"not a zip and not a pickle" * 10, "not a readable PyTorch weight file"),
    ("garbage.safetensors", b"\x00\x01garbage" * 10, "not a readable .safetensors file"),
    ("empty.pth", b"", "empty"),
    ("weights.bin", b"whatever", "unsupported upscaler file type"),
])
def test_broken_files_are_user_errors(tmp_path, name, content, expected):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(UserInputError) as caught:
        load_upscaler(path)
    assert expected in caught.value.message


def test_a_file_that_is_not_a_state_dict_is_refused(tmp_path):
    path = tmp_path / "list.pth"
    torch.save([torch.zeros(2)], path)
    with pytest.raises(UserInputError, match="not a state dict"):
        load_upscaler(path)


@pytest.mark.filterwarnings("ignore:torch.meshgrid")  # spandrel's SwinIR, not ours
@pytest.mark.parametrize("writer, file_name, architecture, scale", [
    ("write_compact", "realesr-general-x4v3.pth", "Compact", 4),
    ("write_swinir", "swinir_x2.safetensors", "SwinIR", 2),
])
def test_other_spandrel_architectures_load_and_upscale(tmp_path, writer, file_name, architecture, scale):
    import upscale_weights

    path = getattr(upscale_weights, writer)(tmp_path / file_name)
    upscaler = load_upscaler(path)
    assert (upscaler.architecture, upscaler.scale) == (architecture, scale)
    result, fields = upscale_image(small_image(), str(path), tile=0)
    assert result.size == (16 * scale, 12 * scale) and fields["Postprocess upscale by"] == scale


def test_a_name_matching_two_files_asks_for_the_file_name(installed_x4, weight_files):
    twin = installed_x4.with_suffix(".safetensors")
    twin.write_bytes(weight_files["x4plus_safetensors"].read_bytes())
    with pytest.raises(UserInputError) as caught:
        load_upscaler("RealESRGAN_x4plus")
    assert "several files" in caught.value.message and "extension" in caught.value.hint
    assert load_upscaler("realesrgan_x4plus.safetensors").path == twin
