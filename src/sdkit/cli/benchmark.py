"""`sdkit benchmark`: a seed-fixed matrix of samplers x steps x sizes x batch sizes, sdkit vs plain diffusers.

Its subcommands time single parts with random weights instead: `unet` and `vae` (a family's full-size
part across fp32/bf16/channels_last/compile levers) and `upscale` (Real-ESRGAN throughput, tiled vs
untiled). The measuring is in `sdkit.bench`; this module parses options and prints.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from sdkit.cli.console import err, out
from sdkit.core.errors import UserInputError


def _split(text: str, option: str) -> list[str]:
    values = [part.strip() for part in text.split(",") if part.strip()]
    if not values:
        raise UserInputError(f"{option} is empty", f"give a comma-separated list, e.g. {option} 20,30")
    return values


def _integers(text: str, option: str, minimum: int = 1) -> tuple[int, ...]:
    values = []
    for part in _split(text, option):
        try:
            value = int(part)
        except ValueError:
            raise UserInputError(f"{option}: {part!r} is not a whole number", f"e.g. {option} 10,20") from None
        if value < minimum:
            raise UserInputError(f"{option}: {value} is below {minimum}", f"e.g. {option} 10,20")
        values.append(value)
    return tuple(values)


def _sizes(text: str) -> tuple[tuple[int, int] | None, ...]:
    """`native`, `512` (square) or `768x512` (width x height), comma-separated."""
    sizes: list[tuple[int, int] | None] = []
    for part in _split(text, "--sizes"):
        if part.lower() in ("native", "auto"):
            sizes.append(None)
            continue
        pieces = part.lower().split("x")
        try:
            numbers = [int(piece) for piece in pieces]
        except ValueError:
            numbers = []
        if len(numbers) not in (1, 2):
            raise UserInputError(f"--sizes: {part!r} is not a size", "use native, 512 or 768x512 (width x height)")
        sizes.append((numbers[0], numbers[-1]))
    return tuple(sizes)


benchmark_app = typer.Typer(
    name="benchmark",
    help="Time generation on this machine, and sdkit's cost over plain diffusers on the same job.",
    invoke_without_command=True,
)


@benchmark_app.callback(invoke_without_command=True)
def benchmark(
    ctx: typer.Context,
    model: str = typer.Option(None, "--model", "-m", help="Model to benchmark (default: the bundled demo model)."),
    samplers: str = typer.Option("diffusers:euler_a,diffusers:dpmpp_2m", "--samplers",
                                 help="Comma-separated samplers (any name generate takes)."),
    steps: str = typer.Option("20", "--steps", help="Comma-separated step counts."),
    sizes: str = typer.Option("native", "--sizes", help="Comma-separated sizes: native, 512 or 768x512."),
    batch_sizes: str = typer.Option("1,4", "--batch-sizes", help="Comma-separated batch sizes."),
    repeats: int = typer.Option(3, "--repeats", help="Timed rounds per cell (each runs sdkit and diffusers once)."),
    warmup: int = typer.Option(1, "--warmup", help="Untimed runs per cell and side before timing."),
    dtype: str = typer.Option("auto", "--dtype", help="auto, fp32, fp16 or bf16 (auto: bf16 on CPUs that compute it natively)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N or mps."),
    backend: str = typer.Option("torch", "--backend", help="sdkit's backend: torch, openvino or auto; any but torch also runs sdkit on torch, so one run compares all three."),
    threads: int = typer.Option(None, "--threads", help="torch CPU threads for both sides (default: torch's; 1 is faster on a busy shared machine)."),
    seed: int = typer.Option(1234, "--seed", help="Seed of the first image of each batch."),
    baseline: bool = typer.Option(True, "--baseline/--no-baseline", help="Also run each cell in plain diffusers and show the ratio."),
    fp32_baseline: bool = typer.Option(None, "--fp32-baseline/--no-fp32-baseline", help="Also run diffusers in fp32 (speed-up and PSNR); default: when the dtype is not fp32."),
    matrix: bool = typer.Option(True, "--matrix/--no-matrix", help="Run the sampler matrix (--no-matrix with --startup: startup only)."),
    startup: bool = typer.Option(False, "--startup", help="Also time `sdkit --help`, `sdkit presets list` and `import diffusers` as processes."),
    startup_runs: int = typer.Option(5, "--startup-runs", help="Runs per startup command (the median is shown)."),
    startup_all: bool = typer.Option(False, "--startup-all", help="With --startup: also every other command that does not generate."),
    json_file: Path = typer.Option(None, "--json", help="Write the full report as JSON to this file."),
    csv_file: Path = typer.Option(None, "--csv", help="Write one row per cell and side as CSV to this file."),
) -> None:
    """Time generation on this machine, and sdkit's cost over plain diffusers on the same job.

    The subcommands time one part alone: `unet`, `vae` (precision levers) and `upscale` (tiling).
    """
    if ctx.invoked_subcommand is not None:
        return
    from sdkit.bench.machine import describe_machine, machine_info
    from sdkit.bench.report import BenchReport

    if not matrix and not startup:
        raise UserInputError("nothing to do: --no-matrix without --startup", "drop --no-matrix or add --startup")
    for path in (json_file, csv_file):
        _check_folder(path)
    if matrix:
        from sdkit.bench.runner import BenchConfig, run_benchmark

        config = BenchConfig(
            model=model, samplers=tuple(_split(samplers, "--samplers")), steps=_integers(steps, "--steps"),
            sizes=_sizes(sizes), batch_sizes=_integers(batch_sizes, "--batch-sizes"), repeats=repeats,
            warmup=warmup, dtype=dtype, device=device, seed=seed, threads=threads, baseline=baseline, fp32_baseline=fp32_baseline,
            backend=_backend(backend),
        )
        config.check()
        _warn_if_busy(threads)
        with err.status("benchmark: starting") as status:
            report = run_benchmark(config, progress=lambda message: status.update(f"benchmark: {message}"))
    else:
        report = BenchReport(machine=machine_info(with_torch=False), settings={})
    if startup:
        from sdkit.bench.startup import time_startup

        with err.status("timing startup"):
            report.startup = [timing.describe() for timing in time_startup(runs=startup_runs, every_command=startup_all)]

    out.print(describe_machine(report.machine))
    if report.cells:
        _print_matrix(report)
    if report.startup:
        _print_startup(report.startup)
    for note in report.notes:
        err.print(f"note: {note}")
    if json_file is not None:
        report.write_json(json_file)
        err.print(f"report written to {json_file}")
    if csv_file is not None:
        report.write_csv(csv_file)
        err.print(f"table written to {csv_file}")


def _backend(name: str) -> str:
    choices = ("torch", "openvino", "auto")
    if name not in choices:
        raise UserInputError(f"unknown backend {name!r}", f"use one of {', '.join(choices)}")
    return name


def _warn_if_busy(threads: int | None) -> None:
    """Say so when other processes keep the cores busy: torch's threads then wait on each other."""
    import os

    if threads is not None or not hasattr(os, "getloadavg"):
        return
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    if load >= max(1.0, cores / 2):
        err.print(f"[yellow]note:[/] the machine is busy (load average {load:.1f} on {cores} cores); on the CPU "
                  "torch's threads then wait on each other, and --threads 1 is often much faster "
                  "(docs/performance.md)")


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _print_matrix(report: Any) -> None:
    settings = report.settings
    loads = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in report.load_seconds.items())
    first = report.cells[0].sides
    if all(side.warmup_seconds for side in first.values()):
        loads += " · first run: " + ", ".join(f"{name} {side.warmup_seconds[0]:.2f} s" for name, side in first.items())
    table = Table(title=f"{settings.get('model_name')} on {settings.get('device_used')} as {settings.get('dtype_used')}"
                        f"{' on ' + settings['backend'] if settings.get('backend') else ''}"
                        f" · {settings.get('threads_used')} thread(s)"
                        f" · {settings['repeats']} repeats after {settings['warmup']} warm-up · load: {loads}",
                  title_justify="left")
    has_fp32 = any(cell.fp32_speedup is not None for cell in report.cells)
    has_gpu = any(side.gpu_peak_mb for cell in report.cells for side in cell.sides.values())
    for name in ("sampler", "steps", "size", "batch"):
        table.add_column(name)
    for name in ("s/image (min-max)", "it/s", "UNet s", "VAE s", "peak RSS MiB"):
        table.add_column(name, justify="right")
    if has_gpu:
        table.add_column("GPU peak MiB", justify="right")
    table.add_column("diffusers s/image", justify="right")
    table.add_column("sdkit/diffusers wall / CPU / model-adjusted", justify="right")
    table.add_column("sdkit extra ms", justify="right")
    if has_fp32:
        table.add_column("speed vs diffusers fp32", justify="right")
        table.add_column("PSNR vs fp32", justify="right")
    others = [name for name in ("sdkit-torch", "diffusers") if any(name in cell.psnr_db for cell in report.cells)]
    has_torch_side = "sdkit-torch" in others
    if has_torch_side:  # another backend: its speed and pixels against sdkit on torch and plain diffusers
        table.add_column("sdkit-torch s/image", justify="right")
        table.add_column("speed-up vs " + " / ".join(others), justify="right")
        table.add_column("PSNR vs " + " / ".join(others), justify="right")
    table.add_column("images")
    for cell in report.cells:
        sdkit = cell.sides["sdkit"].describe(cell.cell)
        batch = cell.cell.batch_size
        row = [cell.cell.sampler, str(cell.cell.steps), f"{cell.cell.width}x{cell.cell.height}", str(batch),
               f"{sdkit['s_per_image']:.3f} ({sdkit['min_s'] / batch:.3f}-{sdkit['max_s'] / batch:.3f})",
               f"{sdkit['it_per_s']:.2f}", _seconds(sdkit["unet_s"]), _seconds(sdkit["vae_decode_s"]),
               f"{sdkit['peak_rss_mb']:.0f}" if sdkit["peak_rss_mb"] else "-"]
        if has_gpu:
            row.append(f"{sdkit['gpu_peak_mb']:.0f}" if sdkit["gpu_peak_mb"] else "-")
        plain = cell.sides.get("diffusers")
        row.append(_seconds(plain.median / batch) if plain is not None and plain.median else "-")
        if cell.ratio is None:
            row += ["-", "-"]
        else:
            colour = "red" if cell.over_target else "green"
            adjusted = cell.model_adjusted_ratio
            row.append(f"[{colour}]{cell.ratio:.3f}x / {cell.cpu_ratio:.3f}x / "
                       f"{'-' if adjusted is None else f'{adjusted:.3f}x'}[/]")
            extra = cell.extra_seconds
            row.append("-" if extra is None else f"{extra * 1000:+.1f}")
        if has_fp32:
            row.append(f"{cell.fp32_speedup:.2f}x" if cell.fp32_speedup else "-")
            row.append(_decibels(cell.psnr_vs_fp32_db))
        if has_torch_side:
            torch_side = cell.sides.get("sdkit-torch")
            row.append(_seconds(torch_side.median / batch) if torch_side is not None and torch_side.median else "-")
            row.append(" / ".join("-" if (speed := cell.speedup_over(name)) is None else f"{speed:.2f}x"
                                  for name in others))
            row.append(" / ".join(_decibels(cell.psnr_db.get(name)) for name in others))
        flags = cell.flags
        row.append("[red]" + "; ".join(flags) + "[/]" if flags else "[green]identical across repeats[/]")
        table.add_row(*row)
    _wide_console().print(table)
    if report.flagged:
        err.print("[yellow]warning:[/] some cells are flagged (last column); see docs/performance.md")


