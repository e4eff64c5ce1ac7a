"""The one timing helper of sdkit's benchmarks: one call's wall and CPU time, and the order of rounds.

Every benchmark here (the sdkit-vs-diffusers matrix, the model parts, upscaling) times through
`time_call` and interleaves what it compares with `round_orders`, so all of them measure alike:

- wall time waits for queued GPU work at both edges, or it would be the time to launch the work;
- process CPU time is taken beside it: other processes on a shared machine can delay a call, but they
  cannot add to its CPU time, so that is the steadier figure there;
- each round runs every contender once, and the order flips from round to round (A B, B A, ...), so
  a machine whose load drifts slows all of them alike.

torch is imported only where a GPU or the thread count is touched.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Timed(Generic[T]):
    """What one call returned, and how long it took."""

    value: T
    wall_s: float
    cpu_s: float  # this process's CPU time, all threads together


def synchronize(device: str) -> None:
    """Wait for queued GPU work, so that wall time covers it (nothing to wait for on the CPU)."""
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize(device)


def time_call(call: Callable[[], T], device: str = "cpu") -> Timed[T]:
    """Run `call` once and time it."""
    synchronize(device)
    cpu_started, started = time.process_time(), time.perf_counter()
    value = call()
    synchronize(device)
    return Timed(value, time.perf_counter() - started, time.process_time() - cpu_started)


def round_orders(contenders: Sequence[T], rounds: int) -> Iterator[list[T]]:
    """The order in which each of `rounds` rounds runs the contenders: as given, reversed, as given, ..."""
    for index in range(rounds):
        yield list(contenders) if index % 2 == 0 else list(reversed(contenders))


def summarize(seconds: Sequence[float]) -> dict[str, float | None]:
    """Median, min and max of timed runs (all None when there were none).

    The median, not the mean: one run slowed by another process moves the mean, hardly the median.
    """
    if not seconds:
        return {"median": None, "min": None, "max": None}
    return {"median": statistics.median(seconds), "min": min(seconds), "max": max(seconds)}


@contextmanager
def torch_threads(count: int | None) -> Iterator[int]:
    """Run the block with `count` torch CPU threads (None: as they are), and restore the count afterwards.

    A library caller's process keeps its own setting, whatever a benchmark chose inside. Yields the count
    in effect.
    """
    import torch

    before = torch.get_num_threads()
    if count:
        torch.set_num_threads(count)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
