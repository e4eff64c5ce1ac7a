"""Parts of A1111's prompt language sdkit does not do, found so a user hears about them.

`AND` (composable diffusion: one prediction per sub-prompt, weighted and summed) is read by A1111
where it stands as a whole word in capitals; sdkit encodes it as the word "AND". Saying so beats a
silently different picture.
"""

from __future__ import annotations

import re

_COMPOSABLE_AND = re.compile(r"\bAND\b")


def unsupported_syntax(prompt: str) -> list[str]:
    """One warning per kind of A1111 syntax in `prompt` that sdkit reads as plain text."""
    if _COMPOSABLE_AND.search(prompt):
        return ["AND (A1111's composable diffusion) is not supported: sdkit reads it as the word 'AND' "
                "(write 'and', or split the prompt with BREAK)"]
    return []
