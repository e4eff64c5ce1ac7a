"""`sdkit benchmark`: sdkit's speed on this machine, measured against the same job in plain diffusers.

Public API (nothing here imports torch until a benchmark runs):

    run_benchmark(config: BenchConfig, progress=None) -> BenchReport   the matrix, sdkit vs diffusers
    time_startup(runs=5, names=None) -> list[StartupTiming]           whole-process startup times
    machine_info(with_torch=True) -> dict                              the report header's machine
    psnr(reference_images, images) -> float, pixels_hash(images) -> str

Single parts with random weights, for `sdkit benchmark unet|vae|upscale`:

    sdkit.bench.parts.run_part_benchmark(PartBenchConfig) -> PartReport           a family's UNet or VAE decoder
    sdkit.bench.upscale.run_upscale_benchmark(UpscaleBenchConfig) -> UpscaleReport  tiled vs untiled upscaling

All of them time through `sdkit.bench.timing` and compare outputs with `sdkit.bench.quality`.
"""

from sdkit.bench.machine import describe_machine, machine_info
from sdkit.bench.quality import pixels_hash, psnr
from sdkit.bench.report import RATIO_TARGET, BenchCell, BenchReport, CellResult, SideResult
from sdkit.bench.runner import BenchConfig, run_benchmark
from sdkit.bench.startup import StartupTiming, time_startup

__all__ = [
    "RATIO_TARGET",
    "BenchCell",
    "BenchConfig",
    "BenchReport",
    "CellResult",
    "SideResult",
    "StartupTiming",
    "describe_machine",
    "machine_info",
    "pixels_hash",
    "psnr",
    "run_benchmark",
    "time_startup",
]