def _wide_console() -> Console:
    """`out`, or for piped output a console as wide as the table (rich would squeeze it into 80 columns)."""
    if out.is_terminal:
        return out
    return Console(file=out.file, width=240, highlight=False, color_system=None)


def _print_startup(timings: list[dict[str, Any]]) -> None:
    table = Table(title="startup (whole processes)", title_justify="left")
    table.add_column("command")
    for name in ("median s", "min s", "max s", "median cpu s", "runs"):
        table.add_column(name, justify="right")
    for timing in timings:
        cpu = timing.get("cpu_median_s")
        table.add_row(timing["name"], f"{timing['median_s']:.3f}", f"{timing['min_s']:.3f}",
                      f"{timing['max_s']:.3f}", "-" if cpu is None else f"{cpu:.3f}", str(timing["runs"]))
    out.print(table)


def _run_part(part: str, family: str, size: int | None, batch: int | None, settings: str | None, threads: str,
              repeats: int, warmup: int, json_file: Path | None) -> None:
    from sdkit.bench.machine import describe_machine
    from sdkit.bench.parts import PartBenchConfig, run_part_benchmark

    _check_folder(json_file)
    chosen = {"settings": tuple(_split(settings, "--settings"))} if settings is not None else {}
    config = PartBenchConfig(part=part, family=family, size=size, batch=batch,
                             threads=_integers(threads, "--threads") if threads.strip() else (),
                             repeats=repeats, warmup=warmup, **chosen)
    with err.status(f"benchmark {part}: starting") as status:
        report = run_part_benchmark(config, progress=lambda message: status.update(f"benchmark {part}: {message}"))
    out.print(describe_machine(report.machine))
    table = Table(title=f"{family} {part} ({report.parameters / 1e6:.0f} M parameters, random weights) · "
                        f"{report.size}x{report.size}, batch {report.batch} · {repeats} timed call(s) after "
                        f"{warmup} warm-up",
                  title_justify="left")
    table.add_column("setting")
    for name in ("threads", "median s/call (min-max)", "CPU s/call", "first call s", "vs fp32 wall / CPU",
                 "PSNR vs fp32"):
        table.add_column(name, justify="right")
    for row in report.rows:
        data = row.describe()
        speedup = report.speedup(row)
        table.add_row(row.setting, str(row.threads),
                      f"{data['median_s']:.3f} ({data['min_s']:.3f}-{data['max_s']:.3f})",
                      f"{data['cpu_median_s']:.3f}", f"{data['first_call_s']:.3f}",
                      "-" if speedup is None else f"{speedup[0]:.2f}x / {speedup[1]:.2f}x", _decibels(row.psnr_vs_fp32_db))
    _wide_console().print(table)
    _write_json(json_file, report.describe())


