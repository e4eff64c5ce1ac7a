"""Which channel an inpaint mask is read from: its alpha only where the alpha varies, and sdkit says which.

An opaque RGBA mask (a white-on-black drawing saved with an alpha channel) used to be read from its
alpha, which is white everywhere, so the whole image was repainted without a word.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
from cli_helpers import run_sdkit
from PIL import Image

from sdkit.engines.sd.inputs import inpaint_mask

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # numpy 2 notes from inside diffusers

SQUARE = (16, 16, 48, 48)


def square_mask() -> Image.Image:
    """White square (repainted) on black (kept), greyscale."""
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, SQUARE)
    return mask


def opaque_rgba(mask: Image.Image) -> Image.Image:
    return mask.convert("RGBA")  # alpha 255 everywhere


def transparent_background() -> Image.Image:
    """Black paint on a transparent background: the area is only in the alpha channel."""
    image = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    image.paste((0, 0, 0, 255), SQUARE)
    return image


def test_an_opaque_rgba_mask_is_read_from_its_brightness(caplog):
    with caplog.at_level(logging.INFO, logger="sdkit"):
        mask = inpaint_mask(opaque_rgba(square_mask()), (64, 64), 0, "m.png")
    assert np.array_equal(np.asarray(mask), np.asarray(square_mask()))
    assert "read from its brightness" in caplog.text and "alpha channel is 255 everywhere" in caplog.text
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]


def test_a_varying_alpha_is_used_with_a_warning(caplog):
    with caplog.at_level(logging.INFO, logger="sdkit"):
        mask = inpaint_mask(transparent_background(), (64, 64), 0, "m.png")
    assert np.array_equal(np.asarray(mask), np.asarray(square_mask()))
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert warnings == ["mask m.png: read from its alpha channel (opaque is repainted, transparent is kept), "
                        "not from its brightness"]


@pytest.mark.parametrize("mode", ["L", "RGB", "LA"])
def test_masks_without_a_varying_alpha_keep_their_brightness(mode):
    source = square_mask().convert(mode)
    assert np.array_equal(np.asarray(inpaint_mask(source, (64, 64), 0, "m.png")), np.asarray(square_mask()))


def test_later_batches_do_not_repeat_the_message(caplog):
    with caplog.at_level(logging.INFO, logger="sdkit"):
        inpaint_mask(transparent_background(), (64, 64), 0, "m.png", announce=False)
    assert not [record for record in caplog.records if record.levelno >= logging.INFO]


def test_generate_with_an_opaque_rgba_mask_repaints_only_the_white(capsys, tiny_pipeline_dir, tmp_path):
    """Through the CLI: the opaque RGBA mask gives the very image its greyscale twin gives, not a full repaint."""
    Image.new("RGB", (64, 64), (200, 30, 30)).save(tmp_path / "in.png")
    square_mask().save(tmp_path / "grey.png")
    opaque_rgba(square_mask()).save(tmp_path / "rgba.png")
    Image.new("L", (64, 64), 255).save(tmp_path / "all.png")
    transparent_background().save(tmp_path / "alpha.png")

    def inpaint(mask_name: str):
        out_dir = tmp_path / mask_name.removesuffix(".png")
        result = run_sdkit(capsys, "generate", "--model", str(tiny_pipeline_dir("sd1")), "--prompt", "a fox",
                           "--image", str(tmp_path / "in.png"), "--mask", str(tmp_path / mask_name),
                           "--mask-blur", "0", "--steps", "2", "--seed", "3", "-o", str(out_dir))
        assert result.exit_code == 0, result.output
        (saved,) = out_dir.glob("*.png")
        return np.asarray(Image.open(saved).convert("RGB")), result

    grey, _ = inpaint("grey.png")
    rgba, rgba_result = inpaint("rgba.png")
    everything, _ = inpaint("all.png")
    alpha, alpha_result = inpaint("alpha.png")
    assert np.array_equal(rgba, grey)
    assert not np.array_equal(rgba, everything)
    assert np.array_equal(alpha, grey)
    assert "read from its alpha channel" in alpha_result.stderr
    assert "alpha channel" not in rgba_result.stderr
