"""`sdkit batch --executor ray`: the same job list and manifest, the images drawn by Ray workers.

The driver (this process) keeps the queue and is the only one that writes: each image comes back from
its worker and is saved here with the local executor's writer (atomic, never overwriting), then gets
its manifest line, so the output folder needs no shared file system and a rerun resumes as after a
local run. Each worker keeps its models loaded; a free worker is sent images of a model it already
has (`placement`). A worker that dies has its images sent again, to any live worker, up to `retries`
times each, then they are recorded as failed; a replacement worker is started while the budget lasts.
A stop request (Ctrl-C, SIGTERM) cancels what is outstanding and ends the run as `Interrupted`.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sdkit.batch.executor import STOPPED_HINT
from sdkit.batch.expand import Item
from sdkit.batch.placement import WorkQueue, fits, worker_shape
from sdkit.batch.plans import PreparedBatch, model_order, plan_fingerprint
from sdkit.batch.ray_cluster import RayCluster
from sdkit.batch.ray_pool import Worker, WorkerPool
from sdkit.batch.record import BatchRecord
from sdkit.core.errors import Interrupted, RuntimeFailure
from sdkit.core.text import clipped
from sdkit.run.events import RunEvents

log = logging.getLogger(__name__)

POLL_SECONDS = 0.1  # how soon a stop request or a finished image is noticed
# Images queued on each worker: one being drawn and one waiting, so a worker never idles for a round trip.
IN_FLIGHT_PER_WORKER = 2
DEFAULT_RETRIES = 2
START_TIMEOUT_SECONDS = 600.0  # a first model load on a cold node can take minutes; no worker at all is an error


@dataclass(frozen=True)
class RayOptions:
    address: str | None = None  # None: a private local instance; "auto", "HOST:PORT", "ray://HOST:PORT"
    workers: int | None = None  # None: one per GPU, else one per CPU (placement.worker_shape)
    cpus_per_worker: float | None = None
    gpus_per_worker: float | None = None
    retries: int = DEFAULT_RETRIES  # times an image is sent again after its worker died
    start_timeout: float = START_TIMEOUT_SECONDS


class RayExecutor:
    """Draw a batch on Ray; use it as a `with` block (workers and a local instance live as long as it)."""

    name = "ray"

    def __init__(self, options: RayOptions | None = None) -> None:
        self.options = options or RayOptions()
        self.cluster: RayCluster | None = None
        self.pool: WorkerPool | None = None

    def __enter__(self) -> RayExecutor:
        options = self.options
        num_cpus = None
        if options.address is None and options.workers:
            # A local instance has room for every worker asked for, even beyond this machine's cores.
            num_cpus = max(os.cpu_count() or 1, math.ceil(options.workers * (options.cpus_per_worker or 1)))
        self.cluster = RayCluster(options.address, num_cpus=num_cpus).__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            if self.pool is not None:
                self.pool.close()
        finally:
            self.pool = None
            if self.cluster is not None:
                cluster, self.cluster = self.cluster, None
                cluster.__exit__(None, None, None)

    def run(self, batch: PreparedBatch, items: list[Item], record: BatchRecord, events: RunEvents, *,
            sidecar: bool = False) -> None:
        if not items:
            return
        if self.cluster is None:
            raise RuntimeError("RayExecutor.run needs the executor's `with` block")
        if self.pool is None:
            total, free = self.cluster.resources()
            options = self.options
            shape = worker_shape(total, free, workers=options.workers, cpus_per_worker=options.cpus_per_worker,
                                 gpus_per_worker=options.gpus_per_worker)
            if not fits(shape, total):
                log.warning("the Ray cluster (%s) has no room for %s at once: some wait for room", total,
                            shape.describe())
            self.pool = WorkerPool(self.cluster.ray, shape, replacements=max(options.retries, 1) * shape.count)
        _RayRun(self.pool, batch, items, record, events, sidecar, self.options).run()


def _reason(error: BaseException) -> str:
    """Ray's error, first line only: its messages go on with tracebacks and advice."""
    text = str(error).strip().splitlines()
    return clipped(f"{type(error).__name__}: {text[0] if text else ''}", 300)


