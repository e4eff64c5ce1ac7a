"""Read a job file: a YAML list of jobs, JSON Lines (one job a line) or CSV (columns = parameter names).

A job is any `generate` parameter (a value, or a list of values to sweep) plus `preset`, `model`,
`vae`, `engine`, `task`, `mode` and `count` (images per combination). Everything is checked here that
can be checked without planning: unknown keys (with did-you-mean), values of the wrong shape, a count
that is no positive whole number. Values of the wrong type for a parameter (`steps: many`) are found
when every combination is planned, all of them listed together.
"""

from __future__ import annotations

import csv
import io
import json
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sdkit.core.errors import UnknownKeyError, UserInputError
from sdkit.core.requests import request_fields
from sdkit.core.tasks import Task

# The keys a job has beside the request parameters: what `generate` takes as its own flags.
RUN_KEYS = ("preset", "model", "vae", "engine", "task", "mode")
COUNT_KEY = "count"
# generate's own way to make several images; a batch job says `count` instead.
BATCH_KEYS = ("batch_count", "batch_size")
# What a YAML job file may set beside its `jobs:` list.
FILE_SETTINGS = ("grid",)
# A job file is text someone wrote; a bigger one is almost certainly the wrong file.
MAX_JOB_FILE_BYTES = 8 * 1024 * 1024
# Values in a YAML job file, aliases expanded: bounds what a few lines of nested aliases can blow up to.
MAX_YAML_VALUES = 200_000
SCALAR_TYPES = (str, int, float, bool)


@dataclass(frozen=True)
class Job:
    """One job of the file: where it is (for messages) and its values, lists meaning sweeps."""

    where: str  # "jobs.yaml job 3" / "jobs.csv line 4"
    values: dict[str, Any] = field(default_factory=dict)
    count: int = 1

    def run_value(self, key: str) -> str | None:
        value = self.values.get(key)
        return None if value is None else str(value)


def job_keys() -> set[str]:
    """Every key a job may have."""
    names: set[str] = set()
    for task in Task:
        names |= request_fields(task)
    return names | set(RUN_KEYS) | {COUNT_KEY}


@dataclass(frozen=True)
class JobFile:
    jobs: list[Job]
    grid: str | None = None  # a YAML file's `grid: x=sampler,y=cfg_scale` beside its `jobs:`


def read_jobs(path: Path) -> list[Job]:
    """The jobs in `path`; a `UserInputError` for anything wrong with the file, naming the job."""
    return read_job_file(path).jobs


def read_job_file(path: Path) -> JobFile:
    """The jobs and file-wide settings in `path`."""
    text = _read_text(path)
    settings: dict[str, Any] = {}
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        raw = _json_lines(path, text)
    elif suffix == ".csv":
        raw = _csv_rows(path, text)
    elif suffix in (".yaml", ".yml"):
        raw = _yaml_jobs(path, text, settings)
    else:
        raise UserInputError(f"{path}: unknown job file type {suffix or '(no suffix)'!r}",
                             "use .yaml/.yml (a list of jobs), .jsonl (one JSON object a line) or .csv")
    if not raw:
        raise UserInputError(f"{path} holds no jobs", "add at least one job, e.g. `- prompt: a red circle`")
    known = job_keys()
    grid = settings.get("grid")
    if grid is not None and not isinstance(grid, str):
        raise UserInputError(f"{path}: grid must be text like x=sampler,y=cfg_scale, not {grid!r}")
    return JobFile([_job(where, values, known) for where, values in raw], grid)


def _read_text(path: Path) -> str:
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise UserInputError(f"{path} is not a regular file", "give a job file (.yaml, .jsonl or .csv)")
        if info.st_size > MAX_JOB_FILE_BYTES:
            raise UserInputError(f"{path} is larger than {MAX_JOB_FILE_BYTES // 1024 // 1024} MiB",
                                 "check that this is the job file you meant")
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise UserInputError(f"job file {path} does not exist", "check the path") from None
    except UnicodeDecodeError as error:
        raise UserInputError(f"{path} is not UTF-8 text ({error.reason})", "save the job file as UTF-8") from None
    except OSError as error:
        raise UserInputError(f"{path} cannot be read: {error.strerror or error}") from None


