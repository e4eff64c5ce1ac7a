"""Read a preset file as plain data plus the line of every key, with yaml's safe loader only, bounded.

The text is composed into nodes once, by a `SafeLoader` that counts as it composes: how deep values
nest and how many values the document holds once every alias is expanded. Presets come from other
people (plugins, shared files), and a few hundred bytes of nested aliases ("billion laughs") expand to
billions of values, which would hang or exhaust memory in whatever walks them next; so a file over a
limit is refused before anything is built from it. The lines of the keys come from the nodes, so
errors can say `basic.yaml:7` instead of just the field; the data is then constructed from the same
nodes by the safe constructor (no tags that run code).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from sdkit.core.text import clipped, quoted
from sdkit.presets.model import PresetError, PresetProblem
from sdkit.presets.reading import MAX_PRESET_BYTES, decode_preset_text, read_preset_bytes

__all__ = ["MAX_PRESET_BYTES", "KeyPath", "parse_preset_yaml", "read_preset_yaml"]

KeyPath = tuple[str, ...]

# Values in the whole document, each alias counted as everything it stands for. A preset has dozens.
MAX_YAML_VALUES = 1_000
# How deep mappings and lists may nest; a preset needs three levels (the file, `params`, a value).
MAX_YAML_DEPTH = 32
# The largest whole number a preset may hold; seeds, the largest values a preset has, need 32 bits.
MAX_INT_BITS = 64

_DEPTH_MESSAGE = f"nests values more than {MAX_YAML_DEPTH} levels deep"
_DEPTH_HINT = "a preset needs only `params:` and one value per line under it"


class _Refused(Exception):
    """The document is over one of the limits; `line` is where it went over."""

    def __init__(self, message: str, mark: yaml.Mark | None, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.line = mark.line + 1 if mark is not None else None
        self.hint = hint


class _BoundedLoader(yaml.SafeLoader):
    """A safe loader that refuses documents nesting too deep or expanding (through aliases) too far."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._values = 0
        # id(node) -> how many values it stands for, aliases expanded; absent while it is being composed.
        self._expanded: dict[int, int] = {}

    def _count(self, values: int, mark: yaml.Mark) -> None:
        self._values += values
        if self._values > MAX_YAML_VALUES:
            raise _Refused(f"holds more than {MAX_YAML_VALUES} values, counting each alias as the values it "
                           "stands for", mark, "a preset is a short file; write values out instead of nesting aliases")

    def fetch_flow_collection_start(self, token_class: type[yaml.Token]) -> None:
        # The scanner reads a flow collection's tokens ahead, so `[[[[...` is refused here, before the
        # composer sees it; PyYAML's look-ahead over each pending `[` is quadratic.
        super().fetch_flow_collection_start(token_class)
        if self.flow_level > MAX_YAML_DEPTH:
            raise _Refused(_DEPTH_MESSAGE, self.get_mark(), _DEPTH_HINT)

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            node = super().compose_node(parent, index)
            expanded = self._expanded.get(id(node))
            if expanded is None:  # `&a [*a]`: a value that contains itself never ends when walked
                raise _Refused(f"the alias *{clipped(str(event.anchor), 40)} is used inside its own value",
                               event.start_mark, "an alias can only refer to a value that is complete")
            self._count(expanded, event.start_mark)
            return node
        self._depth += 1
        if self._depth > MAX_YAML_DEPTH:
            raise _Refused(_DEPTH_MESSAGE, event.start_mark, _DEPTH_HINT)
        before = self._values
        self._count(1, event.start_mark)
        node = super().compose_node(parent, index)
        self._depth -= 1
        self._expanded[id(node)] = self._values - before
        return node

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        is_int = isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:int"
        try:
            value = super().construct_object(node, deep)
        except ValueError as error:
            # `2024-13-45` looks like a date and `1111...` like an int; Python refuses to build either.
            if not is_int:
                kind = node.tag.rsplit(":", 1)[-1]
                raise _Refused(f"{quoted(node.value)} cannot be read as a {kind}: {clipped(str(error))}",
                               node.start_mark, "quote the value to keep it as text") from None
            value = None
        # No preset value needs more than 64 bits, and Python cannot even print one of 4300 digits.
        if is_int and (value is None or value.bit_length() > MAX_INT_BITS):
            raise _Refused(f"the number {clipped(node.value, 40)} is larger than any preset value can be "
                           f"(more than {MAX_INT_BITS} bits)", node.start_mark, "check the number") from None
        return value


def _key_lines(node: yaml.Node, prefix: KeyPath, lines: dict[KeyPath, int],
               problems: list[PresetProblem]) -> None:
    """Record the 1-based line of each mapping key below `node`; report keys given twice."""
    if not isinstance(node, yaml.MappingNode):
        return
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            continue
        path = (*prefix, str(key_node.value))
        line = key_node.start_mark.line + 1
        if path in lines:
            # The constructor silently keeps the last one; a preset should not be ambiguous.
            problems.append(PresetProblem(".".join(clipped(part, 40) for part in path),
                                          f"given twice (first on line {lines[path]})", line, "delete one of them"))
        else:
            lines[path] = line
        _key_lines(value_node, path, lines, problems)


def read_preset_yaml(path: Path) -> tuple[dict[str, Any], dict[KeyPath, int]]:
    """The mapping in the preset file at `path` and the line of each key in it.

    Raises `PresetError` when the file cannot be read, is not YAML, is over a size, depth or alias
    expansion limit, or is not a mapping.
    """
    return parse_preset_yaml(read_preset_bytes(path), path)


def parse_preset_yaml(raw: bytes, path: Path) -> tuple[dict[str, Any], dict[KeyPath, int]]:
    """Like `read_preset_yaml`, for the bytes of the file at `path` (read with `read_preset_bytes`)."""
    loader = _BoundedLoader(decode_preset_text(raw, path))
    try:
        root = loader.get_single_node()
        lines: dict[KeyPath, int] = {}
        problems: list[PresetProblem] = []
        if root is not None:
            # Before constructing: the constructor flattens `<<` merge keys into the nodes in place.
            _key_lines(root, (), lines, problems)
        data = loader.construct_document(root) if root is not None else None
    except _Refused as refused:
        raise PresetError(path, [PresetProblem("", refused.message, refused.line, refused.hint)]) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        what = getattr(error, "problem", None) or str(error)
        raise PresetError(path, [PresetProblem("", f"not valid YAML: {clipped(what, 160)}", line)],
                          "check indentation and quoting near that line") from None
    finally:
        loader.dispose()

    if data is None:
        raise PresetError(path, [PresetProblem("", "is empty")],
                          "a preset needs at least `schema_version: 1` and `task:`")
    if not isinstance(data, dict):
        raise PresetError(path, [PresetProblem("", f"must be a mapping of keys, not a {type(data).__name__}", 1)],
                          "start with `schema_version: 1` and `task: txt2img` on their own lines")
    if problems:
        raise PresetError(path, problems)
    return data, lines
