"""Image modes, alpha, non-native scales and bad images."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from sdkit.core.errors import UserInputError
from sdkit.files.images import open_image
from sdkit.upscale import load_upscaler, upscale_with


@pytest.fixture
def upscaler(weight_files):
    return load_upscaler(weight_files["fast_x4"])


def colourful(width: int = 16, height: int = 12) -> np.ndarray:
    return np.random.default_rng(5).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_rgba_keeps_its_mode_and_its_alpha_is_resized_not_invented(upscaler):
    alpha = np.zeros((12, 16), dtype=np.uint8)
    alpha[:, 8:] = 255  # left half transparent, right half opaque
    image = Image.fromarray(np.dstack([colourful(), alpha]))
    result, _ = upscale_with(upscaler, image, tile=0)
    assert result.mode == "RGBA" and result.size == (64, 48)
    out_alpha = np.asarray(result.getchannel("A"))
    assert (out_alpha[:, :28] == 0).all() and (out_alpha[:, 36:] == 255).all()
    # the colour is what the same RGB image gives: alpha never goes through the model
    rgb_only, _ = upscale_with(upscaler, Image.fromarray(colourful()), tile=0)
    assert np.array_equal(np.asarray(result.convert("RGB")), np.asarray(rgb_only))


def test_uniform_translucency_is_kept(upscaler):
    image = Image.new("RGBA", (10, 8), (20, 200, 90, 128))
    result, _ = upscale_with(upscaler, image, tile=0)
    assert np.all(np.asarray(result.getchannel("A")) == 128)


@pytest.mark.parametrize("mode, expected", [
    ("L", "L"), ("LA", "LA"), ("1", "1"), ("I;16", "I;16"), ("CMYK", "RGB"), ("P", "RGB"), ("RGB", "RGB"),
])
def test_output_keeps_the_input_mode_where_it_can(upscaler, mode, expected):
    image = Image.fromarray(colourful()).convert(mode)
    result, _ = upscale_with(upscaler, image, tile=0)
    assert result.mode == expected and result.size == (64, 48)


def test_greyscale_goes_through_the_colour_model_and_stays_grey(upscaler):
    grey = Image.fromarray(colourful()).convert("L")
    result, _ = upscale_with(upscaler, grey, tile=0)
    as_rgb, _ = upscale_with(upscaler, grey.convert("RGB"), tile=0)
    # grey out = the mean of the model's three output channels for the grey image given as RGB
    expected = np.asarray(as_rgb, dtype=np.float64).mean(axis=2)
    assert np.abs(np.asarray(result, dtype=np.float64) - expected).max() <= 1.0


def test_sixteen_bit_grey_keeps_its_precision(upscaler):
    values = (np.linspace(0, 65535, 16 * 12).reshape(12, 16)).astype(np.uint16)
    result, _ = upscale_with(upscaler, Image.fromarray(values), tile=0)
    assert result.mode == "I;16"
    out = np.asarray(result)
    assert out.dtype == np.uint16 and len(np.unique(out)) > 256  # more levels than 8 bits could hold


def test_palette_with_transparency_becomes_rgba(upscaler):
    image = Image.fromarray(colourful()).convert("P")
    image.info["transparency"] = 0
    result, _ = upscale_with(upscaler, image, tile=0)
    assert result.mode == "RGBA"


@pytest.mark.parametrize("scale, size", [(2.5, (40, 30)), (1, (16, 12)), (6, (96, 72))])
def test_other_scales_resize_after_the_model(upscaler, scale, size):
    result, fields = upscale_with(upscaler, Image.fromarray(colourful()), scale=scale, tile=0)
    assert result.size == size
    assert fields["Postprocess upscale by"] == scale


def test_non_native_scale_is_a_lanczos_resize_of_the_native_result(upscaler):
    native, _ = upscale_with(upscaler, Image.fromarray(colourful()), tile=0)
    half, _ = upscale_with(upscaler, Image.fromarray(colourful()), scale=2, tile=0)
    expected = native.resize((32, 24), Image.Resampling.LANCZOS)
    # sdkit resizes the model's float output; Pillow's 8-bit Lanczos rounds twice, hence the small slack
    difference = np.abs(np.asarray(half, dtype=np.int16) - np.asarray(expected, dtype=np.int16))
    assert difference.max() <= 6 and difference.mean() < 0.5


def test_zero_size_image_is_refused(upscaler):
    with pytest.raises(UserInputError, match="no pixels"):
        upscale_with(upscaler, Image.new("RGB", (0, 0)), tile=0)


@pytest.mark.parametrize("content", [b"this is text, not a picture", b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, b""])
def test_files_that_are_not_images_are_refused(tmp_path, content):
    path = tmp_path / "fake.png"
    path.write_bytes(content)
    with pytest.raises(UserInputError) as caught:
        open_image(path)
    assert "not a readable image" in caught.value.message and caught.value.hint


def test_missing_image_and_folder_are_refused(tmp_path):
    with pytest.raises(UserInputError, match="not found"):
        open_image(tmp_path / "missing.png")
    with pytest.raises(UserInputError, match="folder"):
        open_image(tmp_path)


def test_a_greyscale_model_takes_colour_channel_by_channel(tmp_path):
    from upscale_weights import write_compact

    grey_model = load_upscaler(write_compact(tmp_path / "grey_x2.safetensors", scale=2, channels=1))
    assert grey_model.input_channels == 1
    colour = Image.fromarray(colourful())
    result, _ = upscale_with(grey_model, colour, tile=0)
    assert result.mode == "RGB" and result.size == (32, 24)
    red_alone, _ = upscale_with(grey_model, colour.getchannel("R"), tile=0)
    assert red_alone.mode == "L"
    assert np.abs(np.asarray(result)[:, :, 0].astype(int) - np.asarray(red_alone).astype(int)).max() <= 1


def test_a_model_with_four_channels_is_refused(tmp_path):
    from upscale_weights import write_compact

    with pytest.raises(UserInputError, match="4 input and 4 output channels"):
        load_upscaler(write_compact(tmp_path / "rgba_x2.safetensors", scale=2, channels=4))


def test_upscale_image_checks_tile_and_overlap_itself(weight_files):
    from sdkit.upscale import upscale_image

    with pytest.raises(UserInputError, match="less than half the tile"):
        upscale_image(Image.fromarray(colourful()), str(weight_files["fast_x4"]), tile=64, tile_overlap=32)
    with pytest.raises(UserInputError, match="must be in"):
        upscale_image(Image.fromarray(colourful()), str(weight_files["fast_x4"]), scale=0)