class _RayRun:
    """One `run_batch` on the pool: send, wait, save, re-queue, until every item is recorded."""

    def __init__(self, pool: WorkerPool, batch: PreparedBatch, items: list[Item], record: BatchRecord,
                 events: RunEvents, sidecar: bool, options: RayOptions) -> None:
        self.pool, self.ray, self.batch, self.record = pool, pool.ray, batch, record
        self.events, self.sidecar, self.options = events, sidecar, options
        self.queue = WorkQueue((model_order(batch.plans[item.plan_key()]), item) for item in items)
        self.tasks: dict[Any, tuple[Worker, Item, Any]] = {}  # task ref -> (worker, item, model)
        self.deaths: Counter[str] = Counter()  # item key -> times its worker died while drawing it
        self.positions = {item.key: index for index, item in enumerate(batch.items)}
        self.started = time.monotonic()

    def run(self) -> None:
        self.pool.start(min(self.pool.shape.count, len(self.queue)))
        try:
            while len(self.queue) or self.tasks:
                if self.events.should_stop():
                    raise Interrupted("stopped by the user; the images still being drawn on Ray were dropped",
                                      STOPPED_HINT)
                self._send_work()
                self._check_workers()
                self._wait_and_handle()
        finally:
            self._cancel_outstanding()
            self.record.summary.workers = self.pool.describe()

    def _send_work(self) -> None:
        for worker in self.pool.ready_workers():
            while len(worker.in_flight) < IN_FLIGHT_PER_WORKER:
                taken = self.queue.take(worker.models, self.pool.models_elsewhere(worker))
                if taken is None:
                    return
                model, item = taken
                plan = self.batch.plan_for(item)
                ref = worker.handle.draw.remote(item, plan_fingerprint(plan))
                worker.models.add(model)
                worker.in_flight.append(ref)
                self.tasks[ref] = (worker, item, model)
                # Also makes a Ctrl-C from now on a cooperative stop (as the local executor's first image does).
                self.events.image_started(self.positions[item.key], len(self.batch.items),
                                          int(getattr(plan.params, "steps", 1)))

    def _check_workers(self) -> None:
        if not self.pool.any_alive():
            last = next((worker.death for worker in reversed(self.pool.workers) if worker.death), "unknown")
            raise RuntimeFailure(f"every Ray worker died (last: {last}); {len(self.queue)} image(s) were not made",
                                 f"{STOPPED_HINT} (check the cluster's memory and its logs)")
        waited = time.monotonic() - self.started
        if not self.pool.ready_workers() and not self.tasks and waited > self.options.start_timeout:
            total, free = self.pool.ray.cluster_resources(), self.pool.ray.available_resources()
            raise RuntimeFailure(f"no Ray worker started within {waited:.0f} s ({self.pool.shape.describe()} asked "
                                 f"for; the cluster has {total}, free {free})",
                                 "ask for fewer or smaller workers (--workers, --cpus-per-worker, --gpus-per-worker)")

    def _wait_and_handle(self) -> None:
        starting = self.pool.starting()
        waiting = [*self.tasks, *starting]
        if not waiting:
            time.sleep(POLL_SECONDS)
            return
        ready, _ = self.ray.wait(waiting, num_returns=1, timeout=POLL_SECONDS)
        if ready:  # then everything else that is finished too
            ready, _ = self.ray.wait(waiting, num_returns=len(waiting), timeout=0)
        for ref in ready:
            if ref in starting:
                self._worker_started(starting[ref])
            elif ref in self.tasks:  # (a death handled just before may have taken it)
                self._task_finished(ref)

    def _worker_started(self, worker: Worker) -> None:
        try:
            self.pool.mark_ready(worker)
        except Exception as error:  # it died while starting (an import failed, the node went away)
            self._worker_died(worker, f"it could not start: {_reason(error)}")
            return
        log.info("Ray worker %d ready on %s (pid %s)", worker.number, worker.info.get("node"), worker.info.get("pid"))

    def _task_finished(self, ref: Any) -> None:
        worker, item, _ = self.tasks[ref]
        exceptions = self.ray.exceptions
        try:
            result = self.ray.get(ref)
        except exceptions.RayTaskError as error:  # the worker's own code failed outside its handling
            self._forget(ref)
            self.record.failed(item, _reason(error), False)
            return
        except exceptions.RayError as error:  # the worker is gone: killed, out of memory, its node lost
            self._worker_died(worker, _reason(error))
            return
        self._forget(ref)
        if result.get("status") != "done":
            self.record.failed(item, str(result.get("error")), bool(result.get("input_error")))
            return
        worker.images += 1
        worker.drawing_seconds += float(result.get("seconds", 0.0))
        self.record.summary.workers = self.pool.describe()
        self._save(item, result["images"])

    def _forget(self, ref: Any) -> None:
        worker, _, _ = self.tasks.pop(ref)
        worker.in_flight.remove(ref)

    def _worker_died(self, worker: Worker, reason: str) -> None:
        summary = self.record.summary
        summary.worker_deaths += 1
        lost = [self.tasks.pop(ref) for ref in self.pool.mark_dead(worker, reason) if ref in self.tasks]
        log.warning("Ray worker %d (pid %s) died: %s; %d image(s) go to other workers", worker.number,
                    worker.info.get("pid"), reason, len(lost))
        for position, (_, item, model) in reversed(list(enumerate(lost))):
            if position == 0:  # the image it was drawing (the others were only waiting behind it)
                self.deaths[item.key] += 1
                if self.deaths[item.key] > self.options.retries:
                    self.record.failed(item, f"its Ray worker died {self.deaths[item.key]} times while drawing it "
                                             f"(last: {reason})", False)
                    continue
            self.queue.put_back(model, item)
            summary.requeued += 1
        if len(self.queue):
            self.pool.replace()
        summary.workers = self.pool.describe()
        if lost:
            self.record.progress(lost[0][1], f"worker {worker.number} died, sent again")

    def _save(self, item: Item, images: list[Any]) -> None:
        """Write the worker's image exactly as `execute` writes a local one (the same function)."""
        from sdkit.run.execute import RunResult, save_run_image, write_failure

        (run_image,) = images  # every batch item is one image
        plan = self.batch.plan_for(item)
        folder = self.record.folder
        result = RunResult(plan, folder)
        try:
            saved = save_run_image(run_image, folder, self.sidecar, plan, result)
        except OSError as error:
            self.record.failed_with(item, write_failure(error, folder, result))
            return
        self.record.done(item, saved.path)

    def _cancel_outstanding(self) -> None:
        """Drop what is still queued on the workers (a stop, an error); a task being drawn runs out unseen."""
        for ref, (worker, _, _) in list(self.tasks.items()):
            try:
                self.ray.cancel(ref)
            except Exception:  # finished or gone meanwhile
                pass
            worker.in_flight.clear()
        self.tasks.clear()
