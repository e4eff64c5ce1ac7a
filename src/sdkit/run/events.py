"""What a run reports to its front end (progress bars, a server's progress endpoint), and how an
engine's per-batch step events are turned into it."""

from __future__ import annotations

from typing import Protocol


class RunEvents(Protocol):
    """A front end's view of a run: which image started, each finished step, and whether to stop."""

    def image_started(self, index: int, total: int, steps: int) -> None: ...

    def step_finished(self, index: int, step: int, steps: int) -> None: ...

    def should_stop(self) -> bool: ...


class NullEvents:
    """Events sink for library use and tests: reports nothing, never stops."""

    def image_started(self, index: int, total: int, steps: int) -> None:
        pass

    def step_finished(self, index: int, step: int, steps: int) -> None:
        pass

    def should_stop(self) -> bool:
        return False


class StepsOfImage:
    """The `StepEvents` an engine gets for one batch: its steps reported against the batch's first image."""

    def __init__(self, events: RunEvents, index: int) -> None:
        self._events = events
        self._index = index

    def step_finished(self, step: int, steps: int) -> None:
        self._events.step_finished(self._index, step, steps)

    def should_stop(self) -> bool:
        return self._events.should_stop()
