"""Tiny models run on one CPU thread (threads only wait on each other there); the user's choice wins."""

from __future__ import annotations

import pytest

from sdkit.runtime.placement import fit_cpu_threads


@pytest.fixture
def threads():
    import torch

    before = torch.get_num_threads()
    yield torch
    torch.set_num_threads(before)


def small_unet():
    import torch

    return torch.nn.Linear(10, 10)


def test_small_model_gets_one_thread(threads, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    threads.set_num_threads(2)
    fit_cpu_threads(small_unet())
    assert threads.get_num_threads() == 1


def test_omp_num_threads_is_respected(threads, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    threads.set_num_threads(2)
    fit_cpu_threads(small_unet())
    assert threads.get_num_threads() == 2


def test_large_model_keeps_its_threads(threads, monkeypatch):
    import sdkit.runtime.placement as placement

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(placement, "SINGLE_THREAD_PARAMETERS", 50)  # the 110-parameter layer now counts as large
    threads.set_num_threads(2)
    fit_cpu_threads(small_unet())
    assert threads.get_num_threads() == 2
