"""Plan every image of a batch before anything runs, then run them one model load per model, resumably.

Planning first means one bad combination fails the run before any model loads, with every problem
listed. Items that differ only in seed share one plan (a plan takes about a millisecond, so even
10,000 different prompts plan in seconds). Items are ordered by model and VAE, so each is loaded
once (`sdkit.run.execute` keeps loaded models for the life of the process). Each finished image is
one manifest line; what the manifest has is skipped on the next run. A failing image is recorded
and the run goes on, unless `fail_fast`. A stop (Ctrl-C, SIGTERM, the events' `should_stop`) ends
the run as `Interrupted` after the image being drawn: the manifest already holds every finished one.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sdkit.batch.expand import Item, expand_jobs
from sdkit.batch.grid import make_grids, parse_grid
from sdkit.batch.jobs import read_job_file
from sdkit.batch.manifest import Manifest
from sdkit.batch.wildcards import PromptExpander, wildcard_folder
from sdkit.core.errors import Interrupted, SdkitError, UserInputError
from sdkit.core.text import clipped
from sdkit.run.events import RunEvents

log = logging.getLogger(__name__)
SHOWN_PROBLEMS = 20


@dataclass
class PreparedBatch:
    """Every image of a batch with its plan, in the order they run."""

    items: list[Item]
    plans: dict[str, Any]  # Item.plan_key() -> RunPlan
    grid: dict[str, str] | None = None  # {axis: parameter} of the grids to draw

    def plan_for(self, item: Item) -> Any:
        """The item's own plan: its group's, with the item's seed."""
        plan = self.plans[item.plan_key()]
        return dataclasses.replace(plan, params=plan.params.model_copy(update={"seed": item.seed}))

    def describe(self) -> dict[str, Any]:
        return {"images": len(self.items), "loads": len({_model_order(plan) for plan in self.plans.values()}),
                "combinations": [{"job": item.job, "key": item.key, **item.run, **item.params} for item in self.items]}


@dataclass
class Summary:
    total: int
    done: int = 0
    skipped: int = 0
    failed: int = 0
    seconds: float = 0.0
    failures: list[dict[str, Any]] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    grids: list[str] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _model_order(plan: Any) -> tuple[str, str]:
    location = plan.model_ref.location if plan.model_ref is not None else ""
    return (f"{plan.engine_name}:{location}", str(plan.vae or ""))


def prepare(job_file: Path, overrides: dict[str, Any], *, combinatorial: bool = False,
            allow_many: bool = False, grid: str | None = None) -> PreparedBatch:
    """Read, expand and plan every image; a `UserInputError` lists every combination that cannot run.

    `grid` (`x=sampler,y=cfg_scale`) replaces the job file's own `grid:`."""
    from sdkit.run.inputs import open_inputs
    from sdkit.run.plan import make_plan

    job_file_read = read_job_file(job_file)
    jobs = job_file_read.jobs
    grid_text = grid if grid is not None else job_file_read.grid
    axes = parse_grid(grid_text) if grid_text else None
    expander = PromptExpander(wildcard_folder(job_file), combinatorial)
    items = expand_jobs(jobs, overrides, expander, allow_many=allow_many)
    plans: dict[str, Any] = {}
    problems: list[str] = []
    for item in items:
        plan_key = item.plan_key()
        if plan_key in plans:
            continue
        flags = {**item.params, "batch_count": 1, "batch_size": 1}
        try:
            plan = make_plan(preset_name=item.run.get("preset"), task=item.run.get("task"),
                                        engine=item.run.get("engine"), mode=item.run.get("mode"),
                                        model=item.run.get("model"), vae=item.run.get("vae"), flags=flags)
            open_inputs(plan.params)  # a broken input image fails the plan, as it fails `generate --dry-run`
            plans[plan_key] = plan
        except UserInputError as error:
            plans[plan_key] = None
            problems.append(f"{item.job} ({_combination(item)}): " + error.message.replace("\n", "\n    "))
    if problems:
        shown = problems[:SHOWN_PROBLEMS] + ([f"... and {len(problems) - SHOWN_PROBLEMS} more"]
                                             if len(problems) > SHOWN_PROBLEMS else [])
        raise UserInputError(f"{len(problems)} combination(s) cannot run:\n" + "\n".join(f"  - {p}" for p in shown),
                             "fix those values in the job file (or the flags); nothing was run")
    items.sort(key=lambda item: _model_order(plans[item.plan_key()]))  # stable: file order within a model
    return PreparedBatch(items, plans, axes)


