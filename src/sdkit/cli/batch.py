"""`sdkit batch FILE`: run a job file's sweeps with one model load per model, resumably, into one run folder.

The comma-list flags (`--sampler a,b`, `--seed 1-8`, `--prompt` given twice) apply to every job and
sweep like a list in the file. Ctrl-C and SIGTERM are handled as in `generate` (`StopFlag`): while an
image is drawn the run stops at the next step; the manifest holds every finished image; exit 130.
`--executor ray` draws the same images on Ray workers (docs/distributed.md); Ray is imported only then.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from sdkit.cli.console import err, out, print_json
from sdkit.core.errors import Interrupted, RuntimeFailure, UserInputError

SHOWN_ROWS = 50
EXECUTORS = ("local", "ray")


def _split(flag: str, text: str | None, kind: type) -> list[Any] | None:
    if text is None:
        return None
    values = []
    for part in text.split(","):
        try:
            values.append(kind(part.strip()))
        except ValueError:
            what = "whole number" if kind is int else "number"
            raise UserInputError(f"{flag} {text!r}: {part.strip()!r} is not a {what}",
                                 f"give {flag} one value or a comma list, e.g. {flag} 2,3") from None
    return values


def batch(
    job_file: Path = typer.Argument(..., metavar="FILE", help="Job file: YAML list of jobs, JSON Lines or CSV."),
    output_dir: str = typer.Option(None, "--output-dir", "-o", help="The run folder (default ./outputs/batch/<FILE name>/)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Expand and validate every image, print them, then stop."),
    as_json: bool = typer.Option(False, "--json", help="Print a machine-readable result."),
    restart: bool = typer.Option(False, "--restart", help="Start over instead of skipping what the run folder has done."),
    fail_fast: bool = typer.Option(False, "--fail-fast", help="Stop at the first failed image."),
    combinatorial: bool = typer.Option(False, "--combinatorial", help="Every {a|b} and __wildcard__ variant, not one per seed."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Run even more than 10,000 images."),
    grid: str = typer.Option(None, "--grid", help="Comparison grids: x=sampler,y=cfg_scale (z= for one grid per value)."),
    sidecar: bool = typer.Option(False, "--sidecar", help="Also write a JSON file of the full parameters per image."),
    prompt: list[str] = typer.Option(None, "--prompt", "-p", help="Prompt for every job; repeat to sweep prompts."),
    negative_prompt: str = typer.Option(None, "--negative-prompt", "-n", help="Negative prompt for every job."),
    model: str = typer.Option(None, "--model", "-m", help="Model(s) for every job, comma list to sweep."),
    sampler: str = typer.Option(None, "--sampler", help="Sampler(s), comma list: 'Euler,Euler a'."),
    schedule: str = typer.Option(None, "--schedule", help="Schedule type(s), comma list."),
    steps: str = typer.Option(None, "--steps", "-s", help="Steps, comma list: 10,20."),
    cfg_scale: str = typer.Option(None, "--cfg-scale", "--cfg", help="CFG scale(s), comma list: 3,7."),
    width: str = typer.Option(None, "--width", "-W", help="Width(s), comma list."),
    height: str = typer.Option(None, "--height", "-H", help="Height(s), comma list."),
    strength: str = typer.Option(None, "--strength", help="img2img denoising strength(s), comma list."),
    seed: str = typer.Option(None, "--seed", help="Seeds: 7, 1-8 or 1,5,9."),
    executor: str = typer.Option("local", "--executor", help="Who draws: local (this process) or ray (Ray workers)."),
    address: str = typer.Option(None, "--address", help="Ray cluster: auto, HOST:PORT or ray://HOST:PORT (default: a local instance)."),
    workers: int = typer.Option(None, "--workers", help="Ray workers (default: one per GPU, else one per CPU, at most 8)."),
    gpus_per_worker: float = typer.Option(None, "--gpus-per-worker", help="GPUs each Ray worker takes (default 1 on a GPU cluster, else 0)."),
    cpus_per_worker: float = typer.Option(None, "--cpus-per-worker", help="CPUs each Ray worker takes (default 1)."),
) -> None:
    """Run a job file: sweeps, seed ranges, wildcards; one model load per model; resumable."""
    from sdkit.cli.progress import StopFlag

    if output_dir is not None and not output_dir.strip():
        raise UserInputError("the output folder is empty (--output-dir '')", "pass --output-dir FOLDER or leave it out")
    overrides: dict[str, Any] = {
        "prompt": list(prompt) if prompt else None, "negative_prompt": negative_prompt,
        "model": model.split(",") if model else None, "sampler": sampler.split(",") if sampler else None,
        "schedule": schedule.split(",") if schedule else None, "steps": _split("--steps", steps, int),
        "cfg_scale": _split("--cfg-scale", cfg_scale, float), "width": _split("--width", width, int),
        "height": _split("--height", height, int), "strength": _split("--strength", strength, float), "seed": seed,
    }
    overrides = {key: value for key, value in overrides.items() if value is not None}
    ray_options = _ray_options(executor, address, workers, gpus_per_worker, cpus_per_worker)
    stop = StopFlag()
    with stop.installed():
        try:
            _batch(stop, job_file, output_dir, overrides, dry_run=dry_run, as_json=as_json, restart=restart,
                   fail_fast=fail_fast, combinatorial=combinatorial, yes=yes, sidecar=sidecar, grid=grid,
                   ray_options=ray_options)
        except KeyboardInterrupt as stopped:
            raise Interrupted(f"stopped ({stopped}); finished images are in the manifest",
                              "run the same command again to continue") from None


def _ray_options(executor: str, address: str | None, workers: int | None, gpus_per_worker: float | None,
                 cpus_per_worker: float | None) -> Any:
    """The Ray executor's options, or None for the local executor; checked before anything is read."""
    from sdkit.core.errors import UnknownKeyError

    if executor not in EXECUTORS:
        raise UnknownKeyError("executor", executor, EXECUTORS, "--executor is local (the default) or ray")
    given = {"--address": address, "--workers": workers, "--gpus-per-worker": gpus_per_worker,
             "--cpus-per-worker": cpus_per_worker}
    if executor == "local":
        ray_only = [flag for flag, value in given.items() if value is not None]
        if ray_only:
            raise UserInputError(f"{ray_only[0]} applies to Ray runs only", f"add --executor ray, or leave {ray_only[0]} out")
        return None
    if address is not None and not address.strip():
        raise UserInputError("the Ray address is empty (--address '')", "give auto, HOST:PORT or ray://HOST:PORT, or leave it out")
    if workers is not None and workers < 1:
        raise UserInputError(f"--workers {workers}: give 1 or more", "leave --workers out for one per GPU (or CPU)")
    if gpus_per_worker is not None and not 0 <= gpus_per_worker <= 64:
        raise UserInputError(f"--gpus-per-worker {gpus_per_worker:g}: give 0 (CPU workers) up to 64", "most runs want 1")
    if cpus_per_worker is not None and not 0 < cpus_per_worker <= 1024:
        raise UserInputError(f"--cpus-per-worker {cpus_per_worker:g}: give a number above 0", "the default is 1")
    from sdkit.batch.ray_executor import RayOptions

    return RayOptions(address=address.strip() if address else None, workers=workers,
                      gpus_per_worker=gpus_per_worker, cpus_per_worker=cpus_per_worker)


