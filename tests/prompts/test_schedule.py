"""Prompt editing and alternation per step, against A1111's rules (shared/reference/a1111-prompts.md §4)."""

from __future__ import annotations

import pytest

from sdkit.prompts.schedule import is_scheduled, schedule, text_per_step

CASES = [
    ("a [b:c:1] d", 10, [(1, "a b d"), (10, "a c d")]),
    ("a [b:.5] c", 10, [(5, "a  c"), (10, "a b c")]),
    ("a [b::3] c", 10, [(3, "a b c"), (10, "a  c")]),
    ("[fe|]male", 4, [(1, "female"), (2, "male"), (3, "female"), (4, "male")]),
    ("[a|b|c]", 3, [(1, "a"), (2, "b"), (3, "c")]),
    ("no schedule", 20, [(20, "no schedule")]),
    ("a (red:1.4) [blue] x", 20, [(20, "a (red:1.4) [blue] x")]),
    ("[[a:b:2]:c:4]", 6, [(2, "a"), (4, "b"), (6, "c")]),
    ("[a:(b:1.2):0.25]", 8, [(2, "a"), (8, "(b:1.2)")]),
    ("[a:b: 3 ]", 5, [(3, "a"), (5, "b")]),
    ("[a:b:0.05]", 10, [(10, "b")]),  # int(0.5) = 0: never before
    ("[a:b:30]", 10, [(10, "a")]),  # clipped to the last step
    ("(unbalanced [a:b:2]", 4, [(2, "(unbalanced a"), (4, "(unbalanced b")]),
    ("a | b", 4, [(4, "a | b")]),  # a top-level | does not parse: plain text, as in A1111
    ("ratio 16:9", 5, [(5, "ratio 16:9")]),
    ("[a:b]", 5, [(5, "[a:b]")]),
    # Observed by running A1111 v1.10's own get_learned_conditioning_prompt_schedules (prompt_parser.py,
    # commit 28bd8e14, lark grammar) in a scratch harness, 10 steps; sdkit once read these as plain text.
    ("[a:b:-1]", 10, [(10, "b")]),  # a signed `when` (lark's SIGNED_NUMBER): never before
    ("[a:b:+3]", 10, [(3, "a"), (10, "b")]),
    ("[a:b: -2 ]", 10, [(10, "b")]),
    ("[[a:b:2]", 10, [(2, "[a"), (10, "[b")]),  # one stray `[`, then a schedule
    ("(([a:b:2]", 10, [(2, "((a"), (10, "((b")]),
]


@pytest.mark.parametrize(("prompt", "steps", "expected"), CASES)
def test_schedules_are_a1111s(prompt, steps, expected):
    assert schedule(prompt, steps) == expected


def test_text_per_step_and_is_scheduled():
    assert text_per_step("a [b:c:2]", 3) == ["a b", "a b", "a c"]
    assert is_scheduled("[a|b]") and is_scheduled("x [a:b:3]") and not is_scheduled("(a:1.2) [b]")


def test_deep_nesting_is_plain_text_not_a_crash():
    prompt = "[" * 5000 + "a" + "]" * 5000
    assert schedule(prompt, 4) == [(4, prompt)]


def test_a_when_too_large_for_a_float_is_after_the_last_step():
    assert schedule("[a:b:1e400] fox", 10) == [(10, "a fox")]


def test_a_signed_when_in_the_hires_pass_counts_from_the_first_pass_end():
    # A1111 v1.10 (harness, base 20 steps + hires 10): `[a:b:+3]` is before step 3 − 20: never `a`.
    assert schedule("[a:b:+3]", 10, 20) == [(10, "b")]
