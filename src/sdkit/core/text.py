"""Values quoted in messages with a bounded length.

Input comes from other people (preset files, plugins, flags pasted from elsewhere), so anything a
message quotes may be huge: a 1 MB prompt, a list that YAML aliases expand, a hex number of thousands
of digits, a 25,000-character sampler name. Messages quote such values through `quoted` or `clipped`,
which never build more than a few hundred characters, whatever the value holds.
"""

from __future__ import annotations

import reprlib

# Long enough to recognise a value, short enough that a message stays one line.
QUOTE_LIMIT = 80
ELLIPSIS = "…"


class _BoundedRepr(reprlib.Repr):
    """`reprlib` with small limits, and without `repr()` of huge integers (which raises ValueError)."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = 3
        self.maxlist = self.maxtuple = self.maxdict = self.maxset = self.maxfrozenset = 4
        self.maxstring = self.maxother = self.maxlong = QUOTE_LIMIT

    def repr_str(self, x: str, level: int) -> str:
        # reprlib keeps both ends (`'abc...xyz'`); the start is what a reader recognises.
        return repr(x[: self.maxstring]) + (ELLIPSIS if len(x) > self.maxstring else "")

    def repr_int(self, x: int, level: int) -> str:
        # Python refuses to turn an int of more than 4300 digits into text; `0xFFFF...` in YAML makes one.
        if x.bit_length() > 4 * QUOTE_LIMIT:
            return f"<a number of {x.bit_length()} bits>"
        return super().repr_int(x, level)


_repr = _BoundedRepr()


def clipped(text: str, limit: int = QUOTE_LIMIT) -> str:
    """`text`, cut to `limit` characters with an ellipsis when it is longer."""
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def quoted(value: object, limit: int = QUOTE_LIMIT) -> str:
    """A repr of `value` of at most `limit` characters, built without expanding the whole value."""
    try:
        text = _repr.repr(value)
    except Exception:  # a value whose repr fails still needs a message
        text = f"<{type(value).__name__}>"
    return clipped(text, limit)
