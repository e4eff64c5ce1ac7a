"""What a batch run has done so far: the manifest lines and the summary, written in one place.

Every executor reports through a `BatchRecord`, so an image is recorded the same way whether this
process drew it or a Ray worker did: one manifest line when its file exists (or when it failed), the
summary counted, the front end told. Only the process that holds the record writes the manifest.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sdkit.batch.expand import Item
from sdkit.batch.manifest import Manifest
from sdkit.core.errors import RuntimeFailure, SdkitError, UserInputError

log = logging.getLogger(__name__)


@dataclass
class Summary:
    total: int
    done: int = 0
    skipped: int = 0
    failed: int = 0
    seconds: float = 0.0
    failures: list[dict[str, Any]] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    grids: list[str] = field(default_factory=list)
    executor: str = "local"
    # Ray only: one entry per worker ({"worker", "node", "pid", "images", "seconds", "drawing_seconds", "alive", ...}),
    # the images whose worker died and that were drawn again, and how many workers died.
    workers: list[dict[str, Any]] = field(default_factory=list)
    requeued: int = 0
    worker_deaths: int = 0

    def describe(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def failure_message(error: BaseException) -> tuple[str, bool]:
    """How a failed image is recorded: sdkit's own message (or the exception's), and whether it was the input."""
    if isinstance(error, SdkitError):
        return error.message, isinstance(error, UserInputError)
    return f"{type(error).__name__}: {error}", False


ProgressCallback = Callable[[Summary, Item, str], None]


class BatchRecord:
    """The run's manifest and summary; `fail_fast` turns the first failure into the run's error."""

    def __init__(self, manifest: Manifest, summary: Summary, *, fail_fast: bool = False,
                 on_progress: ProgressCallback | None = None) -> None:
        self.manifest = manifest
        self.summary = summary
        self.fail_fast = fail_fast
        self._on_progress = on_progress

    @property
    def folder(self) -> Path:
        return self.manifest.path.parent

    def progress(self, item: Item, status: str) -> None:
        """Tell the front end (also for news that is no manifest line, like a worker that died)."""
        if self._on_progress is not None:
            self._on_progress(self.summary, item, status)

    def skipped(self, item: Item) -> None:
        self.summary.skipped += 1
        self.progress(item, "skipped")

    def done(self, item: Item, path: Path) -> None:
        self.manifest.append({**_line(item), "status": "done", "file": path.name})
        self.summary.done += 1
        self.summary.files.append(str(path))
        self.progress(item, "done")

    def failed(self, item: Item, message: str, input_error: bool) -> None:
        """Record a failed image; the run goes on unless `fail_fast`, where this raises the run's error."""
        self.manifest.append({**_line(item), "status": "failed", "error": message})
        self.summary.failed += 1
        self.summary.failures.append({"job": item.job, "key": item.key, "error": message, "input_error": input_error})
        if self.fail_fast:
            if input_error:
                raise UserInputError(f"{item.job} failed ({message}); stopping (--fail-fast)",
                                     "the manifest records it; fix it and run the same command to continue")
            raise RuntimeFailure(f"{item.job} failed ({message}); stopping (--fail-fast)",
                                 "the manifest records it; run the same command to continue")
        self.progress(item, "failed")

    def failed_with(self, item: Item, error: BaseException) -> None:
        """Record an image whose drawing raised `error` (logged with its trace unless it is sdkit's own)."""
        message, input_error = failure_message(error)
        log.warning("%s failed: %s", item.job, message, exc_info=not isinstance(error, SdkitError))
        self.failed(item, message, input_error)


def _line(item: Item) -> dict[str, Any]:
    return {"key": item.key, "job": item.job, "params": {**item.run, **item.params}, "seed": item.seed}
