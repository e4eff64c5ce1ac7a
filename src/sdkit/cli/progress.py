"""Progress display and stop handling for runs: a rich bar fed by engine events, Ctrl-C/SIGTERM as a stop flag."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn


class StopFlag:
    """Set by the first Ctrl-C or SIGTERM: the engine stops at its next step. A second Ctrl-C aborts at once."""

    def __init__(self) -> None:
        self.requested = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True

    @contextmanager
    def installed(self) -> Iterator[StopFlag]:
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            for sig in previous:
                signal.signal(sig, self._handle)
        except ValueError:  # not the main thread (library use): run without signal handling
            yield self
            return
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


class ProgressEvents:
    """RunEvents drawn as one rich progress bar: image i/N, step, it/s and ETA."""

    def __init__(self, progress: Progress | None, stop: StopFlag) -> None:
        self._progress = progress
        self._stop = stop
        self._task: TaskID | None = None
        self._started = 0.0
        self._total_images = 1

    def image_started(self, index: int, total: int, steps: int) -> None:
        self._total_images = total
        self._started = time.perf_counter()
        if self._progress is None:
            return
        description = f"image {index + 1}/{total}"
        if self._task is None:
            self._task = self._progress.add_task(description, total=steps, rate="")
        else:
            self._progress.reset(self._task, total=steps, description=description, rate="")

    def step_finished(self, index: int, step: int, steps: int) -> None:
        if self._progress is None or self._task is None:
            return
        elapsed = max(time.perf_counter() - self._started, 1e-9)
        self._progress.update(self._task, completed=step, total=steps, rate=f"{step / elapsed:.2f} it/s")

    def should_stop(self) -> bool:
        return self._stop.requested


def make_progress(enabled: bool) -> Progress | None:
    if not enabled:
        return None
    from sdkit.cli.console import err

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("step {task.completed}/{task.total}"),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    )
