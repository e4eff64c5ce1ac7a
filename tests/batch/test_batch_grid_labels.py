"""Grid axis labels read as A1111's X/Y/Z plot writes them."""

from __future__ import annotations

from sdkit.batch.grid import _value_label


def test_numeric_axes_name_their_parameter_and_samplers_stand_alone():
    assert _value_label("cfg_scale", 7.5) == "CFG Scale: 7.5"
    assert _value_label("steps", 20) == "Steps: 20"
    assert _value_label("mask_blur", 4) == "Mask blur: 4"
    assert _value_label("sampler", "Euler a") == "Euler a"
    assert _value_label(None, "x") == "x"