def _yaml_jobs(path: Path, text: str, settings: dict[str, Any]) -> list[tuple[str, Any]]:
    from sdkit.presets import yamlfile

    # The presets' bounded safe loader (depth and alias-expansion limits), with room for a long job list.
    class JobFileLoader(yamlfile._BoundedLoader):
        def _count(self, values: int, mark: yaml.Mark) -> None:
            self._values += values
            if self._values > MAX_YAML_VALUES:
                raise yamlfile._Refused(f"holds more than {MAX_YAML_VALUES} values, counting each alias as the "
                                        "values it stands for", mark, "write the values out instead of nesting aliases")

    loader = JobFileLoader(text)
    try:
        data = loader.get_single_data()
    except yamlfile._Refused as refused:
        line = f" line {refused.line}" if refused.line else ""
        raise UserInputError(f"{path}{line}: {refused.message}", refused.hint) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        what = getattr(error, "problem", None) or str(error)
        raise UserInputError(f"{path}{line}: not valid YAML: {what}", "check indentation and quoting") from None
    finally:
        loader.dispose()
    if isinstance(data, dict) and "jobs" in data:
        extra = sorted(set(data) - {"jobs", *FILE_SETTINGS}, key=str)
        if extra:
            raise UnknownKeyError("job file setting", str(extra[0]), ["jobs", *FILE_SETTINGS],
                                  f"{path}: beside `jobs:` a job file may set only {', '.join(FILE_SETTINGS)}")
        settings.update({key: data[key] for key in FILE_SETTINGS if key in data})
        data = data["jobs"]
    if isinstance(data, dict):
        data = [data]  # a file of one job
    if data is None:
        return []
    if not isinstance(data, list):
        raise UserInputError(f"{path}: a job file is a list of jobs, not a {type(data).__name__}",
                             "write each job as `- prompt: ...` with its parameters indented below")
    return [(f"{path.name} job {number}", job) for number, job in enumerate(data, 1)]


def _json_lines(path: Path, text: str) -> list[tuple[str, Any]]:
    jobs = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            jobs.append((f"{path.name} line {number}", json.loads(line)))
        except json.JSONDecodeError as error:
            raise UserInputError(f"{path} line {number}: not valid JSON ({error.msg})",
                                 "write one JSON object per line") from None
    return jobs


def _csv_value(text: str) -> Any:
    """A CSV cell as the number it spells, else as text; an empty cell is not given."""
    text = text.strip()
    if not text:
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _csv_rows(path: Path, text: str) -> list[tuple[str, Any]]:
    reader = csv.DictReader(io.StringIO(text))
    jobs = []
    for row in reader:
        if None in row:
            raise UserInputError(f"{path} line {reader.line_num}: more cells than the header has columns",
                                 "quote cells that contain commas")
        values = {key.strip(): _csv_value(cell or "") for key, cell in row.items()}
        jobs.append((f"{path.name} line {reader.line_num}", {k: v for k, v in values.items() if v is not None}))
    return jobs


def _job(where: str, values: Any, known: set[str]) -> Job:
    if not isinstance(values, dict):
        raise UserInputError(f"{where}: a job is a mapping of parameters, not a {type(values).__name__}",
                             "write it as `prompt: ...`, `steps: 20`, one key a line")
    for key, value in values.items():
        if not isinstance(key, str):
            raise UserInputError(f"{where}: the key {key!r} is not a parameter name", "keys are names like steps")
        if key in BATCH_KEYS:
            raise UserInputError(f"{where}: {key} has no meaning in a batch job: each image is its own item",
                                 "use `count: N` for N images per combination (seed, seed+1, ...)")
        if key not in known:
            raise UnknownKeyError("job key", key, known,
                                  f"{where}: a job takes generate's parameters (steps, sampler, cfg_scale, ...) "
                                  "and preset, model, vae, count")
        _check_value(where, key, value)
    count = values.get(COUNT_KEY, 1)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise UserInputError(f"{where}: count must be a whole number of images, 1 or more, not {count!r}",
                             "count is how many images each combination makes (seed, seed+1, ...)")
    return Job(where, {key: value for key, value in values.items() if key != COUNT_KEY and value is not None}, count)


def _check_value(where: str, key: str, value: Any) -> None:
    if value is None or isinstance(value, SCALAR_TYPES):
        return
    if key == "loras" and isinstance(value, list) and all(isinstance(item, str) for item in value):
        return  # a list of LoRAs is one value, not a sweep
    if isinstance(value, list):
        if not value:
            raise UserInputError(f"{where}: {key} is an empty list, so the job makes no image",
                                 f"give {key} at least one value, or leave it out")
        bad = [item for item in value if not isinstance(item, SCALAR_TYPES)]
        if not bad:
            return
        value = bad[0]
    raise UserInputError(f"{where}: {key} must be a value or a list of values, not {type(value).__name__} {value!r}",
                         f"write `{key}: VALUE` or `{key}: [A, B]` to sweep")
