"""Progress display and stop handling for runs: a rich bar fed by engine events, Ctrl-C/SIGTERM as a stop request.

A stop request means different things as a run goes on. Until the first image starts (planning,
importing torch, loading the model, hashing it) nothing exists that is worth finishing, and loading
happens inside torch and diffusers where nobody checks a flag: so the first Ctrl-C or SIGTERM ends
the run at once, by raising `StopRequested` wherever the program is. Once images are being drawn, the
request is cooperative: the engine finishes its step, the images already saved stay, the unfinished
one is dropped. A second Ctrl-C always ends the run at once. Once a stop has been asked for, the
handlers are not restored: the process is ending, and a further Ctrl-C while sdkit reports the stop
is ignored rather than cutting the report (and the log entry) short.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# A repeated stop this soon after one that raised is the same stop, still unwinding: raising again
# could cut short the report of the first. Later, the first was probably swallowed: raise again.
UNWIND_SECONDS = 1.0


class StopRequested(KeyboardInterrupt):
    """Raised from the signal handler where a stop cannot wait; a KeyboardInterrupt, so no library's
    `except Exception` swallows it. `generate` turns it into `Interrupted` (exit 130, logged)."""

    def __init__(self, signal_name: str, doing: str, drawing: bool = False) -> None:
        super().__init__(f"{signal_name} while {doing}")
        self.signal_name = signal_name
        self.doing = doing
        self.drawing = drawing  # a second Ctrl-C while images were being drawn


class StopFlag:
    """Ctrl-C and SIGTERM for one run: immediate until `cooperate()`, then a flag the engine checks per step."""

    def __init__(self) -> None:
        self.requested = False
        self.signal_name: str | None = None
        self.doing = "preparing the run"  # said in the message of a stop that cannot wait
        self._cooperative = False
        self._raised_at: float | None = None

    def cooperate(self) -> None:
        """From now on a first stop request waits for the engine's next step (images are being drawn)."""
        self._cooperative = True

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        now = time.monotonic()
        if self._raised_at is not None and now - self._raised_at < UNWIND_SECONDS:
            return
        second = self.requested
        self.requested = True
        self.signal_name = signal.Signals(signum).name
        if not self._cooperative:
            self._raised_at = now
            raise StopRequested(self.signal_name, self.doing)
        if second and signum == signal.SIGINT:
            self._raised_at = now
            raise StopRequested(self.signal_name, "drawing an image", drawing=True)

    @contextmanager
    def installed(self) -> Iterator[StopFlag]:
        previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
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
                signal.signal(sig, signal.SIG_IGN if self.requested else handler)


class ProgressEvents:
    """RunEvents drawn as one rich progress bar: image i/N, step, it/s and ETA."""

    def __init__(self, progress: Progress | None, stop: StopFlag) -> None:
        self._progress = progress
        self._stop = stop
        self._task: TaskID | None = None
        self._started = 0.0
        self._total_images = 1

    def image_started(self, index: int, total: int, steps: int) -> None:
        self._stop.cooperate()  # the model is loaded: from here on a stop keeps what is finished
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
