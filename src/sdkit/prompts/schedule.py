"""A1111's prompt editing and alternation: which text the prompt is at each sampling step.

- `[from:to:when]` is `from` until step `when`, then `to`; `[to:when]` adds `to` after `when`;
  `[from::when]` drops `from` after `when`. A `when` with a decimal point is a fraction of the steps
  (`int(fraction × steps)`), without one a step number; it may be signed (`-1`: never `from`). Steps
  are 1-based, and "until" includes it.
- `[a|b|c]` alternates every step: step 1 `a`, step 2 `b`, ... (empty options allowed).
- Emphasis brackets pass through unchanged (they are read per scheduled text by `emphasis.py`).
- A prompt that does not parse as a schedule is used as plain text for every step, as in A1111.

The grammar is A1111's (shared/reference/a1111-prompts.md §4), read by a small backtracking parser of
our own. `schedule(prompt, steps)` returns `[(until_step, text), ...]`, ascending, the last ending at
`steps`. Pure Python.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Union

_PLAIN = re.compile(r"(?:[^\\\[\]():|]|\\.)+", re.DOTALL)
# lark's SIGNED_NUMBER, as A1111's grammar has it: a sign is allowed (`[a:b:-1]` is `b` at every step).
_NUMBER = re.compile(r"\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*\]")
_STRAY = re.compile(r"[\]\[():]+")
MAX_DEPTH = 100  # bracket nesting deeper than this is read as plain text (and cannot exhaust the stack)


@dataclass
class Scheduled:
    before: list[Node]
    after: list[Node]
    when: str


@dataclass
class Alternate:
    options: list[list[Node]] = field(default_factory=list)


Node = Union[str, Scheduled, Alternate]  # noqa: UP007 (a runtime alias: `|` needs 3.10 types at import)


class _NoParse(Exception):
    pass


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        # A prompt read from a position is the same whichever rule asked for it: remembering it keeps
        # the backtracking (scheduled, then alternate, then emphasized) linear instead of exponential.
        self._prompts: dict[int, tuple[list[Node], int]] = {}

    def prompt(self, at: int) -> tuple[list[Node], int]:
        """`prompt: (emphasized | scheduled | alternate | plain | whitespace)*`, as long as it goes."""
        if at not in self._prompts:
            self._prompts[at] = self._read_prompt(at)
        nodes, end = self._prompts[at]
        return list(nodes), end

    def _read_prompt(self, at: int) -> tuple[list[Node], int]:
        nodes: list[Node] = []
        while at < len(self.text):
            found = self.item(at)
            if found is None:
                break
            node, at = found
            nodes.extend(node)
        return nodes, at

    def item(self, at: int) -> tuple[list[Node], int] | None:
        char = self.text[at]
        if char == "(":
            return self.emphasized(at, "(", ")")
        if char == "[":
            for option in (self.scheduled, self.alternate):
                try:
                    return option(at)
                except _NoParse:
                    continue
            return self.emphasized(at, "[", "]")
        match = _PLAIN.match(self.text, at)
        if match:
            return [match.group(0)], match.end()
        return None

    def emphasized(self, at: int, opening: str, closing: str) -> tuple[list[Node], int] | None:
        """`( prompt )`, `( prompt : prompt )` or `[ prompt ]`: kept as text, brackets included."""
        try:
            inner, end = self.prompt(at + 1)
            if opening == "(" and end < len(self.text) and self.text[end] == ":":
                weight, end = self.prompt(end + 1)
                inner = [*inner, ":", *weight]
            if end < len(self.text) and self.text[end] == closing:
                return [opening, *inner, closing], end + 1
        except _NoParse:
            pass
        return None

    def scheduled(self, at: int) -> tuple[list[Node], int]:
        """`[ [prompt :] prompt : NUMBER ]`."""
        first, end = self.prompt(at + 1)
        if end >= len(self.text) or self.text[end] != ":":
            raise _NoParse
        number = _NUMBER.match(self.text, end + 1)
        if number:  # [to:when]
            return [Scheduled([], first, number.group(1))], number.end()
        second, end = self.prompt(end + 1)
        if end >= len(self.text) or self.text[end] != ":":
            raise _NoParse
        number = _NUMBER.match(self.text, end + 1)
        if not number:
            raise _NoParse
        return [Scheduled(first, second, number.group(1))], number.end()

    def alternate(self, at: int) -> tuple[list[Node], int]:
        """`[ prompt (| [prompt])+ ]`."""
        options: list[list[Node]] = []
        end = at
        while True:
            option, end = self.prompt(end + 1)
            options.append(option)
            if end < len(self.text) and self.text[end] == "|":
                continue
            break
        if len(options) < 2 or end >= len(self.text) or self.text[end] != "]":
            raise _NoParse
        return [Alternate(options)], end + 1

    def start(self) -> list[Node]:
        """`start: (prompt | /[][():]/+)*`: stray brackets and colons are text at the top level only."""
        nodes: list[Node] = []
        at = 0
        while at < len(self.text):
            found, at = self.prompt(at)
            nodes.extend(found)
            if at >= len(self.text):
                break
            if not _STRAY.match(self.text, at):
                raise _NoParse  # a `|` or a lone backslash outside any group
            # One stray character at a time: the next may open a group that parses (`[[a:b:2]` is a
            # stray `[` and then a schedule, as A1111's grammar reads it).
            nodes.append(self.text[at])
            at += 1
        return nodes


def _nesting(prompt: str) -> int:
    depth = deepest = 0
    for char in prompt:
        if char in "([":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]" and depth:
            depth -= 1
    return deepest


def parse_schedule(prompt: str) -> list[Node] | None:
    """The prompt's parse tree, or None when it does not parse (then it is plain text)."""
    if _nesting(prompt) > MAX_DEPTH:
        return None
    try:
        return _Parser(prompt).start()
    except (_NoParse, RecursionError):
        return None


