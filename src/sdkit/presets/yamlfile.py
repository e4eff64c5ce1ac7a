"""Read a preset file as plain data plus the line of every key, with yaml's safe loader only.

The data comes from `yaml.safe_load`; the lines come from composing the same text into nodes (no
objects are constructed from them), so errors can say `basic.yaml:7` instead of just the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from sdkit.presets.model import PresetError, PresetProblem

KeyPath = tuple[str, ...]

# A preset is a few dozen lines; refusing big files keeps a stray dataset or alias bomb out.
MAX_PRESET_BYTES = 1_000_000


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
            # yaml.safe_load silently keeps the last one; a preset should not be ambiguous.
            problems.append(PresetProblem(".".join(path), f"given twice (first on line {lines[path]})", line,
                                          "delete one of them"))
        else:
            lines[path] = line
        _key_lines(value_node, path, lines, problems)


def read_preset_yaml(path: Path) -> tuple[dict[str, Any], dict[KeyPath, int]]:
    """The mapping in the preset file at `path` and the line of each key in it.

    Raises `PresetError` when the file cannot be read, is not YAML, or is not a mapping.
    """
    try:
        if path.stat().st_size > MAX_PRESET_BYTES:
            raise PresetError(path, [PresetProblem("", f"file is larger than {MAX_PRESET_BYTES} bytes")],
                              "a preset is a short YAML file; check that this is the file you meant")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PresetError(path, [PresetProblem("", "no such file")], "check the path") from None
    except IsADirectoryError:
        raise PresetError(path, [PresetProblem("", "is a folder, not a preset file")],
                          "give a .yaml file inside it") from None
    except UnicodeDecodeError as error:
        raise PresetError(path, [PresetProblem("", f"is not UTF-8 text ({error.reason})")],
                          "save the preset as UTF-8") from None
    except OSError as error:
        raise PresetError(path, [PresetProblem("", f"cannot be read: {error.strerror}")]) from None

    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        what = getattr(error, "problem", None) or str(error)
        raise PresetError(path, [PresetProblem("", f"not valid YAML: {what}", line)],
                          "check indentation and quoting near that line") from None

    if data is None:
        raise PresetError(path, [PresetProblem("", "is empty")],
                          "a preset needs at least `schema_version: 1` and `task:`")
    if not isinstance(data, dict):
        raise PresetError(path, [PresetProblem("", f"must be a mapping of keys, not a {type(data).__name__}", 1)],
                          "start with `schema_version: 1` and `task: txt2img` on their own lines")
    lines: dict[KeyPath, int] = {}
    problems: list[PresetProblem] = []
    if root is not None:
        _key_lines(root, (), lines, problems)
    if problems:
        raise PresetError(path, problems)
    return data, lines
