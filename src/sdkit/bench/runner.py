"""Run the benchmark matrix: each cell through sdkit and through plain diffusers, interleaved.

Per cell: `warmup` untimed runs of every side, then `repeats` timed rounds; each round runs every side
once, and the order flips from round to round (A B, B A, ...) so that a machine whose load drifts, or
that is shared, slows both sides alike. Ratios compare the sides' medians (see `CellResult`); the
per-round ratios are kept in the report too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from sdkit.bench.probes import StageTimer, current_rss_mb, gpu_peak_mb, peak_rss_mb, reset_gpu_peak, reset_peak_rss
from sdkit.bench.report import (
    DIFFUSERS,
    DIFFUSERS_FP32,
    SDKIT,
    SDKIT_TORCH,
    BenchCell,
    BenchReport,
    CellResult,
    SideResult,
)
from sdkit.bench.timing import round_orders, time_call, torch_threads
from sdkit.core.errors import UserInputError

log = logging.getLogger(__name__)

DEFAULT_PROMPT = "a red circle and a blue square on a white background"
DEFAULT_NEGATIVE = "blurry"


@dataclass(frozen=True)
class BenchConfig:
    """What `sdkit benchmark` runs. A size of None means the model's native size."""

    model: str | None = None
    samplers: tuple[str, ...] = ("diffusers:euler_a", "diffusers:dpmpp_2m")  # the same computation as the baseline
    steps: tuple[int, ...] = (20,)
    sizes: tuple[tuple[int, int] | None, ...] = (None,)
    batch_sizes: tuple[int, ...] = (1, 4)
    repeats: int = 3
    warmup: int = 1
    dtype: str = "auto"
    device: str = "auto"
    prompt: str = DEFAULT_PROMPT
    negative_prompt: str = DEFAULT_NEGATIVE
    cfg_scale: float = 7.0
    seed: int = 1234
    threads: int | None = None  # torch intra-op threads for both sides; None: torch's default
    baseline: bool = True
    # Also run diffusers in its default fp32, for the speed-up and PSNR of a lower precision.
    # None: only when sdkit's dtype is not fp32 already.
    fp32_baseline: bool | None = None
    # sdkit's backend (`--backend`); any but torch also runs sdkit on torch as a side of its own.
    backend: str = "torch"

    def check(self) -> None:
        if self.repeats < 1:
            raise UserInputError(f"--repeats must be at least 1, not {self.repeats}", "try --repeats 3")
        if self.threads is not None and self.threads < 1:
            raise UserInputError(f"--threads must be at least 1, not {self.threads}", "try --threads 1")
        if self.warmup < 0:
            raise UserInputError(f"--warmup must be 0 or more, not {self.warmup}", "try --warmup 1")
        for name, values in (("--samplers", self.samplers), ("--steps", self.steps), ("--sizes", self.sizes),
                             ("--batch-sizes", self.batch_sizes)):
            if not values:
                raise UserInputError(f"{name} is empty", "give at least one value, e.g. --steps 20")


Progress = Callable[[str], None]


def _flags(config: BenchConfig, sampler: str, steps: int, size: tuple[int, int] | None, batch: int) -> dict[str, Any]:
    flags: dict[str, Any] = {
        "prompt": config.prompt, "negative_prompt": config.negative_prompt, "steps": steps,
        "cfg_scale": config.cfg_scale, "batch_size": batch, "batch_count": 1, "seed": config.seed,
        "sampler": sampler, "dtype": config.dtype, "device": config.device, "rng": "cpu", "backend": config.backend,
    }
    if size is not None:
        flags["width"], flags["height"] = size
    return flags


# The runnable sides of one cell: side name -> a function that makes one batch of images.
Sides = dict[str, Callable[[], list[Any]]]


def _timed(run: Callable[[], list[Any]], timer: StageTimer, device: str, side: SideResult) -> list[Any]:
    """One timed run: wall time, UNet and VAE time, peak memory, and the pixel hash of its images."""
    from sdkit.bench.quality import pixels_hash

    reset_peak_rss()
    rss_before = current_rss_mb()
    reset_gpu_peak(device)
    timer.reset()
    timed = time_call(run, device)
    images = timed.value
    side.seconds.append(timed.wall_s)
    side.cpu_seconds.append(timed.cpu_s)
    side.unet_seconds.append(timer.unet_seconds)
    side.vae_seconds.append(timer.vae_seconds)
    side.text_seconds.append(timer.text_seconds)
    side.unet_calls = timer.unet_calls
    peak = peak_rss_mb()
    if peak is not None:
        side.peak_rss_mb = max(side.peak_rss_mb or 0.0, peak)
        if rss_before is not None:
            side.run_rss_mb = max(side.run_rss_mb or 0.0, peak - rss_before)
    gpu = gpu_peak_mb(device)
    if gpu is not None:
        side.gpu_peak_mb = max(side.gpu_peak_mb or 0.0, gpu)
    side.image_hashes.append(pixels_hash(images))
    return images


