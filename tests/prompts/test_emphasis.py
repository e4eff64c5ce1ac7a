"""The emphasis parse against A1111's rules and its documented examples (shared/reference/a1111-prompts.md §1)."""

from __future__ import annotations

import pytest

from sdkit.prompts.emphasis import parse_emphasis

# (prompt, the runs A1111's parse_prompt_attention gives)
CASES = [
    ("normal text", [["normal text", 1.0]]),
    ("an (important) word", [["an ", 1.0], ["important", 1.1], [" word", 1.0]]),
    ("(unbalanced", [["unbalanced", 1.1]]),
    ("\\(literal\\]", [["(literal]", 1.0]]),
    ("(unnecessary)(parens)", [["unnecessaryparens", 1.1]]),
    ("a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).",
     [["a ", 1.0], ["house", 1.5730000000000004], [" ", 1.1], ["on", 1.0], [" a ", 1.1], ["hill", 0.55],
      [", sun, ", 1.1], ["sky", 1.4641000000000006], [".", 1.1]]),
    ("a BREAK b", [["a", 1.0], ["BREAK", -1.0], ["b", 1.0]]),
    ("", [["", 1.0]]),
    ("[blue] background", [["blue", 1 / 1.1], [" background", 1.0]]),
    ("((a:2):0.5)", [["a", 1.0]]),
    ("a (b:-0.5) c", [["a ", 1.0], ["b", -0.5], [" c", 1.0]]),
    ("a ( b : 1.5 ) c", [["a ", 1.0], [" b ", 1.5], [" c", 1.0]]),
    ("unmatched ) and ] and : colon", [["unmatched ) and ] and : colon", 1.0]]),
    ("ratio 16:9 (x)", [["ratio 16:9 ", 1.0], ["x", 1.1]]),
    ("weight without group:1.5)", [["weight without group:1.5)", 1.0]]),
    ("BREAKfast BREAK", [["BREAKfast", 1.0], ["BREAK", -1.0], ["", 1.0]]),
    ("a \\\\ b", [["a \\ b", 1.0]]),
    ("[[x]]", [["x", 1 / 1.1 / 1.1]]),
]


@pytest.mark.parametrize(("prompt", "expected"), CASES)
def test_runs_are_a1111s(prompt, expected):
    assert [run.as_pair() for run in parse_emphasis(prompt)] == expected


def test_the_reference_weights_to_three_places():
    runs = {run.text: round(run.weight, 4) for run in parse_emphasis("a (((house:1.3)) [on] a (hill:0.5), (((sky)))")}
    assert runs["house"] == 1.573 and runs["hill"] == 0.55 and runs["sky"] == 1.4641 and runs["on"] == 1.0
