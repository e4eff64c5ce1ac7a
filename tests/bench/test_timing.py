"""`sdkit.bench.timing`: the one timing helper every benchmark measures through."""

from __future__ import annotations

import time

import pytest
import torch

from sdkit.bench.timing import round_orders, summarize, time_call, torch_threads


def test_time_call_returns_the_value_and_its_wall_and_cpu_time():
    def sleep_then_spin() -> str:
        time.sleep(0.05)  # wall time passes, CPU time hardly
        deadline = time.process_time() + 0.03
        while time.process_time() < deadline:  # CPU time passes too
            pass
        return "done"

    timed = time_call(sleep_then_spin)
    assert timed.value == "done"
    assert timed.wall_s >= 0.08
    assert 0.03 <= timed.cpu_s < timed.wall_s


def test_rounds_flip_their_order():
    assert list(round_orders(["a", "b", "c"], 3)) == [["a", "b", "c"], ["c", "b", "a"], ["a", "b", "c"]]
    assert list(round_orders(range(2), 2)) == [[0, 1], [1, 0]]
    assert list(round_orders(["a"], 0)) == []


def test_summarize_takes_the_median():
    assert summarize([3.0, 1.0, 100.0]) == {"median": 3.0, "min": 1.0, "max": 100.0}
    assert summarize([]) == {"median": None, "min": None, "max": None}


@pytest.mark.parametrize("count", [1, None])
def test_torch_threads_restores_the_count(count):
    before = torch.get_num_threads()
    with torch_threads(count) as inside:
        assert inside == torch.get_num_threads() == (count or before)
        torch.set_num_threads(1)  # whatever happens inside (a benchmark setting its own counts) ...
    assert torch.get_num_threads() == before  # ... the caller gets its own count back
