"""Logging: a log file in the platform's log folder that records every failure with its full context.

The console gets short messages from the CLI; the file gets everything at debug level, including the
context of the run that failed (task, engine, model, preset, options) and the stack trace. Records that
reach the console read as the CLI's own lines do (`warning: ...`, `error: ...`), with control characters
shown as escapes (`visible`), since messages quote what users and files supply.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import re
import shlex
import sys
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sdkit.runtime.paths import paths

log = logging.getLogger("sdkit")

# What the current command is doing; recorded with any failure. Commands fill it as they learn more.
_run_context: dict[str, Any] = {}

# Characters that would act on a terminal instead of being shown: C0 controls but tab and newline (ESC
# starts colour, cursor and title sequences), DEL, C1 controls (U+009B is a one-character CSI), bidi
# overrides and isolates that reorder the text around them, and the Unicode line separators.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
                                r"\u2028\u2029]")


def visible(text: str) -> str:
    """`text` with every control character written as an escape (`\\x1b`, `\\u202e`), safe to show."""
    return CONTROL_CHARACTERS.sub(_escape_character, text)


def _escape_character(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _console_label(level: int) -> str:
    """How a record of `level` starts on the console: `error`, `warning`, `info` or `debug`."""
    if level >= logging.ERROR:
        return "error"
    if level >= logging.WARNING:
        return "warning"
    return "info" if level >= logging.INFO else "debug"


class ConsoleFormatter(logging.Formatter):
    """`warning: message`, the shape of every message line the CLI prints, control characters escaped."""

    def format(self, record: logging.LogRecord) -> str:
        text = f"{_console_label(record.levelno)}: {record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return visible(text)


class _ConsoleHandler(logging.StreamHandler):
    """A stream handler on whatever `sys.stderr` is when a record comes.

    rich's progress display swaps `sys.stderr` while it runs and prints what is written there above the
    bar; a handler holding the stream it started with would write through the bar instead.
    """

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass  # always the current sys.stderr


def setup_logging(console_level: int = logging.WARNING) -> Path | None:
    """Send sdkit's logs to the log file (debug level) and warnings or worse to stderr.

    Returns the log file, or None when the log folder cannot be written (sdkit still runs).
    """
    root = logging.getLogger("sdkit")
    root.setLevel(logging.DEBUG)
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    console = _ConsoleHandler()
    console.setLevel(console_level)
    console.setFormatter(ConsoleFormatter())
    root.addHandler(console)
    root.propagate = False
    log_file = paths().log_file
    try:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.handlers.RotatingFileHandler(
            log_file, maxBytes=2_000_000, backupCount=3, encoding="utf-8"
        )
    except OSError:
        return None
    file_handler.setLevel(logging.DEBUG)
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"))
    root.addHandler(file_handler)
    return log_file


def set_context(**values: Any) -> None:
    """Add what the current command is working on (task, engine, model, preset, options)."""
    _run_context.update({key: value for key, value in values.items() if value is not None})


def clear_context() -> None:
    _run_context.clear()


def context() -> dict[str, Any]:
    return dict(_run_context)


@contextmanager
def command_context(command: str) -> Iterator[None]:
    clear_context()
    set_context(command=command)
    try:
        yield
    finally:
        clear_context()


def log_failure(error: BaseException) -> None:
    """Write the failure, the run's context and the full stack trace to the log file."""
    details = json.dumps(_run_context, default=str, indent=2, sort_keys=True)
    trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    log.debug("failure: %s\ncontext: %s\n%s", error, details, trace)
    for handler in log.handlers:
        handler.flush()


def log_usage_error(args: Sequence[str], error: str) -> None:
    """Record a command line the CLI's parser refused (`--seed abc`) and why, in the log file only.

    The parser has already said so on the console. Such an error can come before the root command set
    up logging (`sdkit --bogus`), so the log file is set up here when it is not yet this home's.
    """
    if not _logs_to(paths().log_file):
        setup_logging()
    line = shlex.join(["sdkit", *(_clipped(arg) for arg in args)])
    log.debug("usage error: %s\ncommand line: %s", error, line)
    for handler in log.handlers:
        handler.flush()


def _logs_to(log_file: Path) -> bool:
    return any(isinstance(handler, logging.FileHandler) and Path(handler.baseFilename) == log_file
               for handler in log.handlers)


def _clipped(arg: str, limit: int = 500) -> str:
    # An argument can be a whole prompt or a pasted file; the log needs to recognise it, not hold it all.
    return arg if len(arg) <= limit else f"{arg[:limit]}… ({len(arg)} characters)"


def quiet_ml_libraries() -> None:
    """Turn off diffusers' and transformers' own tqdm bars and notes: sdkit draws its own progress.

    Their notes (e.g. "sequence length is longer than 77") speak of internals sdkit already handles.
    Called by the engines that use those libraries, once they are imported anyway.
    """
    import diffusers.utils.logging
    import transformers.utils.logging

    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
