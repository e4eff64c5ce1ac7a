"""Opening input images: every unusable file is a UserInputError that names it and hints at a fix, huge
images are refused from their header before any decoding, and Pillow's bomb warnings never escape."""

from __future__ import annotations

import errno
import logging
import struct
import subprocess
import sys
import warnings
import zlib
from pathlib import Path

import pytest
from PIL import Image, ImageFile

from sdkit.core.errors import UserInputError
from sdkit.files import images
from sdkit.files.images import DEFAULT_MAX_IMAGE_PIXELS, MAX_PIXELS_VARIABLE, open_image, read_image_size


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A tiny PNG file whose header claims `width` x `height` (a decompression bomb's shape)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
                     + chunk(b"IEND", b""))
    return path


def saved(path: Path, image: Image.Image, **options) -> Path:
    image.save(path, **options)
    return path


def refused(path, **kwargs) -> UserInputError:
    with pytest.raises(UserInputError) as caught:
        open_image(path, **kwargs)
    error = caught.value
    assert error.exit_code == 2 and error.hint
    return error


@pytest.fixture
def no_decoding(monkeypatch):
    """Fail the test if any image data is decoded."""
    def load(self, *args, **kwargs):
        raise AssertionError("the image was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)


def test_a_good_image_is_fully_decoded_and_detached_from_its_file(tmp_path):
    path = saved(tmp_path / "in.png", Image.new("RGBA", (7, 5), (10, 20, 30, 40)))
    image = open_image(path)
    path.unlink()  # the pixels are in memory, not read lazily from the file
    assert (image.size, image.mode, image.getpixel((6, 4))) == ((7, 5), "RGBA", (10, 20, 30, 40))


def test_tilde_is_the_home_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    saved(tmp_path / "photo.png", Image.new("RGB", (4, 4), "red"))
    assert open_image("~/photo.png").getpixel((0, 0)) == (255, 0, 0)
    assert read_image_size("~/photo.png") == (4, 4)


def test_missing_file_says_not_found_and_names_it(tmp_path):
    error = refused(tmp_path / "nope.png")
    assert error.message == f"input image not found: {tmp_path / 'nope.png'}"


def test_a_folder_is_a_folder_not_a_missing_file(tmp_path):
    error = refused(tmp_path, role="mask")
    assert error.message.startswith(f"mask {tmp_path} is a folder")
    assert "not found" not in error.message and "does not exist" not in error.message
    assert "PNG" in error.hint


@pytest.mark.parametrize("content", [b"this is text, not a picture", b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, b""])
def test_files_that_are_not_images_are_refused(tmp_path, content):
    path = tmp_path / "fake.png"
    path.write_bytes(content)
    error = refused(path)
    assert f"input image {path} is not a readable image" in error.message and "PNG" in error.hint


def test_a_truncated_file_fails_when_opened_not_later(tmp_path):
    import numpy as np

    noise = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    whole = saved(tmp_path / "whole.png", Image.fromarray(noise)).read_bytes()
    path = tmp_path / "cut.png"
    path.write_bytes(whole[: len(whole) // 2])
    assert read_image_size(path) == (64, 64)  # the header alone is fine
    error = refused(path)
    assert str(path) in error.message and "truncated" in error.message
    assert "saved again" in error.hint


def test_a_huge_header_is_refused_before_decoding_without_pillow_warnings(tmp_path, no_decoding):
    bomb = png_header_only(tmp_path / "bomb.png", 20000, 20000)  # 400 MP: Pillow itself would raise
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        error = refused(bomb)
        assert read_image_size(bomb) == (20000, 20000)  # the header is read, honestly, but nothing decoded
    assert caught == []  # neither DecompressionBombWarning nor anything else
    assert f"input image {bomb} is too large to open safely: 20000x20000 is 400.0 megapixels" in error.message
    assert f"over the limit of {DEFAULT_MAX_IMAGE_PIXELS / 1e6:g} megapixels" in error.message
    assert MAX_PIXELS_VARIABLE in error.hint and "downscale" in error.hint


def test_the_limit_comes_from_the_environment(tmp_path, monkeypatch):
    path = saved(tmp_path / "in.png", Image.new("L", (40, 30)))  # 1,200 pixels
    monkeypatch.setenv(MAX_PIXELS_VARIABLE, "1199")
    assert "too large" in refused(path).message
    monkeypatch.setenv(MAX_PIXELS_VARIABLE, "1200")
    assert open_image(path).size == (40, 30)


@pytest.mark.parametrize("value", ["lots", "0", "-5", "1.5e6"])
def test_a_bad_limit_in_the_environment_is_named(tmp_path, monkeypatch, value):
    path = saved(tmp_path / "in.png", Image.new("L", (4, 4)))
    monkeypatch.setenv(MAX_PIXELS_VARIABLE, value)
    error = refused(path)
    assert MAX_PIXELS_VARIABLE in error.message and "positive whole number" in error.hint


def test_sdkit_limit_replaces_pillows_and_leaves_it_as_it_was(tmp_path, monkeypatch):
    # Over Pillow's (here lowered) limit but within sdkit's: opened with no warning; Pillow's setting kept.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    path = saved(tmp_path / "in.png", Image.new("RGB", (64, 64), "blue"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert open_image(path).size == (64, 64)
        assert read_image_size(path) == (64, 64)
    assert caught == [] and Image.MAX_IMAGE_PIXELS == 100


def test_a_frame_larger_than_the_header_is_still_caught(tmp_path, monkeypatch):
    # Pillow's check while decoding is the safety net: its error becomes a UserInputError too.
    path = saved(tmp_path / "in.png", Image.new("L", (8, 8)))

    def bomb_while_loading(self, *args, **kwargs):
        Image._decompression_bomb_check((100_000, 100_000))

    monkeypatch.setattr(ImageFile.ImageFile, "load", bomb_while_loading)
    error = refused(path)
    assert "too large to decode safely" in error.message and MAX_PIXELS_VARIABLE in error.hint


def test_an_image_without_pixels_is_refused(tmp_path, monkeypatch):
    path = png_header_only(tmp_path / "empty.png", 0, 0)
    assert "not a readable image" in refused(path).message  # Pillow cannot even identify a 0x0 PNG
    assert read_image_size(path) is None
    # A format that did report no pixels is refused from the header, too.
    monkeypatch.setattr(Image, "open", lambda *args, **kwargs: Image.new("RGB", (0, 0)))
    error = refused(path)
    assert error.message == f"input image {path} has no pixels (0x0)"


def test_an_animated_image_uses_its_first_frame_with_a_warning(tmp_path, caplog):
    frames = [Image.new("RGB", (6, 6), colour) for colour in ("red", "lime", "blue")]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    with caplog.at_level(logging.WARNING, logger=images.__name__):
        image = open_image(path, role="mask")
    assert image.convert("RGB").getpixel((0, 0)) == (255, 0, 0)
    assert f"mask {path} has 3 frames; only the first is used" in caplog.text


def test_an_unreadable_file_says_so(tmp_path, monkeypatch):
    path = saved(tmp_path / "secret.png", Image.new("L", (4, 4)))

    def no_permission(*args, **kwargs):  # as chmod 0 would, for any user but root
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(Image, "open", no_permission)
    error = refused(path)
    assert error.message == f"input image {path} cannot be read: Permission denied"
    assert "permissions" in error.hint


def test_read_image_size_reads_only_the_header(tmp_path, no_decoding):
    assert read_image_size(saved(tmp_path / "wide.png", Image.new("RGB", (99, 72)))) == (99, 72)
    assert read_image_size(str(tmp_path / "wide.png")) == (99, 72)
    (tmp_path / "text.png").write_text("not an image")
    assert read_image_size(tmp_path / "text.png") is None
    assert read_image_size(tmp_path / "missing.png") is None
    assert read_image_size(tmp_path) is None


def test_importing_the_package_stays_light():
    code = ("import sys, sdkit.files.images, sdkit.files.atomic\n"
            "heavy = [name for name in ('PIL', 'numpy', 'torch') if name in sys.modules]\n"
            "assert not heavy, heavy\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_a_named_pipe_is_refused_not_read_for_ever(tmp_path):
    import os

    import pytest

    from sdkit.core.errors import UserInputError
    from sdkit.files.images import open_image, read_image_size

    pipe = tmp_path / "pipe.png"
    os.mkfifo(pipe)
    assert read_image_size(pipe) is None
    with pytest.raises(UserInputError, match="is not a regular file"):
        open_image(pipe)