def run_benchmark(config: BenchConfig, progress: Progress | None = None) -> BenchReport:
    """Run the whole matrix and return the report (nothing is printed; `progress` gets short messages)."""
    config.check()
    with torch_threads(config.threads):
        return _run_matrix(config, progress or (lambda message: None))


def _run_matrix(config: BenchConfig, say: Progress) -> BenchReport:
    import torch

    from sdkit.bench.baseline import BaselineJob, DiffusersBaseline
    from sdkit.bench.machine import machine_info
    from sdkit.bench.quality import psnr
    from sdkit.run.events import NullEvents
    from sdkit.run.execute import load_model, run_images
    from sdkit.run.plan import make_plan
    from sdkit.runtime.device import dtype_label
    from sdkit.samplers import make_scheduler

    _import_libraries()
    first = make_plan(task="txt2img", model=config.model,
                      flags=_flags(config, config.samplers[0], config.steps[0], config.sizes[0], config.batch_sizes[0]))
    ref = first.model_ref
    report = BenchReport(machine=machine_info(), settings={**asdict(config), "model_name": getattr(ref, "name", None)})

    say(f"loading {getattr(ref, 'name', config.model)} in sdkit")
    started = time.perf_counter()
    loaded = load_model(first)
    report.load_seconds[SDKIT] = time.perf_counter() - started
    device, dtype = loaded.device, loaded.dtype
    if config.threads:
        torch.set_num_threads(config.threads)  # loading may choose a thread count of its own; --threads wins
    report.settings.update(device_used=device, dtype_used=dtype_label(dtype), threads_used=torch.get_num_threads())
    torch.manual_seed(0)  # nothing should depend on the global seed; if something does, it is at least fixed

    baselines: dict[str, DiffusersBaseline] = {}
    if config.baseline:
        folder = getattr(ref, "path", None)
        family = str(getattr(ref.family, "value", ref.family))
        vae_dtype = next(loaded.components["vae"].parameters()).dtype
        wanted = [(DIFFUSERS, dtype, vae_dtype)]  # the same precision, part by part, as sdkit
        fp32_wanted = config.fp32_baseline if config.fp32_baseline is not None else dtype != torch.float32
        if fp32_wanted and dtype != torch.float32:
            wanted.append((DIFFUSERS_FP32, torch.float32, torch.float32))
        for name, side_dtype, side_vae_dtype in wanted:
            say(f"loading {folder} in plain diffusers ({dtype_label(side_dtype)})")
            started = time.perf_counter()
            baselines[name] = DiffusersBaseline(folder, family, device, side_dtype, side_vae_dtype)
            report.load_seconds[name] = time.perf_counter() - started
    else:
        report.notes.append("no plain-diffusers baseline (--no-baseline): no ratios")

    def encoders(parts: Any) -> list[Any]:
        return [parts.get("text_encoder"), parts.get("text_encoder_2")]

    timers = {SDKIT: StageTimer(device).attach(loaded.components["unet"], loaded.components["vae"],
                                               encoders(loaded.components))}
    torch_side = _torch_side(config, first, report, say)
    if torch_side is not None:
        timers[SDKIT_TORCH] = StageTimer(device).attach(torch_side.components["unet"], torch_side.components["vae"],
                                                        encoders(torch_side.components))
    for name, baseline in baselines.items():
        timers[name] = StageTimer(device).attach(baseline.pipeline.unet, baseline.pipeline.vae,
                                                 encoders(baseline.pipeline.components))
    try:
        cells = [(sampler, steps, size, batch) for sampler in config.samplers for steps in config.steps
                 for size in config.sizes for batch in config.batch_sizes]
        for number, (sampler, steps, size, batch) in enumerate(cells, 1):
            plan = first if number == 1 else make_plan(task="txt2img", model=config.model,
                                                       flags=_flags(config, sampler, steps, size, batch))
            params = plan.params
            cell = BenchCell(sampler, steps, params.width, params.height, batch)
            say(f"cell {number}/{len(cells)}: {cell.label}")
            sides: Sides = {}
            sides[SDKIT] = lambda plan=plan: [run_image.image for run_image in
                                                   run_images(plan, NullEvents(), loaded=loaded)]
            if torch_side is not None:
                torch_plan = make_plan(task="txt2img", model=config.model,
                                       flags={**_flags(config, sampler, steps, size, batch), "backend": "torch"})
                sides[SDKIT_TORCH] = lambda plan=torch_plan: [run_image.image for run_image in
                                                              run_images(plan, NullEvents(), loaded=torch_side)]
            if baselines:
                scheduler = make_scheduler(_diffusers_twin(params.sampler, params.schedule, report),
                                           loaded.scheduler_config)
                job = BaselineJob(
                    prompt=params.prompt, negative_prompt=params.negative_prompt, steps=params.steps,
                    cfg_scale=params.cfg_scale, width=params.width, height=params.height,
                    seeds=tuple(params.seed + offset for offset in range(batch)),
                    scheduler_class=type(scheduler), scheduler_config=dict(scheduler.config),
                )
                for name, baseline in baselines.items():
                    sides[name] = lambda baseline=baseline, job=job: baseline.run(job)
            report.cells.append(_run_cell(cell, sides, timers, device, config, psnr))
            say(f"cell {number}/{len(cells)} done: " + ", ".join(
                f"{name} {side.median:.2f} s" for name, side in report.cells[-1].sides.items() if side.median))
    finally:
        for timer in timers.values():
            timer.detach()
    return report


