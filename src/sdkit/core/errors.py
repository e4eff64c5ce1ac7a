"""The one exception family of sdkit.

Every error a user can act on is an `SdkitError` carrying a message and a hint. `UserInputError`
(exit 2) means the input was wrong; `RuntimeFailure` (exit 1) means the input was fine and something
failed while running it. Only the CLI turns these into console text and exit codes.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

from sdkit.core.text import clipped, quoted


class SdkitError(Exception):
    """Base of every error sdkit raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UserInputError(SdkitError):
    """The user's input (flags, preset, model file, image) is wrong: exit code 2."""

    exit_code = 2


class RuntimeFailure(SdkitError):
    """Valid input, but running it failed (out of memory, a crashing plugin): exit code 1."""

    exit_code = 1


def closest_matches(key: str, candidates: Iterable[str], limit: int = 3) -> list[str]:
    """The candidates that look most like `key`, best first (for did-you-mean hints)."""
    by_lower = {candidate.lower(): candidate for candidate in candidates}
    if len(key) > 200:  # difflib is quadratic in the key's length; no real name is this long
        return []
    found = difflib.get_close_matches(key.lower(), list(by_lower), n=limit, cutoff=0.5)
    return [by_lower[match] for match in found]


class UnknownKeyError(UserInputError, KeyError):
    """A name that no registry, preset folder or table knows.

    It is a `KeyError` too, so library callers can catch it the usual way.
    """

    def __init__(self, group: str, key: str, known: Iterable[str], hint: str | None = None) -> None:
        known_sorted = sorted(set(known))
        self.group = group
        self.key = key
        self.known = known_sorted
        self.suggestions = closest_matches(key, known_sorted)
        message = f"unknown {group} {quoted(key)}"
        if self.suggestions:
            message += f"; did you mean {', '.join(repr(s) for s in self.suggestions)}?"
        if hint is None:
            shown = ", ".join(known_sorted[:20]) + (", …" if len(known_sorted) > 20 else "")
            hint = f"known {group} names: {shown}" if known_sorted else f"no {group} is installed"
        UserInputError.__init__(self, message, hint)

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return self.message


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a set of parameters."""

    field: str
    value: object
    allowed: str
    hint: str | None = None

    def describe(self) -> str:
        text = f"{clipped(self.field, 40)}={quoted(self.value)}: {self.allowed}"
        return f"{text} ({self.hint})" if self.hint else text


class ParamsError(UserInputError):
    """Every problem found in one set of parameters, reported together."""

    def __init__(self, problems: list[Problem], context: str = "parameters") -> None:
        self.problems = problems
        lines = [f"invalid {context} ({len(problems)} problem{'s' if len(problems) != 1 else ''}):"]
        lines += [f"  - {problem.describe()}" for problem in problems]
        super().__init__("\n".join(lines), "fix the values above (flags override the preset)")


class Interrupted(SdkitError):
    """The user stopped the run (Ctrl-C or SIGTERM); finished images are kept. Exit code 130."""

    exit_code = 130
