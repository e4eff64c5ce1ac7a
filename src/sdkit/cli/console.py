"""Shared rich consoles: data goes to stdout, messages and progress to stderr.

Text that comes from users and files (prompts, metadata, file names, error messages quoting them) is
printed through `plain` or `message`: never read as rich markup or emoji codes, and with control
characters shown as escapes, so a PNG's metadata cannot colour, move or retitle the terminal.
"""

from __future__ import annotations

import json
import re
from typing import Any

from rich.console import Console
from rich.text import Text

from sdkit.runtime.logs import CONTROL_CHARACTERS, visible

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)  # messages stay whole lines in logs and pipes

_LABEL_STYLES = {"error": "bold red", "warning": "yellow", "hint": "yellow", "note": "yellow"}


def plain(text: str, style: str = "") -> Text:
    """`text` shown as it is: no markup, no emoji codes, control characters escaped (`\\x1b`)."""
    return Text(visible(text), style=style)


def message(label: str, text: str) -> None:
    """One `label: text` line on stderr (`error`, `warning`, `hint`, `note`), the text shown as it is."""
    err.print(Text.assemble((f"{label}:", _LABEL_STYLES.get(label, "")), " ", plain(text)))


def print_json(data: Any) -> None:
    """Machine-readable output: plain JSON on stdout, no colour, no wrapping.

    JSON already escapes C0 controls; the other control characters are written as `\\u` escapes too,
    so the output is safe on a terminal and still decodes to exactly the same values.
    """
    text = json.dumps(data, indent=2, default=str, ensure_ascii=False)
    out.file.write(CONTROL_CHARACTERS.sub(_json_escape, text) + "\n")
    out.file.flush()


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"
