"""Plan every image of a batch before anything runs, one plan per group of items that differ only in seed.

Planning first means one bad combination fails the run before any model loads, with every problem
listed. Items that differ only in seed share one plan (a plan takes about a millisecond, so even
10,000 different prompts plan in seconds). Items are ordered by model and VAE, so each is loaded
once. `plan_item` is the one way an item becomes a plan: the driver plans with it, and so does every
Ray worker, so both draw the same thing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sdkit.batch.expand import Item, expand_jobs
from sdkit.batch.grid import parse_grid
from sdkit.batch.jobs import read_job_file
from sdkit.batch.wildcards import PromptExpander, wildcard_folder
from sdkit.core.errors import UserInputError
from sdkit.core.text import clipped

SHOWN_PROBLEMS = 20


@dataclass
class PreparedBatch:
    """Every image of a batch with its plan, in the order they run."""

    items: list[Item]
    plans: dict[str, Any]  # Item.plan_key() -> RunPlan
    grid: dict[str, str] | None = None  # {axis: parameter} of the grids to draw

    def plan_for(self, item: Item) -> Any:
        """The item's own plan: its group's, with the item's seed."""
        return with_seed(self.plans[item.plan_key()], item.seed)

    def describe(self) -> dict[str, Any]:
        return {"images": len(self.items), "loads": len({model_order(plan) for plan in self.plans.values()}),
                "combinations": [{"job": item.job, "key": item.key, **item.run, **item.params} for item in self.items]}


def with_seed(plan: Any, seed: int) -> Any:
    return dataclasses.replace(plan, params=plan.params.model_copy(update={"seed": seed}))


def model_order(plan: Any) -> tuple[str, str]:
    """What a worker must load to draw the plan: engine and model, and the VAE. Items sort by it."""
    location = plan.model_ref.location if plan.model_ref is not None else ""
    return (f"{plan.engine_name}:{location}", str(plan.vae or ""))


def plan_item(item: Item) -> Any:
    """The plan of an item's group (its seed is set by `with_seed`); a `UserInputError` if it cannot run."""
    from sdkit.run.plan import make_plan

    flags = {**item.params, "batch_count": 1, "batch_size": 1}
    return make_plan(preset_name=item.run.get("preset"), task=item.run.get("task"), engine=item.run.get("engine"),
                     mode=item.run.get("mode"), model=item.run.get("model"), vae=item.run.get("vae"), flags=flags)


def plan_fingerprint(plan: Any) -> dict[str, Any]:
    """What must agree between the driver's plan and a worker's for both to draw the same image."""
    return {"engine": plan.engine_name, "model": plan.model_ref.name if plan.model_ref is not None else None,
            "vae": str(plan.vae or ""), "params": plan.params.model_dump(mode="json")}


def prepare(job_file: Path, overrides: dict[str, Any], *, combinatorial: bool = False,
            allow_many: bool = False, grid: str | None = None) -> PreparedBatch:
    """Read, expand and plan every image; a `UserInputError` lists every combination that cannot run.

    `grid` (`x=sampler,y=cfg_scale`) replaces the job file's own `grid:`."""
    from sdkit.run.inputs import open_inputs

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
        try:
            plan = plan_item(item)
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
    items.sort(key=lambda item: model_order(plans[item.plan_key()]))  # stable: file order within a model
    return PreparedBatch(items, plans, axes)


def _combination(item: Item) -> str:
    shown = {**item.run, **item.params}
    return ", ".join(f"{key}={clipped(str(value), 60)!r}" if isinstance(value, str) else f"{key}={value}"
                     for key, value in shown.items())
