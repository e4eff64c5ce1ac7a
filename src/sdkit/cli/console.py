"""Shared rich consoles: data goes to stdout, messages and progress to stderr."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)  # messages stay whole lines in logs and pipes


def print_json(data: Any) -> None:
    """Machine-readable output: plain JSON on stdout, no colour, no wrapping."""
    out.file.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")
    out.file.flush()
