"""`sdkit benchmark upscale`: upscale throughput (megapixels out per second), tiled vs untiled, tiles per call, dtypes.

It builds a random-weight RRDBNet with RealESRGAN_x4plus's shape (64 filters, 23 blocks) and loads it
through the same code as real weight files, so the figures hold for real x4plus weights: the cost does
not depend on the values. The input is a photo-like image (smooth gradients plus fine noise). Every
combination is timed with `sdkit.bench.timing`, interleaved round by round, and its output compared
with the first combination's (the untiled fp32 one by default). Data in, data out: the CLI prints.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sdkit.bench.timing import round_orders, time_call, torch_threads
from sdkit.core.errors import UserInputError

if TYPE_CHECKING:
    from PIL.Image import Image

    from sdkit.upscale.loading import Upscaler

X4PLUS_FILTERS, X4PLUS_BLOCKS = 64, 23


def random_upscaler(filters: int = X4PLUS_FILTERS, blocks: int = X4PLUS_BLOCKS, scale: int = 4, device: str = "cpu",
                    dtype: str = "fp32") -> Upscaler:
    """An ESRGAN upscaler with random (seeded) weights, loaded through the same code as real files."""
    import torch
    from spandrel.architectures.ESRGAN import ESRGAN

    from sdkit.runtime.device import choose_device, choose_dtype
    from sdkit.upscale.loading import Upscaler, describe_state_dict

    torch.manual_seed(0)
    state = ESRGAN(num_filters=filters, num_blocks=blocks, scale=scale).state_dict()
    descriptor = describe_state_dict(state, "random-x4plus")
    chosen_device = choose_device(device)
    chosen_dtype = choose_dtype(dtype, chosen_device)
    descriptor.to(chosen_device, chosen_dtype).eval()
    return Upscaler(descriptor, "random-x4plus", Path("random-x4plus"), "ESRGAN", scale, 3,
                    chosen_device, chosen_dtype, list(descriptor.tags))


def bench_image(width: int, height: int) -> Image:
    """A photo-like input: smooth gradients plus fine noise (seeded)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    x, y = np.meshgrid(np.linspace(0, 1, width), np.linspace(0, 1, height))
    base = np.stack([x, y, (x + y) / 2], axis=2) * 200 + rng.normal(0, 12, (height, width, 3))
    return Image.fromarray(base.clip(0, 255).astype(np.uint8))


@dataclass(frozen=True)
class UpscaleBenchConfig:
    """What `sdkit benchmark upscale` runs: every dtype x tile x tiles-per-call combination."""

    size: int = 128  # input width and height in pixels
    tiles: tuple[int, ...] = (0, 96, 64)  # 0: untiled
    tile_overlap: int = 16
    batch_sizes: tuple[int, ...] = (1,)  # tiles per model call (untiled runs use 1)
    dtypes: tuple[str, ...] = ("fp32",)
    blocks: int = X4PLUS_BLOCKS  # 23: x4plus, 6: x4plus_anime_6B
    device: str = "cpu"
    threads: int | None = None  # torch CPU threads; None: torch's
    repeats: int = 1
    warmup: int = 0

    def check(self) -> None:
        from sdkit.runtime.device import DTYPE_NAMES
        from sdkit.upscale.api import check_tiling

        if self.size < 8:
            raise UserInputError(f"--size must be at least 8, not {self.size}", "e.g. --size 128")
        if not self.tiles:
            raise UserInputError("--tiles is empty", "e.g. --tiles 0,96,64 (0: untiled)")
        for tile in self.tiles:
            check_tiling(tile, self.tile_overlap)  # before minutes of building: upscaling checks it again
        if not self.batch_sizes or any(batch < 1 for batch in self.batch_sizes):
            raise UserInputError("--batch-sizes must be 1 or more", "e.g. --batch-sizes 1,4")
        unknown = [dtype for dtype in self.dtypes if dtype not in DTYPE_NAMES]
        if unknown or not self.dtypes:
            raise UserInputError(f"unknown dtypes: {', '.join(unknown) or '(none given)'}",
                                 f"use some of {', '.join(DTYPE_NAMES)}")
        if self.blocks < 1:
            raise UserInputError(f"--blocks must be at least 1, not {self.blocks}", "23 is x4plus, 6 anime_6B")
        if self.repeats < 1 or self.warmup < 0:
            raise UserInputError("--repeats must be 1 or more and --warmup 0 or more", "e.g. --repeats 3 --warmup 1")

    def combinations(self) -> list[tuple[str, int, int]]:
        """(dtype, tile, tiles per call), in report order; tiles per call only vary where there are tiles."""
        return [(dtype, tile, batch) for dtype in self.dtypes for tile in self.tiles
                for batch in (self.batch_sizes if tile else (1,))]


