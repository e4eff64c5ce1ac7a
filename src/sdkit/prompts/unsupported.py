"""Parts of A1111's prompt language sdkit does not read under ComfyUI's and diffusers' sampler names.

`AND` (composable diffusion: one prediction per sub-prompt, weighted and summed) is read by A1111
where it stands as a whole word in capitals; sdkit reads it so under A1111's sampler names
(`prompts.composable`), and elsewhere encodes it as the word "AND". Saying so beats a silently
different picture.

The same reading gives a prompt that ends in `:NUMBER` (`ratio 16:9`, `a cat :1.5`) a composable weight
even without `AND`: A1111 (v1.10's prompt_parser.re_weight, checked by running it) encodes the text
without that ending and multiplies the guidance, (cond − uncond), by NUMBER. sdkit does so under
A1111's sampler names; elsewhere it keeps the ending as text and the guidance as it is, and says so.
"""

from __future__ import annotations

import re

_COMPOSABLE_AND = re.compile(r"\bAND\b")
_TRAILING_WEIGHT = re.compile(r":\s*([-+]?(?:\d+\.?|\d*\.\d+))\s*$")  # A1111's re_weight, its weight part


def unsupported_syntax(prompt: str) -> list[str]:
    """One warning per kind of A1111 syntax in `prompt` that sdkit reads as plain text."""
    if _COMPOSABLE_AND.search(prompt):
        return ["AND (A1111's composable diffusion) is not supported under this sampler: sdkit reads AND only "
                "under A1111's sampler names ('Euler a', 'DPM++ 2M', ...), here it is the word 'AND' "
                "(name an A1111 sampler, write 'and', or split the prompt with BREAK)"]
    trailing = _TRAILING_WEIGHT.search(prompt)
    if trailing:
        return [f"the prompt ends in ':{trailing.group(1)}', which A1111 reads as a composable-diffusion weight "
                f"(the text without it, guidance × {trailing.group(1)}); sdkit reads it so only under A1111's "
                "sampler names and here keeps it as text (add a word or a comma after the number to make "
                "A1111 read it so too)"]
    return []
