"""Where a distributed batch's work goes: how many workers of what size, and which images a free worker takes.

Pure functions of counts, so the rules can be read and tested without a cluster:
- Workers: with GPUs in the cluster, one worker per GPU (`gpus_per_worker` 1) unless told otherwise;
  without, one per CPU (`cpus_per_worker` 1), at most `MAX_DEFAULT_CPU_WORKERS`, since each loads its
  own copy of the model. A worker larger than the whole cluster is refused at once.
- Images: a free worker keeps to a model it has loaded while that model has images left (loading a
  Stable Diffusion model takes longer than drawing several images); otherwise it takes the model with
  the most images left per worker already on it, so a second model gets workers of its own instead of
  waiting for the first to finish.
"""

from __future__ import annotations

from collections import Counter, OrderedDict, deque
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from sdkit.core.errors import UserInputError

# Each CPU worker holds a model in memory; beyond this a default would rather run out of memory than help.
MAX_DEFAULT_CPU_WORKERS = 8


@dataclass(frozen=True)
class WorkerShape:
    count: int
    cpus: float
    gpus: float

    def describe(self) -> str:
        gpus = f", {self.gpus:g} GPU" if self.gpus else ""
        return f"{self.count} worker(s) of {self.cpus:g} CPU{gpus}"


def worker_shape(total: dict[str, float], free: dict[str, float], *, workers: int | None = None,
                 cpus_per_worker: float | None = None, gpus_per_worker: float | None = None) -> WorkerShape:
    """The workers to start on a cluster with `total` resources, `free` of them unused now (Ray's names: CPU, GPU)."""
    cluster_cpus, cluster_gpus = float(total.get("CPU", 0)), float(total.get("GPU", 0))
    gpus = gpus_per_worker if gpus_per_worker is not None else (1.0 if cluster_gpus >= 1 else 0.0)
    cpus = cpus_per_worker if cpus_per_worker is not None else 1.0
    if gpus > cluster_gpus:
        raise UserInputError(f"each worker asks for {gpus:g} GPU, but the Ray cluster has {cluster_gpus:g}",
                             "leave --gpus-per-worker out (or give 0) to draw on CPUs, or add a GPU node")
    if cpus > cluster_cpus:
        raise UserInputError(f"each worker asks for {cpus:g} CPU, but the Ray cluster has {cluster_cpus:g}",
                             "give a smaller --cpus-per-worker")
    if workers is None:
        if gpus:
            workers = int(float(free.get("GPU", 0)) // gpus)
        else:
            workers = min(int(float(free.get("CPU", 0)) // cpus), MAX_DEFAULT_CPU_WORKERS)
        workers = max(workers, 1)  # a busy cluster: the one worker waits for room
    return WorkerShape(workers, cpus, gpus)


def fits(shape: WorkerShape, total: dict[str, float]) -> bool:
    """Whether the whole cluster has room for every worker at once (else some wait for room)."""
    return (shape.count * shape.cpus <= float(total.get("CPU", 0))
            and shape.count * shape.gpus <= float(total.get("GPU", 0)))


class WorkQueue:
    """Images still to send, grouped by the model they need, in run order within each model."""

    def __init__(self, items: Iterable[tuple[Hashable, Any]] = ()) -> None:
        self._by_model: OrderedDict[Hashable, deque[Any]] = OrderedDict()
        for model, item in items:
            self._by_model.setdefault(model, deque()).append(item)

    def __len__(self) -> int:
        return sum(len(queue) for queue in self._by_model.values())

    def put_back(self, model: Hashable, item: Any) -> None:
        """An image to draw again (its worker died): first in line for its model."""
        self._by_model.setdefault(model, deque()).appendleft(item)

    def take(self, loaded: set[Hashable], others: Counter[Hashable]) -> tuple[Hashable, Any] | None:
        """The next image for a worker that has `loaded` models; `others` counts the other workers per model."""
        model = choose_model({model: len(queue) for model, queue in self._by_model.items()}, loaded, others)
        if model is None:
            return None
        queue = self._by_model[model]
        item = queue.popleft()
        if not queue:
            del self._by_model[model]
        return model, item


def choose_model(left: dict[Hashable, int], loaded: set[Hashable], others: Counter[Hashable]) -> Hashable | None:
    """The model whose images a free worker takes (`left`: images left per model, in run order)."""
    waiting = [model for model, count in left.items() if count > 0]
    if not waiting:
        return None
    for model in waiting:
        if model in loaded:
            return model
    # max() keeps the first of equals: run order breaks ties.
    return max(waiting, key=lambda model: left[model] / (others[model] + 1))
