"""Loaded models stay warm between runs, at most `max_loaded` of them, least recently used dropped first."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from sdkit.core.engine import LoadOptions
from sdkit.registry import Entry
from sdkit.run import execute

ENTRY = Entry("sdkit.pipelines", "counting", "tests:counting", "sdkit-cli", "0")


@dataclass(frozen=True)
class Ref:
    name: str

    @property
    def location(self) -> Path:
        return Path("/models") / self.name


class CountingEngine:
    def __init__(self) -> None:
        self.loads: list[str] = []

    def load(self, model_ref: Ref, options: LoadOptions) -> str:
        self.loads.append(model_ref.name)
        return f"loaded {model_ref.name}"


@pytest.fixture
def engine(monkeypatch):
    monkeypatch.setattr(execute, "_loaded_models", {})
    monkeypatch.setattr(execute, "_limits", {"max_loaded": 0})
    return CountingEngine()


def load(engine: CountingEngine, name: str) -> str:
    return execute._load(engine, ENTRY, Ref(name), LoadOptions())


def test_without_a_limit_every_model_stays_loaded(engine):
    for name in ("a", "b", "c", "a", "b", "c"):
        load(engine, name)
    assert engine.loads == ["a", "b", "c"]
    assert execute.loaded_model_count() == 3


def test_past_the_limit_the_least_recently_used_model_is_unloaded(engine):
    execute.set_max_loaded(2)
    load(engine, "a")
    load(engine, "b")
    load(engine, "a")  # a is now more recent than b
    load(engine, "c")  # drops b
    assert execute.loaded_model_count() == 2
    load(engine, "a")  # still warm
    load(engine, "b")  # loaded again
    assert engine.loads == ["a", "b", "c", "b"]


def test_a_limit_of_one_switches_models_without_holding_two(engine):
    execute.set_max_loaded(1)
    assert load(engine, "a") == "loaded a"
    assert load(engine, "b") == "loaded b"
    assert execute.loaded_model_count() == 1
    assert load(engine, "b") == "loaded b"
    assert engine.loads == ["a", "b"]


def test_lowering_the_limit_unloads_at_once(engine):
    for name in ("a", "b", "c"):
        load(engine, name)
    execute.set_max_loaded(1)
    assert execute.loaded_model_count() == 1
    load(engine, "c")
    assert engine.loads == ["a", "b", "c"]  # c, the most recent, was kept


def test_a_negative_limit_is_refused(engine):
    with pytest.raises(ValueError):
        execute.set_max_loaded(-1)


def test_a_service_sets_its_limit_while_it_runs_and_gives_the_old_one_back(engine, tmp_path):
    from sdkit.service import Service

    execute.set_max_loaded(5)
    service = Service(tmp_path / "out", max_loaded=1).start()
    try:
        assert execute.max_loaded() == 1
    finally:
        service.close()
    assert execute.max_loaded() == 5
