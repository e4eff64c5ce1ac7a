"""How a distributed batch sizes its workers and which images a free worker takes (no cluster needed)."""

from __future__ import annotations

from collections import Counter

import pytest

from sdkit.batch.placement import MAX_DEFAULT_CPU_WORKERS, WorkQueue, choose_model, fits, worker_shape
from sdkit.core.errors import UserInputError


def test_one_worker_per_gpu_on_a_gpu_cluster_and_per_cpu_without():
    gpus = worker_shape({"CPU": 32, "GPU": 4}, {"CPU": 32, "GPU": 3})
    assert (gpus.count, gpus.cpus, gpus.gpus) == (3, 1.0, 1.0)  # the free GPUs
    cpus = worker_shape({"CPU": 6}, {"CPU": 6})
    assert (cpus.count, cpus.cpus, cpus.gpus) == (6, 1.0, 0.0)
    many = worker_shape({"CPU": 64}, {"CPU": 64})
    assert many.count == MAX_DEFAULT_CPU_WORKERS  # each worker holds a model in memory
    halves = worker_shape({"CPU": 8, "GPU": 2}, {"CPU": 8, "GPU": 2}, gpus_per_worker=0.5, cpus_per_worker=2)
    assert (halves.count, halves.cpus, halves.gpus) == (4, 2, 0.5)
    busy = worker_shape({"CPU": 4}, {"CPU": 0})
    assert busy.count == 1  # waits for room rather than starting none
    asked = worker_shape({"CPU": 2}, {"CPU": 2}, workers=5)
    assert asked.count == 5 and not fits(asked, {"CPU": 2}) and fits(worker_shape({"CPU": 2}, {"CPU": 2}), {"CPU": 2})


def test_a_worker_larger_than_the_cluster_is_refused():
    with pytest.raises(UserInputError, match="1 GPU, but the Ray cluster has 0"):
        worker_shape({"CPU": 8}, {"CPU": 8}, gpus_per_worker=1)
    with pytest.raises(UserInputError, match="16 CPU, but the Ray cluster has 8"):
        worker_shape({"CPU": 8}, {"CPU": 8}, cpus_per_worker=16)


def test_a_worker_keeps_to_its_model_and_a_new_one_takes_the_model_with_the_fewest_workers():
    queue = WorkQueue([("A", 1), ("A", 2), ("A", 3), ("B", 4), ("B", 5)])
    first = queue.take(set(), Counter())
    assert first == ("A", 1)  # equal need: run order
    second = queue.take(set(), Counter({"A": 1}))
    assert second == ("B", 4)  # A already has a worker: B gets its own
    assert queue.take({"A"}, Counter({"B": 1})) == ("A", 2)  # warm model first
    assert queue.take({"B"}, Counter({"A": 1})) == ("B", 5)
    assert queue.take({"B"}, Counter({"A": 1})) == ("A", 3)  # B is done: help with A
    assert queue.take(set(), Counter()) is None and len(queue) == 0


def test_an_image_sent_again_goes_first_and_a_big_model_gets_a_second_worker():
    queue = WorkQueue([("A", 1), ("A", 2)])
    queue.put_back("A", 0)
    assert queue.take({"A"}, Counter()) == ("A", 0)
    # 9 images of A for 1 worker (4.5 each with one more) against 2 of B with none (2): A.
    assert choose_model({"A": 9, "B": 2}, set(), Counter({"A": 1})) == "A"
    assert choose_model({"A": 3, "B": 2}, set(), Counter({"A": 1})) == "B"
    assert choose_model({"A": 0}, set(), Counter()) is None