def _part_command(part: str, noun: str, default_batch: str) -> Callable[..., None]:
    """The `sdkit benchmark unet` / `vae` command: the same options, told in the part's words."""

    def command(
        family: str = typer.Option("sd1", "--family", help=f"Bundled family config whose {noun} shape is built: sd1, sd2, sd2-v, sdxl, sd1-inpaint, ..."),
        size: int = typer.Option(None, "--size", help="Image side in pixels (default: the family's native size: sd1 512, sdxl 1024)."),
        batch: int = typer.Option(None, "--batch", help=f"Latents per call (default {default_batch})."),
        settings: str = typer.Option(None, "--settings", help="Comma-separated settings: fp32, fp32+cl, fp32+compile, autocast, bf16, bf16+cl, bf16+compile, bf16+cl+compile (cl: channels_last; autocast: fp32 weights under bf16 autocast; default: all but the +compile ones)."),
        threads: str = typer.Option("", "--threads", help="Comma-separated torch thread counts to try (default: torch's)."),
        repeats: int = typer.Option(3, "--repeats", help="Timed calls per setting."),
        warmup: int = typer.Option(1, "--warmup", help="Untimed calls per setting before them."),
        json_file: Path = typer.Option(None, "--json", help="Write the full report as JSON to this file."),
    ) -> None:
        _run_part(part, family, size, batch, settings, threads, repeats, warmup, json_file)

    command.__doc__ = f"Time a full-size {noun} of a family's shape (random weights, on the CPU) in fp32, bf16 and other settings."
    return command


