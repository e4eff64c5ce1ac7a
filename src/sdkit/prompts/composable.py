"""A1111's composable prompts: `AND` splits a prompt into sub-prompts, each with its own weight.

Read as A1111 v1.10's prompt_parser reads them (checked by running its get_multicond_prompt_list in a
scratch harness; tests/prompts/test_composable_parse.py):
- the prompt splits at every `AND` that stands as a whole word in capitals (`ANDROID`, `and` do not);
- a sub-prompt that ends in `:NUMBER` (spaces allowed around the colon and after the number) has that
  weight, the text before it is what is encoded; otherwise the weight is 1 and the text is the
  sub-prompt without its trailing spaces (leading spaces stay, CLIP's tokenizer drops them);
- empty sub-prompts (`AND a dog`, `a cat AND`) are kept: they are the empty prompt, weight 1;
- a text written twice is encoded once but counts twice in the sum.
Only the prompt is read this way; A1111 encodes the negative prompt as plain text, `AND` included.
The guidance is `sampling.denoiser`'s: denoised = uncond + Σᵢ (condᵢ − uncond)·(wᵢ·scale).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_AND = re.compile(r"\bAND\b")
# Lazily the text, then an optional `:NUMBER` (A1111's number syntax), then trailing spaces.
_WEIGHTED = re.compile(r"^(.*?)(?:\s*:\s*([-+]?(?:\d+\.?|\d*\.\d+)))?\s*$", re.S)


@dataclass(frozen=True)
class SubPrompt:
    """One part of a composable prompt: the text to encode and its weight in the guidance sum."""

    text: str
    weight: float = 1.0
    weight_written: bool = False  # whether the part ended in `:NUMBER`


def split_composable(prompt: str) -> list[SubPrompt]:
    """The sub-prompts of `prompt` in order (one for a prompt without AND)."""
    parts = []
    for part in _AND.split(prompt):
        text, weight = _WEIGHTED.match(part).groups()
        parts.append(SubPrompt(text, float(weight) if weight is not None else 1.0, weight is not None))
    return parts


def is_composable(parts: list[SubPrompt]) -> bool:
    """Whether the guidance differs from plain CFG: several parts, or one whose weight is not 1."""
    return len(parts) > 1 or parts[0].weight != 1.0