@dataclass
class UpscaleRow:
    """Every timed run of one combination."""

    dtype: str
    tile: int
    tile_overlap: int
    batch_size: int
    megapixels_out: float = 0.0
    seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)
    max_difference: int | None = None  # against the first row's output, in levels of 255
    psnr_db: float | None = None  # the same comparison as PSNR

    @property
    def best_s(self) -> float:
        return min(self.seconds)

    @property
    def megapixels_per_second(self) -> float:
        """Throughput of the best run: the least disturbed by other work on the machine."""
        return self.megapixels_out / self.best_s

    def describe(self) -> dict[str, Any]:
        return {**asdict(self), "best_s": self.best_s, "median_s": statistics.median(self.seconds),
                "cpu_median_s": statistics.median(self.cpu_seconds),
                "megapixels_per_second": self.megapixels_per_second}


@dataclass
class UpscaleReport:
    config: UpscaleBenchConfig
    threads_used: int
    machine: dict[str, Any]
    rows: list[UpscaleRow]

    def describe(self) -> dict[str, Any]:
        return {"config": asdict(self.config), "threads_used": self.threads_used, "machine": self.machine,
                "rows": [row.describe() for row in self.rows]}


def run_upscale_benchmark(config: UpscaleBenchConfig,
                          progress: Callable[[str], None] | None = None) -> UpscaleReport:
    """Time every combination and return the report (nothing is printed)."""
    from sdkit.bench.machine import machine_info
    from sdkit.bench.quality import max_difference, psnr
    from sdkit.upscale.api import upscale_with

    config.check()
    say = progress or (lambda message: None)
    image = bench_image(config.size, config.size)
    with torch_threads(config.threads) as threads_used:
        upscalers = {}
        for dtype in config.dtypes:
            say(f"building a {config.blocks}-block x4 upscaler in {dtype}")
            upscalers[dtype] = random_upscaler(blocks=config.blocks, device=config.device, dtype=dtype)
        rows = [UpscaleRow(dtype, tile, config.tile_overlap if tile else 0, batch)
                for dtype, tile, batch in config.combinations()]
        outputs: dict[int, Any] = {}

        def upscale(row: UpscaleRow) -> Image:
            result, _ = upscale_with(upscalers[row.dtype], image, tile=row.tile, tile_overlap=row.tile_overlap,
                                     batch_size=row.batch_size)
            return result

        rounds = config.warmup + config.repeats
        for round_number, order in enumerate(round_orders(range(len(rows)), rounds), 1):
            for index in order:
                row = rows[index]
                say(f"round {round_number}/{rounds}: {row.dtype}, tile {row.tile or 'off'}, batch {row.batch_size}")
                timed = time_call(lambda row=row: upscale(row), upscalers[row.dtype].device)
                outputs.setdefault(index, timed.value)
                if round_number > config.warmup:
                    row.seconds.append(timed.wall_s)
                    row.cpu_seconds.append(timed.cpu_s)
    for index, row in enumerate(rows):
        width, height = outputs[index].size
        row.megapixels_out = width * height / 1e6
        if index:
            row.max_difference = max_difference(outputs[0], outputs[index])
            row.psnr_db = psnr([outputs[0]], [outputs[index]])
    return UpscaleReport(config=config, threads_used=threads_used, machine=machine_info(), rows=rows)