def _executor(ray_options: Any, as_json: bool) -> Any:
    """A `with` block holding the run's executor: the local one, or Ray (connected, or a local instance started)."""
    from contextlib import nullcontext

    if ray_options is None:
        from sdkit.batch.executor import LocalExecutor

        return nullcontext(LocalExecutor())
    from sdkit.batch.ray_cluster import check_ray_installed
    from sdkit.batch.ray_executor import RayExecutor

    check_ray_installed()  # missing Ray: the install line, before anything starts
    if not as_json:
        where = f"connecting to the Ray cluster at {ray_options.address}" if ray_options.address else \
            "starting a local Ray instance (127.0.0.1 only)"
        err.print(escape(f"batch: {where} ..."))
    return RayExecutor(ray_options)


def _run_folder(job_file: Path, output_dir: str | None) -> Path:
    if output_dir is not None:
        return Path(output_dir).expanduser()
    from sdkit.runtime.config import load_config

    configured = load_config().output_dir
    base = Path(configured).expanduser() if configured else Path.cwd() / "outputs"
    return base / "batch" / job_file.stem


def _batch(stop: Any, job_file: Path, output_dir: str | None, overrides: dict[str, Any], *, dry_run: bool,
           as_json: bool, restart: bool, fail_fast: bool, combinatorial: bool, yes: bool, sidecar: bool,
           grid: str | None, ray_options: Any = None) -> None:
    from sdkit.batch.manifest import Manifest
    from sdkit.batch.runner import prepare, run_batch

    prepared = prepare(job_file, overrides, combinatorial=combinatorial, allow_many=yes, grid=grid)
    folder = _run_folder(job_file, output_dir)
    if dry_run:
        _show_dry_run(prepared.describe(), as_json)
        return
    already = 0 if restart else len(Manifest(folder).done())
    if already and not as_json:
        err.print(f"resuming in {folder}: {already} image(s) already done (--restart starts over)")
    progress = _make_progress(enabled=not as_json and err.is_terminal, total=len(prepared.items))
    events = _BatchEvents(stop, progress)

    def on_progress(summary: Any, item: Any, status: str) -> None:
        if progress is not None:
            fields = {"rate": _throughput(summary.workers)} if summary.workers else {}
            progress.update(progress.task_ids[0], completed=summary.done + summary.skipped + summary.failed,
                            description=f"{item.job} ({status})", **fields)

    summary = None
    with _executor(ray_options, as_json) as executor:
        if progress is not None:
            progress.start()
        try:
            summary = run_batch(prepared, folder, events, restart=restart, fail_fast=fail_fast, sidecar=sidecar,
                                on_progress=on_progress, executor=executor)
        finally:
            if progress is not None:
                progress.stop()
    _report(summary.describe() | {"run_folder": str(folder)}, as_json)
    if summary.failed:
        raise RuntimeFailure(f"{summary.failed} of {summary.total} image(s) failed; the manifest records why",
                             f"see {Manifest(folder).path}; rerun the same command to retry them")


