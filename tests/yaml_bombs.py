"""YAML "billion laughs" presets, shared by the presets tests and the bad-input corpus.

Each is a few hundred bytes that expand to millions of values if a loader follows every alias.
"""

from __future__ import annotations

HEADER = "schema_version: 1\ntask: txt2img\n"


def mapping_bomb() -> str:
    """Billion laughs from mappings: ten levels of nine aliases each, 9**9 values once expanded."""
    lines = ['a0: &a0 {x: "lol"}']
    for level in range(1, 10):
        lines.append(f"a{level}: &a{level} {{" + ", ".join(f"k{key}: *a{level - 1}" for key in range(9)) + "}")
    return HEADER + "\n".join(lines) + "\n"


def list_bomb_as_prompt() -> str:
    """Billion laughs from lists, used as `params.prompt`, which an error message used to repr."""
    lines = ["params:", '  negative_prompt: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"  p{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 9) + "]" for level in range(1, 9)]
    lines.append("  prompt: *a8")
    return HEADER + "\n".join(lines) + "\n"


def merge_key_bomb() -> str:
    """The same blow-up through `<<` merge keys, which the constructor flattens into lists of pairs."""
    lines = ["params:", "  p0: &a0 {x: 1, y: 2}"]
    lines += [f"  p{level}: &a{level} {{<<: [" + ", ".join([f"*a{level - 1}"] * 9) + "]}" for level in range(1, 10)]
    return HEADER + "\n".join(lines) + "\n"
