"""The Ray workers of a distributed batch: starting them, knowing which are ready, dead or busy.

A worker is a Ray actor (`BatchWorker`) with its own CPUs or GPU; it is ready once it has answered
`describe`. One that dies (its process killed, out of memory, its node gone) is replaced while the
replacement budget lasts, so a flaky node cannot make the run start workers forever. The pool also
keeps each worker's count of images and the models it has loaded, for placement and the summary.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from sdkit.batch.placement import WorkerShape


@dataclass(eq=False)
class Worker:
    number: int
    handle: Any  # the actor handle
    ready_ref: Any | None  # `describe()` until it answers, then None
    created: float = field(default_factory=time.monotonic)
    info: dict[str, Any] = field(default_factory=dict)
    ready_at: float | None = None
    ended_at: float | None = None
    alive: bool = True
    models: set[Hashable] = field(default_factory=set)  # what it has loaded (what it was sent)
    in_flight: list[Any] = field(default_factory=list)  # task refs, oldest (the one running) first
    images: int = 0
    drawing_seconds: float = 0.0  # the worker's own time in `draw`, as it reports it
    death: str | None = None

    @property
    def ready(self) -> bool:
        return self.alive and self.ready_ref is None

    def describe(self) -> dict[str, Any]:
        end = self.ended_at if self.ended_at is not None else time.monotonic()
        seconds = (end - self.ready_at) if self.ready_at is not None else 0.0
        return {"worker": self.number, "node": self.info.get("node"), "pid": self.info.get("pid"),
                "gpus": self.info.get("gpus", []), "models": len(self.models), "images": self.images,
                "seconds": round(seconds, 3), "drawing_seconds": round(self.drawing_seconds, 3),
                "images_per_minute": round(self.images * 60 / seconds, 2) if seconds > 0 else 0.0,
                "alive": self.alive, "death": self.death}


class WorkerPool:
    def __init__(self, ray: Any, shape: WorkerShape, replacements: int) -> None:
        from sdkit.batch.ray_worker import BatchWorker

        self.ray = ray
        self.shape = shape
        self.replacements_left = replacements
        self.workers: list[Worker] = []
        # max_restarts=0: a dead worker is replaced by the pool, which re-queues its images itself.
        self._actor = ray.remote(num_cpus=shape.cpus, num_gpus=shape.gpus, max_restarts=0)(BatchWorker)

    def start(self, count: int) -> None:
        """Start workers until `count` are alive or starting."""
        while sum(worker.alive for worker in self.workers) < count:
            self._start_one()

    def _start_one(self) -> Worker:
        handle = self._actor.remote()
        worker = Worker(len(self.workers) + 1, handle, handle.describe.remote())
        self.workers.append(worker)
        return worker

    def replace(self) -> bool:
        """Start a worker in place of a dead one, if the budget allows."""
        if self.replacements_left <= 0:
            return False
        self.replacements_left -= 1
        self._start_one()
        return True

    def starting(self) -> dict[Any, Worker]:
        """Readiness refs of the workers still starting."""
        return {worker.ready_ref: worker for worker in self.workers if worker.alive and worker.ready_ref is not None}

    def ready_workers(self) -> list[Worker]:
        return [worker for worker in self.workers if worker.ready]

    def any_alive(self) -> bool:
        return any(worker.alive for worker in self.workers)

    def mark_ready(self, worker: Worker) -> None:
        """The worker answered: record where it runs (raises Ray's error if it died while starting)."""
        worker.info = dict(self.ray.get(worker.ready_ref))
        worker.ready_ref = None
        worker.ready_at = time.monotonic()

    def mark_dead(self, worker: Worker, reason: str) -> list[Any]:
        """The worker is gone: kill what may remain of it; returns its task refs, oldest first."""
        lost, worker.in_flight = worker.in_flight, []
        worker.alive, worker.death, worker.ready_ref = False, reason, None
        worker.ended_at = time.monotonic()
        self.kill(worker)
        return lost

    def models_elsewhere(self, worker: Worker) -> Counter[Hashable]:
        """How many other live workers have each model loaded."""
        counts: Counter[Hashable] = Counter()
        for other in self.workers:
            if other is not worker and other.alive:
                counts.update(other.models)
        return counts

    def kill(self, worker: Worker) -> None:
        try:
            self.ray.kill(worker.handle, no_restart=True)
        except Exception:  # already gone, or the cluster is shutting down: nothing left to free
            pass

    def close(self) -> None:
        """Stop every worker (their GPUs go back to the cluster)."""
        for worker in self.workers:
            if worker.alive:
                worker.alive, worker.ended_at = False, time.monotonic()
                self.kill(worker)

    def describe(self) -> list[dict[str, Any]]:
        return [worker.describe() for worker in self.workers]
