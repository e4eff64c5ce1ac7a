"""Executors: who draws a batch's images. The job list, its plans and the manifest stay the same.

An executor gets the items still to make and reports each one through the run's `BatchRecord`.
`LocalExecutor` (the default) draws them in this process, one after the other, with `execute`, which
writes each file as it is drawn. `sdkit.batch.ray_executor.RayExecutor` hands them to Ray workers
and writes the files they send back here, through the same writer.
"""

from __future__ import annotations

from typing import Protocol

from sdkit.batch.expand import Item
from sdkit.batch.plans import PreparedBatch
from sdkit.batch.record import BatchRecord
from sdkit.core.errors import Interrupted
from sdkit.run.events import RunEvents

STOPPED_HINT = "the manifest has every finished image: run the same command to continue"


class Executor(Protocol):
    name: str

    def run(self, batch: PreparedBatch, items: list[Item], record: BatchRecord, events: RunEvents, *,
            sidecar: bool = False) -> None:
        """Make every item (or record it as failed); raise `Interrupted` when `events` asks to stop."""
        ...


class LocalExecutor:
    """Draw every item in this process, in order; models stay loaded for the life of the process."""

    name = "local"

    def run(self, batch: PreparedBatch, items: list[Item], record: BatchRecord, events: RunEvents, *,
            sidecar: bool = False) -> None:
        from sdkit.run.execute import execute

        for item in items:
            if events.should_stop():
                raise Interrupted("stopped by the user between images", STOPPED_HINT)
            try:
                result = execute(batch.plan_for(item), events, output_dir=record.folder, sidecar=sidecar)
            except Interrupted:
                raise
            except Exception as error:  # recorded, and the run goes on: one bad image must not cost the night's run
                record.failed_with(item, error)
                continue
            (saved,) = result.images
            record.done(item, saved.path)