def _combination(item: Item) -> str:
    shown = {**item.run, **item.params}
    return ", ".join(f"{key}={clipped(str(value), 60)!r}" if isinstance(value, str) else f"{key}={value}"
                     for key, value in shown.items())


def run_batch(batch: PreparedBatch, folder: Path, events: RunEvents, *, restart: bool = False,
              fail_fast: bool = False, sidecar: bool = False,
              on_progress: Callable[[Summary, Item, str], None] | None = None) -> Summary:
    """Run every item not yet in `folder`'s manifest; returns what was done, skipped and failed."""
    from sdkit.outputs.writer import ensure_output_dir
    from sdkit.run.execute import execute

    folder = ensure_output_dir(folder)
    manifest = Manifest(folder)
    if restart:
        manifest.restart()
    done = manifest.done()
    summary = Summary(total=len(batch.items))
    started = time.perf_counter()
    try:
        for item in batch.items:
            if item.key in done:
                summary.skipped += 1
                status = "skipped"
            else:
                if events.should_stop():
                    raise Interrupted("stopped by the user between images",
                                      "the manifest has every finished image: run the same command to continue")
                status = _run_item(batch, item, folder, events, manifest, summary, sidecar, execute)
                if status == "failed" and fail_fast:
                    failure = summary.failures[-1]
                    raise UserInputError(f"{item.job} failed ({failure['error']}); stopping (--fail-fast)",
                                         "the manifest records it; fix it and run the same command to continue") \
                        if failure.get("input_error") else _failed_fast(failure)
            if on_progress is not None:
                on_progress(summary, item, status)
    except Interrupted as stopped:
        raise Interrupted(f"{stopped.message}; the {summary.done} image(s) this run made are in the manifest",
                          "run the same command again to continue where it stopped") from None
    finally:
        summary.seconds = time.perf_counter() - started
    if batch.grid is not None:
        made = {item.key for item in batch.items if item.key not in done}
        summary.grids = [str(path) for path in make_grids(batch.items, manifest.done(), folder, batch.grid, made)]
    return summary


def _failed_fast(failure: dict[str, Any]) -> SdkitError:
    from sdkit.core.errors import RuntimeFailure

    return RuntimeFailure(f"{failure['job']} failed ({failure['error']}); stopping (--fail-fast)",
                          "the manifest records it; run the same command to continue")


def _run_item(batch: PreparedBatch, item: Item, folder: Path, events: RunEvents, manifest: Manifest,
              summary: Summary, sidecar: bool, execute: Any) -> str:
    line = {"key": item.key, "job": item.job, "params": {**item.run, **item.params}, "seed": item.seed}
    try:
        result = execute(batch.plan_for(item), events, output_dir=folder, sidecar=sidecar)
    except Interrupted:
        raise
    except Exception as error:  # recorded, and the run goes on: one bad image must not cost the night's run
        message = error.message if isinstance(error, SdkitError) else f"{type(error).__name__}: {error}"
        log.warning("%s failed: %s", item.job, message, exc_info=not isinstance(error, SdkitError))
        manifest.append({**line, "status": "failed", "error": message})
        summary.failed += 1
        summary.failures.append({"job": item.job, "key": item.key, "error": message,
                                 "input_error": isinstance(error, UserInputError)})
        return "failed"
    (saved,) = result.images
    manifest.append({**line, "status": "done", "file": saved.path.name})
    summary.done += 1
    summary.files.append(str(saved.path))
    return "done"
