"""A1111's composable prompts (`AND`, `:weight`) split as A1111 v1.10's prompt_parser splits them.

Each expected list is what A1111's own get_multicond_prompt_list returned for the prompt (run in a
scratch harness, commit 28bd8e142d5f77b71ae8d7d7140b5da1b3a49906 of modules/prompt_parser.py): the text
each sub-prompt encodes and its weight.
"""

from __future__ import annotations

import pytest

from sdkit.prompts.composable import is_composable, split_composable

KNOWN = [
    ("a cat AND a dog", [("a cat", 1.0), (" a dog", 1.0)]),
    ("a cat AND a dog :1.2", [("a cat", 1.0), (" a dog", 1.2)]),
    ("a cat:0.5 AND a dog : 2 ", [("a cat", 0.5), (" a dog", 2.0)]),
    ("a cat :1.5", [("a cat", 1.5)]),
    ("ratio 16:9", [("ratio 16", 9.0)]),
    ("ANDROID AND android and dog", [("ANDROID", 1.0), (" android and dog", 1.0)]),
    ("AND a dog", [("", 1.0), (" a dog", 1.0)]),
    ("a cat AND", [("a cat", 1.0), ("", 1.0)]),
    ("a cat ANDa dog", [("a cat ANDa dog", 1.0)]),
    ("a AND  AND b", [("a", 1.0), ("", 1.0), (" b", 1.0)]),
    ("x AND x :0.3 AND x", [("x", 1.0), (" x", 0.3), (" x", 1.0)]),
    ("(red:1.2) AND [blue:green:3] :-0.5", [("(red:1.2)", 1.0), (" [blue:green:3]", -0.5)]),
    ("a cat :1", [("a cat", 1.0)]),
    ("a cat :.5 AND b:+3.", [("a cat", 0.5), (" b", 3.0)]),
    ("a\nAND\nb :2\n", [("a", 1.0), ("\nb", 2.0)]),
    ("(a cat:1.2)AND[a dog]", [("(a cat:1.2)", 1.0), ("[a dog]", 1.0)]),
    ("a:5 :2", [("a:5", 2.0)]),
    ("a cat : 1.5x", [("a cat : 1.5x", 1.0)]),
]


@pytest.mark.parametrize("prompt,expected", KNOWN)
def test_split_equals_a1111s(prompt, expected):
    assert [(part.text, part.weight) for part in split_composable(prompt)] == expected


def test_only_several_parts_or_a_weight_other_than_one_change_the_guidance():
    assert is_composable(split_composable("a cat AND a dog"))
    assert is_composable(split_composable("a cat :1.5"))
    assert not is_composable(split_composable("a cat :1"))
    assert not is_composable(split_composable("a red circle, (blue:1.2)"))
    [written] = split_composable("a cat :1")
    assert written.weight_written and written.text == "a cat"
    [plain] = split_composable("a cat ")
    assert not plain.weight_written
