"""A1111's emphasis syntax: a prompt as runs of text with attention weights.

`(text)` multiplies by 1.1, `[text]` divides by 1.1, `(text:1.3)` multiplies by 1.3; groups nest and
multiply; a closing bracket with no open group of its kind is plain text; groups still open at the
end are closed there; `\\(` `\\)` `\\[` `\\]` `\\\\` are literal characters; `BREAK` (upper case, a whole
word) ends the current 75-token chunk. Adjacent runs of equal weight are merged. The result is the
same list of pairs A1111's parser gives (shared/reference/a1111-prompts.md §1), multiplied in the same
order so the floats agree to the last bit. Pure Python: no torch, no tokenizer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

BREAK_TEXT = "BREAK"
BREAK_WEIGHT = -1.0  # how a chunk break appears in the run list (A1111 uses the same marker)
ROUND_FACTOR = 1.1
SQUARE_FACTOR = 1 / 1.1

# One token of the emphasis syntax per match, in the order the alternatives must be tried.
_TOKEN = re.compile(
    r"""
    \\\( | \\\) | \\\[ | \\\] | \\\\ | \\   # escapes (a lone backslash stands for nothing)
    | \(                                      # open a x1.1 group
    | \[                                      # open a /1.1 group
    | :\s*([+-]?[.\d]+)\s*\)                  # close a round group with an explicit weight
    | \) | \]                                 # close a group
    | [^\\()\[\]:]+                           # plain text
    | :                                       # a colon that closes nothing is text
    """,
    re.VERBOSE,
)
_BREAK = re.compile(r"\s*\bBREAK\b\s*", re.MULTILINE)


@dataclass(frozen=True)
class Run:
    """A stretch of prompt text and its weight; `is_break` marks a chunk break."""

    text: str
    weight: float

    @property
    def is_break(self) -> bool:
        return self.weight == BREAK_WEIGHT and self.text == BREAK_TEXT

    def as_pair(self) -> list[object]:
        return [self.text, self.weight]


def parse_emphasis(prompt: str) -> list[Run]:
    """The weighted runs of `prompt`, as A1111's `parse_prompt_attention` reads it."""
    runs: list[list[object]] = []  # [text, weight], mutable while groups close
    round_groups: list[int] = []
    square_groups: list[int] = []

    def multiply_from(start: int, factor: float) -> None:
        for run in runs[start:]:
            run[1] = float(run[1]) * factor  # type: ignore[arg-type]

    for match in _TOKEN.finditer(prompt):
        token, explicit_weight = match.group(0), match.group(1)
        if token.startswith("\\"):
            runs.append([token[1:], 1.0])
        elif token == "(":
            round_groups.append(len(runs))
        elif token == "[":
            square_groups.append(len(runs))
        elif explicit_weight is not None and round_groups:
            multiply_from(round_groups.pop(), _number(explicit_weight))
        elif token == ")" and round_groups:
            multiply_from(round_groups.pop(), ROUND_FACTOR)
        elif token == "]" and square_groups:
            multiply_from(square_groups.pop(), SQUARE_FACTOR)
        else:
            for index, part in enumerate(_BREAK.split(token)):
                if index > 0:
                    runs.append([BREAK_TEXT, BREAK_WEIGHT])
                runs.append([part, 1.0])
    for start in round_groups:
        multiply_from(start, ROUND_FACTOR)
    for start in square_groups:
        multiply_from(start, SQUARE_FACTOR)
    if not runs:
        runs = [["", 1.0]]
    merged: list[list[object]] = [runs[0]]
    for run in runs[1:]:
        if run[1] == merged[-1][1]:
            merged[-1][0] = str(merged[-1][0]) + str(run[0])
        else:
            merged.append(run)
    return [Run(str(text), float(weight)) for text, weight in merged]  # type: ignore[arg-type]


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:  # "1.2.3": A1111's float() would fail too; treat it as no weight change
        return 1.0


def has_emphasis(prompt: str) -> bool:
    """Whether the prompt uses brackets at all (A1111 records a non-default emphasis mode only then)."""
    return any(char in prompt for char in "()[]")
