"""`<lora:...>` tags are found, weighed and removed from the text; bad weights are bad input."""

from __future__ import annotations

import pytest

from sdkit.core.errors import UserInputError
from sdkit.prompts.networks import extract_networks


def test_lora_tags_are_removed_with_their_weights():
    text, tags, unknown = extract_networks("a cat <lora:Detail:0.7>, <lyco:style> <lora:x:0.5:-1> <hypernet:h:1>")
    assert text == "a cat ,   "
    assert [(tag.name, tag.text_encoder_weight, tag.unet_weight) for tag in tags] == [
        ("Detail", 0.7, 0.7), ("style", 1.0, 1.0), ("x", 0.5, -1.0)]
    assert unknown == ["<hypernet:h:1>"]


def test_a_weight_that_is_not_a_number_is_bad_input():
    with pytest.raises(UserInputError, match="'strong' in <lora:detail:strong> is not a number"):
        extract_networks("<lora:detail:strong>")
