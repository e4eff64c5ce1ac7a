"""Run a prepared batch resumably: skip what the manifest has, let an executor draw the rest, draw the grids.

Each finished image is one manifest line; what the manifest has is skipped on the next run, whichever
executor made it. A failing image is recorded and the run goes on, unless `fail_fast`. A stop
(Ctrl-C, SIGTERM, the events' `should_stop`) ends the run as `Interrupted`: the manifest already
holds every finished image. Planning lives in `plans` (`prepare` is re-exported here).
"""

from __future__ import annotations

import time
from pathlib import Path

from sdkit.batch.executor import Executor, LocalExecutor
from sdkit.batch.grid import make_grids
from sdkit.batch.manifest import Manifest
from sdkit.batch.plans import PreparedBatch, prepare
from sdkit.batch.record import BatchRecord, ProgressCallback, Summary
from sdkit.core.errors import Interrupted
from sdkit.run.events import RunEvents

__all__ = ["PreparedBatch", "Summary", "prepare", "run_batch"]


def run_batch(batch: PreparedBatch, folder: Path, events: RunEvents, *, restart: bool = False,
              fail_fast: bool = False, sidecar: bool = False, on_progress: ProgressCallback | None = None,
              executor: Executor | None = None) -> Summary:
    """Run every item not yet in `folder`'s manifest; returns what was done, skipped and failed."""
    from sdkit.outputs.writer import ensure_output_dir

    executor = executor or LocalExecutor()
    folder = ensure_output_dir(folder)
    manifest = Manifest(folder)
    if restart:
        manifest.restart()
    done = manifest.done()
    summary = Summary(total=len(batch.items), executor=executor.name)
    record = BatchRecord(manifest, summary, fail_fast=fail_fast, on_progress=on_progress)
    started = time.perf_counter()
    try:
        for item in batch.items:
            if item.key in done:
                record.skipped(item)
        executor.run(batch, [item for item in batch.items if item.key not in done], record, events, sidecar=sidecar)
    except Interrupted as stopped:
        raise Interrupted(f"{stopped.message}; the {summary.done} image(s) this run made are in the manifest",
                          "run the same command again to continue where it stopped") from None
    finally:
        summary.seconds = time.perf_counter() - started
    if batch.grid is not None:
        made = {item.key for item in batch.items if item.key not in done}
        summary.grids = [str(path) for path in make_grids(batch.items, manifest.done(), folder, batch.grid, made)]
    return summary