def _when_step(when: str, steps: int, first_pass_steps: int | None = None) -> int:
    """The step `when` means; in a hires fix's second pass (`first_pass_steps` given) counted from the end
    of the first pass: a fraction 1.5 is halfway through the second pass, step 25 after 20 is its step 5."""
    if first_pass_steps is None:
        value = float(when) * (steps if "." in when else 1)
    else:
        value = (float(when) - 1.0) * steps if "." in when else float(when) - first_pass_steps
    if not math.isfinite(value):  # `1e400`: later than any step (A1111 fails on it)
        return steps
    return min(steps, int(value))


def _change_steps(nodes: list[Node], steps: int, found: set[int], first: int | None) -> None:
    for node in nodes:
        if isinstance(node, Scheduled):
            step = _when_step(node.when, steps, first)
            if step >= 1:
                found.add(step)
            _change_steps(node.before, steps, found, first)
            _change_steps(node.after, steps, found, first)
        elif isinstance(node, Alternate):
            found.update(range(1, steps + 1))
            for option in node.options:
                _change_steps(option, steps, found, first)


def _text_at(nodes: list[Node], step: int, steps: int, first: int | None) -> str:
    parts = []
    for node in nodes:
        if isinstance(node, str):
            parts.append(node)
        elif isinstance(node, Scheduled):
            chosen = node.before if step <= _when_step(node.when, steps, first) else node.after
            parts.append(_text_at(chosen, step, steps, first))
        else:
            parts.append(_text_at(node.options[(step - 1) % len(node.options)], step, steps, first))
    return "".join(parts)


def schedule(prompt: str, steps: int, first_pass_steps: int | None = None) -> list[tuple[int, str]]:
    """`[(until_step, text), ...]`: the text to use up to and including each step, for `steps` steps.

    `first_pass_steps` is given for the second pass of the hires fix (see `_when_step`).
    """
    steps = max(1, steps)
    tree = parse_schedule(prompt)
    if tree is None:
        return [(steps, prompt)]
    change_steps = {steps}
    _change_steps(tree, steps, change_steps, first_pass_steps)
    return [(step, _text_at(tree, step, steps, first_pass_steps)) for step in sorted(change_steps)]


def is_scheduled(prompt: str) -> bool:
    """Whether the prompt changes during sampling (prompt editing or alternation)."""
    tree = parse_schedule(prompt)
    return tree is not None and any(not isinstance(node, str) for node in _walk(tree))


def _walk(nodes: list[Node]):
    for node in nodes:
        yield node
        if isinstance(node, Scheduled):
            yield from _walk(node.before)
            yield from _walk(node.after)
        elif isinstance(node, Alternate):
            for option in node.options:
                yield from _walk(option)


def entry_per_step(entries: list[tuple[int, str]]) -> list[int]:
    """For steps 1..N, the index of the `schedule` entry that applies (N: the last entry's step)."""
    indices, step = [], 1
    for number, (until, _) in enumerate(entries):
        indices += [number] * max(0, until - step + 1)
        step = max(step, until + 1)
    return indices


def text_per_step(prompt: str, steps: int, first_pass_steps: int | None = None) -> list[str]:
    """The prompt's text at steps 1..steps (a convenience for engines that condition per step)."""
    entries = schedule(prompt, steps, first_pass_steps)
    return [entries[index][1] for index in entry_per_step(entries)]