def _diffusers_twin(sampler: str, schedule: str, report: BenchReport) -> Any:
    """The diffusers scheduler of the same sampler and schedule, which the baseline runs: for a name that
    sdkit.sampling computes (A1111's or ComfyUI's) that is "diffusers:<id>"; where diffusers cannot take
    the schedule, the sampler's own default schedule there, said in the report's notes."""
    from sdkit.core.errors import UserInputError
    from sdkit.samplers import resolve_sampler

    resolved = resolve_sampler(sampler, schedule)
    if resolved.spec is None:
        return resolved
    try:
        return resolve_sampler(resolved.diffusers_name, resolved.schedule)
    except UserInputError:
        twin = resolve_sampler(resolved.diffusers_name)
        note = (f"{sampler} ({resolved.schedule}): plain diffusers cannot take that schedule; its baseline runs "
                f"{twin.spec.scheduler_class} on {twin.schedule}")
        if note not in report.notes:
            report.notes.append(note)
        return twin


def _torch_side(config: BenchConfig, first: Any, report: BenchReport, say: Progress) -> Any:
    """sdkit's model loaded on the torch backend, when the benchmarked backend is another (else None)."""
    from sdkit.run.execute import load_model
    from sdkit.run.plan import make_plan

    if config.backend == "torch":
        return None
    backend = getattr(first.params, "backend", config.backend)
    report.settings["backend"] = backend
    say("loading the model again in sdkit on the torch backend")
    flags = _flags(config, config.samplers[0], config.steps[0], config.sizes[0], config.batch_sizes[0])
    torch_plan = make_plan(task="txt2img", model=config.model, flags={**flags, "backend": "torch"})
    started = time.perf_counter()
    loaded = load_model(torch_plan)
    report.load_seconds[SDKIT_TORCH] = time.perf_counter() - started
    return loaded


def _import_libraries() -> None:
    """Import diffusers' pipelines before any timing, so load times compare loading, not importing.

    Also silences diffusers' and transformers' loading bars: the benchmark reports its own progress.
    """
    import diffusers
    import transformers

    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()
    _ = diffusers.StableDiffusionPipeline, diffusers.StableDiffusionXLPipeline  # lazy modules load on access


def _run_cell(cell: BenchCell, sides: Sides, timers: dict[str, StageTimer], device: str, config: BenchConfig,
              psnr: Callable[[list[Any], list[Any]], float]) -> CellResult:
    results = {name: SideResult(name) for name in sides}
    names = list(sides)
    for _ in range(config.warmup):
        for name in names:
            # Kept: the first run shows one-time costs (lazy initialisation, hashing a new model file).
            results[name].warmup_seconds.append(time_call(sides[name], device).wall_s)
    result = CellResult(cell, results)
    first_images: dict[str, list[Any]] = {}
    for order in round_orders(names, config.repeats):
        for name in order:
            images = _timed(sides[name], timers[name], device, results[name])
            first_images.setdefault(name, images)
        if DIFFUSERS in results:
            result.pair_ratios.append(results[SDKIT].seconds[-1] / results[DIFFUSERS].seconds[-1])
        if DIFFUSERS_FP32 in results:
            result.fp32_speedups.append(results[DIFFUSERS_FP32].seconds[-1] / results[SDKIT].seconds[-1])
    if DIFFUSERS in results and config.backend == "torch":  # another backend's pixels differ by rounding
        result.same_images_as_diffusers = results[SDKIT].image_hashes[0] == results[DIFFUSERS].image_hashes[0]
    for name, images in first_images.items():
        if name != SDKIT:
            result.psnr_db[name] = psnr(images, first_images[SDKIT])
    if DIFFUSERS_FP32 in first_images:
        result.psnr_vs_fp32_db = psnr(first_images[DIFFUSERS_FP32], first_images[SDKIT])
    return result
