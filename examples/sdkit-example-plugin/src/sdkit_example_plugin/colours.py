"""The palette of the solid-colour engine: colour names, `#rrggbb`, and finding a colour in a prompt."""

from __future__ import annotations

import re

PALETTE: dict[str, tuple[int, int, int]] = {
    "black": (0, 0, 0),
    "white": (255, 255, 255),
    "grey": (128, 128, 128),
    "gray": (128, 128, 128),
    "red": (220, 30, 30),
    "orange": (245, 140, 20),
    "yellow": (245, 220, 30),
    "green": (40, 160, 60),
    "teal": (0, 128, 128),
    "blue": (30, 80, 220),
    "purple": (130, 50, 170),
    "pink": (240, 120, 170),
    "brown": (120, 75, 40),
}
DEFAULT_COLOUR = "grey"

_HEX = re.compile(r"#([0-9a-fA-F]{6})\b")
_WORD = re.compile(r"[a-z]+")


def parse_colour(text: str) -> tuple[int, int, int] | None:
    """A palette name or `#rrggbb` as RGB, or None when `text` is neither."""
    text = text.strip()
    match = _HEX.fullmatch(text)
    if match:
        value = int(match.group(1), 16)
        return (value >> 16) & 0xFF, (value >> 8) & 0xFF, value & 0xFF
    return PALETTE.get(text.lower())


def colour_in_prompt(prompt: str) -> tuple[int, int, int] | None:
    """The first colour a prompt names (`#rrggbb` or a palette word), or None."""
    match = _HEX.search(prompt)
    if match:
        return parse_colour(match.group(0))
    for word in _WORD.findall(prompt.lower()):
        if word in PALETTE:
            return PALETTE[word]
    return None