benchmark_app.command("unet")(_part_command("unet", "UNet", "2: one CFG step"))
benchmark_app.command("vae")(_part_command("vae", "VAE decoder", "1"))


@benchmark_app.command("upscale")
def upscale_command(
    size: int = typer.Option(128, "--size", help="Input width and height in pixels (x4: the output is 4x that)."),
    tiles: str = typer.Option("0,96,64", "--tiles", help="Comma-separated tile sizes to try (0: untiled)."),
    tile_overlap: int = typer.Option(16, "--tile-overlap", help="Overlap between tiles in pixels."),
    batch_sizes: str = typer.Option("1", "--batch-sizes", help="Comma-separated tiles per model call to try."),
    dtypes: str = typer.Option("fp32", "--dtypes", help="Comma-separated dtypes: fp32, bf16, fp16, auto."),
    blocks: int = typer.Option(23, "--blocks", help="RRDB blocks (23: RealESRGAN_x4plus, 6: x4plus_anime_6B)."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda, cuda:N, mps or auto."),
    threads: int = typer.Option(None, "--threads", help="torch CPU threads (default: torch's)."),
    repeats: int = typer.Option(1, "--repeats", help="Timed runs per combination (the best is shown)."),
    warmup: int = typer.Option(0, "--warmup", help="Untimed runs per combination before them."),
    json_file: Path = typer.Option(None, "--json", help="Write the full report as JSON to this file."),
) -> None:
    """Upscale throughput with RealESRGAN_x4plus-shaped random weights: tiled vs untiled, tiles per call, dtypes."""
    from sdkit.bench.machine import describe_machine
    from sdkit.bench.upscale import UpscaleBenchConfig, run_upscale_benchmark

    _check_folder(json_file)
    config = UpscaleBenchConfig(size=size, tiles=_integers(tiles, "--tiles", minimum=0), tile_overlap=tile_overlap,
                                batch_sizes=_integers(batch_sizes, "--batch-sizes"),
                                dtypes=tuple(_split(dtypes, "--dtypes")), blocks=blocks, device=device,
                                threads=threads, repeats=repeats, warmup=warmup)
    with err.status("benchmark upscale: starting") as status:
        report = run_upscale_benchmark(config, progress=lambda message: status.update(f"benchmark upscale: {message}"))
    out.print(describe_machine(report.machine))
    table = Table(title=f"{size}x{size} -> {size * 4}x{size * 4}, {blocks} blocks, {device}, "
                        f"{report.threads_used} thread(s) · {repeats} timed runs after {warmup} warm-up",
                  title_justify="left")
    table.add_column("dtype")
    for name in ("tile / overlap", "tiles per call", "best s", "median s", "MP out/s", "max diff vs first row",
                 "PSNR vs first row"):
        table.add_column(name, justify="right")
    for row in report.rows:
        data = row.describe()
        table.add_row(row.dtype, f"{row.tile} / {row.tile_overlap}" if row.tile else "off",
                      str(row.batch_size) if row.tile else "-", f"{row.best_s:.3f}", f"{data['median_s']:.3f}",
                      f"{row.megapixels_per_second:.4f}", "-" if row.max_difference is None else str(row.max_difference),
                      "-" if row.max_difference is None else _decibels(row.psnr_db))
    _wide_console().print(table)
    _write_json(json_file, report.describe())


def _check_folder(path: Path | None) -> None:
    if path is not None and not path.parent.exists():
        raise UserInputError(f"the folder of {path} does not exist", "create it or write the file elsewhere")


def _write_json(path: Path | None, data: dict[str, Any]) -> None:
    if path is None:
        return
    import json

    path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    err.print(f"report written to {path}")


def _decibels(value: float | None) -> str:
    return "-" if value is None else ("identical" if math.isinf(value) else f"{value:.1f} dB")


def register(app: typer.Typer) -> None:
    app.add_typer(benchmark_app, name="benchmark")
