"""Turn jobs into one `Item` per image: the product of every list, seed ranges, dynamic prompts.

A parameter given as a list sweeps: a job makes the product of all its lists, times its seeds, times
`count`. Seeds are `7`, `"1-8"`, `"1,5,9"` or a list; without a seed a combination gets one derived
from its parameters, so the same job file makes the same images on every run (and a run can resume).
The prompt's `{a|b}` variants and `__wildcards__` are chosen per image from its seed alone
(`--combinatorial` enumerates them instead). The size of the product is computed before anything is
built, so a job file that would make millions of images is refused at once.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sdkit.batch.jobs import RUN_KEYS, Job
from sdkit.batch.wildcards import PromptExpander
from sdkit.core.errors import UserInputError
from sdkit.core.params import SEED_MAX

# More images than this needs --yes: a typo in a sweep should not start a week-long run.
IMAGE_LIMIT = 10_000
# Parameters whose text is expanded with the dynamic-prompts syntax.
PROMPT_KEYS = ("prompt", "negative_prompt")


@dataclass(frozen=True)
class Item:
    """One image to make: the job it comes from, its run values (preset, model, ...) and its parameters."""

    job: str  # the job's place in the file
    run: dict[str, str]  # preset, model, vae, engine, task, mode
    params: dict[str, Any]  # generate parameters, every value single, with its own seed
    key: str  # stable hash of everything above but the job's place: the manifest's key

    @property
    def seed(self) -> int:
        return int(self.params["seed"])

    def plan_key(self) -> str:
        """Items with the same plan key differ only in seed: one plan serves them all (every prompt is planned)."""
        rest = {key: value for key, value in self.params.items() if key != "seed"}
        return _digest({"run": self.run, "params": rest})


def _digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode("utf-8")).hexdigest()[:16]


def parse_seeds(value: Any, where: str = "--seed") -> list[range]:
    """`7`, `"1-8"`, `"1,5,9"`, `"1-3,10"` or a list of those, as ranges of seeds (never materialised)."""
    parts: list[Any] = value if isinstance(value, list) else [value]
    seeds: list[range] = []
    for part in parts:
        for piece in str(part).split(",") if isinstance(part, str) else [part]:
            seeds.append(_seed_piece(piece, where))
    return seeds


def _seed_piece(piece: Any, where: str) -> range:
    hint = "give seeds as 7, 1-8 or 1,5,9 (whole numbers from 0 to 4294967295)"
    if isinstance(piece, bool) or isinstance(piece, float):
        raise UserInputError(f"{where}: seed {piece!r} is not a whole number", hint)
    if isinstance(piece, int):
        low = high = piece
    else:
        text = piece.strip()
        first, dash, last = text.partition("-") if not text.startswith("-") else (text, "", "")
        try:
            low, high = (int(first), int(last)) if dash else (int(text), int(text))
        except ValueError:
            raise UserInputError(f"{where}: seed {text!r} is not a seed or a range of seeds", hint) from None
    if low < 0 or high > SEED_MAX or low > high:
        raise UserInputError(f"{where}: seed range {piece!r} is outside 0..{SEED_MAX} or runs backwards", hint)
    return range(low, high + 1)


def _sweeps(job: Job, overrides: dict[str, Any]) -> dict[str, list[Any]]:
    """Every value of the job (command-line overrides replacing the job's) as a list of choices."""
    merged = {**job.values, **{key: value for key, value in overrides.items() if value is not None}}
    lists: dict[str, list[Any]] = {}
    for key, value in merged.items():
        if key == "seed":
            continue
        lists[key] = [value] if key == "loras" or not isinstance(value, list) else list(value)
    return lists


def _seed_choices(job: Job, overrides: dict[str, Any]) -> list[range] | None:
    value = overrides.get("seed", job.values.get("seed"))
    if value is None:
        return None
    seeds = parse_seeds(value, f"{job.where}: seed" if "seed" not in overrides else "--seed")
    return seeds


def count_images(jobs: list[Job], overrides: dict[str, Any], expander: PromptExpander) -> int:
    """How many images the jobs make, without building them."""
    total = 0
    for job in jobs:
        lists = _sweeps(job, overrides)
        seeds = _seed_choices(job, overrides)
        combos = math.prod(len(values) for values in lists.values())
        if expander.combinatorial:
            combos = combos // max(len(lists.get("prompt", [""])), 1) * sum(
                expander.count(str(prompt)) for prompt in lists.get("prompt", [""]))
        total += combos * (sum(len(part) for part in seeds) if seeds is not None else 1) * job.count
    return total


def expand_jobs(jobs: list[Job], overrides: dict[str, Any], expander: PromptExpander, *,
                allow_many: bool = False) -> list[Item]:
    """Every image of the jobs, in file order; refuses an empty product, or a huge one without `allow_many`."""
    total = count_images(jobs, overrides, expander)
    if total == 0:
        raise UserInputError("the job file makes no image (an empty list or product)",
                             "give every swept parameter at least one value")
    if total > IMAGE_LIMIT and not allow_many:
        raise UserInputError(f"the jobs make {total:,} images, more than {IMAGE_LIMIT:,}",
                             "check the sweeps (sdkit batch FILE --dry-run lists them), or pass --yes to run them all")
    return [item for job in jobs for item in _job_items(job, overrides, expander)]


def _job_items(job: Job, overrides: dict[str, Any], expander: PromptExpander) -> Iterator[Item]:
    lists = _sweeps(job, overrides)
    seeds = _seed_choices(job, overrides)
    names = list(lists)
    for combination in itertools.product(*(lists[name] for name in names)):
        values = dict(zip(names, combination, strict=True))
        run = {key: str(values.pop(key)) for key in RUN_KEYS if key in values}
        derived = int(_digest({"run": run, "params": values}), 16) % (SEED_MAX + 1)
        first_seeds = itertools.chain(*seeds) if seeds is not None else [derived]
        for first in first_seeds:
            for offset in range(job.count):
                seed = (first + offset) % (SEED_MAX + 1)
                for prompts in expander.expand({key: values[key] for key in PROMPT_KEYS if key in values}, seed):
                    params = {**values, **prompts, "seed": seed}
                    yield Item(job.where, run, params, _digest({"run": run, "params": params}))
