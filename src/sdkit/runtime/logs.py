"""Logging: a log file in the platform's log folder that records every failure with its full context.

The console gets short messages from the CLI; the file gets everything at debug level, including the
context of the run that failed (task, engine, model, preset, options) and the stack trace.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sdkit.runtime.paths import paths

log = logging.getLogger("sdkit")

# What the current command is doing; recorded with any failure. Commands fill it as they learn more.
_run_context: dict[str, Any] = {}


def setup_logging(console_level: int = logging.WARNING) -> Path | None:
    """Send sdkit's logs to the log file (debug level) and warnings or worse to stderr.

    Returns the log file, or None when the log folder cannot be written (sdkit still runs).
    """
    root = logging.getLogger("sdkit")
    root.setLevel(logging.DEBUG)
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    console = logging.StreamHandler()
    console.setLevel(console_level)
    console.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
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