class _BatchEvents:
    """Run events for a batch: the first image makes stops cooperative; steps feed the bar's it/s."""

    def __init__(self, stop: Any, progress: Any) -> None:
        self._stop = stop
        self._progress = progress
        self._started = 0.0

    def image_started(self, index: int, total: int, steps: int) -> None:
        self._stop.cooperate()
        self._started = time.perf_counter()

    def step_finished(self, index: int, step: int, steps: int) -> None:
        if self._progress is not None:
            rate = step / max(time.perf_counter() - self._started, 1e-9)
            self._progress.update(self._progress.task_ids[0], rate=f"step {step}/{steps}, {rate:.2f} it/s")

    def should_stop(self) -> bool:
        return bool(self._stop.requested)


def _throughput(workers: list[dict[str, Any]]) -> str:
    """Images per minute of each live Ray worker, for the progress bar."""
    rates = [f"w{worker['worker']} {worker['images_per_minute']:.1f}/min" for worker in workers if worker["alive"]]
    return f"{len(rates)} worker(s): " + ", ".join(rates[:8]) + (" ..." if len(rates) > 8 else "")


def _make_progress(enabled: bool, total: int) -> Any:
    if not enabled:
        return None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), console=err, transient=True)
    progress.add_task("loading", total=total, rate="")
    return progress


def _show_dry_run(description: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(description)
        return
    combinations = description["combinations"]
    table = Table(title=f"batch --dry-run: {description['images']} image(s), {description['loads']} model load(s), "
                        "every one planned and valid", title_justify="left")
    columns = sorted({key for row in combinations for key in row if key != "key"}, key=lambda k: (k != "job", k))
    for column in columns:
        table.add_column(column)
    for row in combinations[:SHOWN_ROWS]:
        table.add_row(*(str(row.get(column, "")) for column in columns))
    out.print(table)
    if len(combinations) > SHOWN_ROWS:
        out.print(f"... and {len(combinations) - SHOWN_ROWS} more (--json lists them all)")


def _report(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(result)
        return
    table = Table(title=f"batch: run folder {result['run_folder']}", title_justify="left")
    for column in ("made", "skipped (done before)", "failed", "total", "seconds"):
        table.add_column(column, justify="right")
    table.add_row(str(result["done"]), str(result["skipped"]), str(result["failed"]), str(result["total"]),
                  f"{result['seconds']:.1f}")
    err.print(table)
    err.print(f"batch: {result['done']} made, {result['skipped']} skipped (already done), {result['failed']} failed "
              f"of {result['total']} in {result['seconds']:.1f}s")
    if result["workers"]:
        _report_workers(result)
    for failure in result["failures"]:
        err.print(f"failed: {failure['job']}: {failure['error']}")
    for path in result["files"]:
        out.print(path)
    for path in result["grids"]:
        out.print(f"grid: {path}")


def _report_workers(result: dict[str, Any]) -> None:
    table = Table(title="ray workers", title_justify="left")
    for column in ("worker", "node", "pid", "images", "images/min", "state"):
        table.add_column(column, justify="right" if column in ("images", "images/min") else "left")
    for worker in result["workers"]:
        state = "ok" if worker["alive"] or not worker["death"] else f"died: {worker['death']}"
        table.add_row(str(worker["worker"]), escape(str(worker["node"] or "-")), str(worker["pid"] or "-"),
                      str(worker["images"]), f"{worker['images_per_minute']:.1f}", escape(state))
    err.print(table)
    if result["worker_deaths"]:
        err.print(f"ray: {result['worker_deaths']} worker(s) died; {result['requeued']} image(s) were sent again")


def register(app: typer.Typer) -> None:
    app.command(name="batch")(batch)
