"""Which engine runs a request and which model it gets: the host's choice, made once, before loading.

The rule, in order:
1. An engine named by `--engine` or the preset runs; with no model named it gets its
   `default_model`, or the user is asked for `--model`.
2. Otherwise, with a model named, the model's family decides: the engine that serves that family
   (`Engine.families`) and the task. sdkit's built-in engine wins over plugin engines for the same
   family, so installing a plugin never silently changes what a plain command does.
3. With neither, the task's default engine runs (`DEFAULT_ENGINES`; a plugin that registers the same
   key replaces it, as with any built-in) with its default model.
Engines whose models are not found by the `sdkit.models` sources (upscalers) find them with their
own `find_model`. Nothing here imports torch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sdkit.core.engine import engine_families
from sdkit.core.errors import UserInputError
from sdkit.core.models import ModelRef
from sdkit.core.tasks import Task
from sdkit.registry import PIPELINES, Entry, PluginFailure, PluginLoadError, plugin_calls, plugin_hint, registry

log = logging.getLogger(__name__)

# The engine a task runs on when neither an engine nor a model says otherwise (registry keys).
DEFAULT_ENGINES = {Task.TXT2IMG: "sd15", Task.IMG2IMG: "sd15", Task.INPAINT: "sd15", Task.UPSCALE: "realesrgan"}


@dataclass(frozen=True)
class Choice:
    """The engine of a run and its model (None for an engine that takes none)."""

    engine: Any
    entry: Entry
    model_ref: ModelRef | None
    model_is_default: bool  # True when the engine's default model was used


def find_model(engine: Any, entry: Entry, reference: str) -> ModelRef:
    """`reference` as a ModelRef: through the engine's own `find_model`, else the model sources."""
    text = str(reference).strip()
    if not text:
        raise UserInputError("the model reference is empty (--model '')",
                             "pass --model NAME, PATH or HUB_ID, or leave --model out to use the engine's default")
    finder = getattr(engine, "find_model", None)
    if finder is not None:
        with plugin_calls(entry, "finding a model"):
            ref = finder(text)
        if not isinstance(ref, ModelRef):
            raise PluginFailure(f"engine {entry.key!r} ({entry.source}) found {ref!r}, not a ModelRef",
                                plugin_hint(entry))
        return ref
    from sdkit.models import resolve_model

    return resolve_model(text)


def _engine(key: str) -> tuple[Any, Entry]:
    pipelines = registry(PIPELINES)
    return pipelines.get(key), pipelines.entry(key)


def _check_fit(engine: Any, entry: Entry, ref: ModelRef, task: Task) -> None:
    families = engine_families(engine)
    if families and ref.family not in families:
        serving = engines_for(ref.family, task)
        raise UserInputError(
            f"{ref.name} is a {ref.family} model, but engine {entry.key!r} runs {', '.join(sorted(families))} models",
            f"use --engine {serving[0]}, or drop --engine to choose it from the model" if serving else
            f"no installed engine runs {ref.family} models for {task.value}; choose another model",
        )


def engines_for(family: str, task: Task) -> list[str]:
    """Keys of the loadable engines that serve `family` for `task`: built-ins first, then by name."""
    pipelines = registry(PIPELINES)
    found: list[tuple[int, str]] = []
    for key in pipelines.names():
        try:
            engine = pipelines.get(key)
        except PluginLoadError as error:  # a broken plugin engine cannot serve; the others still can
            log.warning("%s", error)
            continue
        if family in engine_families(engine) and task in engine.tasks:
            found.append((0 if pipelines.entry(key).builtin else 1, key))
    return [key for _, key in sorted(found)]


def _no_default_model(entry: Entry) -> UserInputError:
    return UserInputError(f"engine {entry.key!r} has no default model, and no --model was given",
                          "pass --model with a model file, folder or name (`sdkit models list` shows them)")


def choose(task: Task, engine_key: str | None, model: str | None) -> Choice:
    """The engine and model for a run, by the rule in this module's docstring."""
    if engine_key is None and model is None:
        engine_key = DEFAULT_ENGINES.get(task)
        if engine_key is None:
            raise UserInputError(f"no default engine for {task.value}", "pass --engine")
    if engine_key is not None:
        engine, entry = _engine(engine_key)
        if task not in engine.tasks:
            does = ", ".join(sorted(t.value for t in engine.tasks))
            raise UserInputError(f"engine {entry.key!r} does not do {task.value}; it does: {does}",
                                 f"choose an engine for {task.value} (`sdkit plugins list` shows them)")
        reference = model if model is not None else getattr(engine, "default_model", None)
        if reference is None:
            if engine_families(engine):
                raise _no_default_model(entry)
            return Choice(engine, entry, None, False)
        ref = find_model(engine, entry, reference)
        _check_fit(engine, entry, ref, task)
        return Choice(engine, entry, ref, model is None)

    # A model and no engine: the model's family decides.
    assert model is not None
    default_key = DEFAULT_ENGINES.get(task)
    if default_key is not None:
        default_engine, default_entry = _engine(default_key)
        if getattr(default_engine, "find_model", None) is not None:  # e.g. upscale: the engine finds models
            ref = find_model(default_engine, default_entry, model)
            _check_fit(default_engine, default_entry, ref, task)
            return Choice(default_engine, default_entry, ref, False)
    from sdkit.models import resolve_model

    ref = resolve_model(model)
    serving = engines_for(ref.family, task)
    if not serving:
        raise UserInputError(f"no installed engine runs {ref.family} models for {task.value} ({ref.name})",
                             "`sdkit plugins list` shows the installed engines; pass --engine to pick one")
    if len(serving) > 1:
        log.info("engines for %s models: %s; using %s (pass --engine to choose)", ref.family,
                 ", ".join(serving), serving[0])
    engine, entry = _engine(serving[0])
    return Choice(engine, entry, ref, False)
