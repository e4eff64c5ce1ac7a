"""sdkit's errors and warnings as the UI's notifications: the same message and hint the CLI prints.

Nothing here imports gradio: the text is built here, the layout shows it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sdkit.core.errors import SdkitError


def error_text(error: SdkitError) -> str:
    """`error: <message>` and `hint: <hint>` on their own lines, as `sdkit` prints them."""
    lines = [f"error: {error.message}"]
    if error.hint:
        lines.append(f"hint: {error.hint}")
    return "\n".join(lines)


@dataclass
class CapturedWarnings:
    """The warnings sdkit logged while a block ran (a migrated preset, a guessed prediction type)."""

    messages: list[str] = field(default_factory=list)


class _ThreadWarnings(logging.Handler):
    """Collects WARNING records of one thread: the UI serves several people, each sees their own."""

    def __init__(self, captured: CapturedWarnings) -> None:
        super().__init__(logging.WARNING)
        self.captured = captured
        self.thread_id = threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread_id:
            self.captured.messages.append(record.getMessage())


@contextmanager
def captured_warnings() -> Iterator[CapturedWarnings]:
    """The warnings the `sdkit` loggers emit in this thread inside the block (they still reach the log)."""
    captured = CapturedWarnings()
    handler = _ThreadWarnings(captured)
    logger = logging.getLogger("sdkit")
    logger.addHandler(handler)
    try:
        yield captured
    finally:
        logger.removeHandler(handler)
