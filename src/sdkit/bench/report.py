"""Benchmark results as data: per-cell timings of each side (sdkit, plain diffusers), ratios, flags; JSON and CSV."""

from __future__ import annotations

import csv
import json
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sdkit.bench.timing import summarize

SDKIT = "sdkit"
DIFFUSERS = "diffusers"
DIFFUSERS_FP32 = "diffusers-fp32"  # diffusers' default precision, when sdkit runs another one
SDKIT_TORCH = "sdkit-torch"  # sdkit on the torch backend, beside sdkit on another (`--backend openvino`)

# sdkit may cost at most this much over plain diffusers on any cell (issue 7).
RATIO_TARGET = 1.03


@dataclass(frozen=True)
class BenchCell:
    """One point of the matrix: what is run, identical for every side."""

    sampler: str
    steps: int
    width: int
    height: int
    batch_size: int

    @property
    def label(self) -> str:
        return f"{self.sampler} · {self.steps} steps · {self.width}x{self.height} · batch {self.batch_size}"


@dataclass
class SideResult:
    """Every timed repeat of one side (sdkit or a baseline) on one cell."""

    side: str
    seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)  # process CPU time: what a busy machine cannot inflate
    warmup_seconds: list[float] = field(default_factory=list)  # the untimed runs before the repeats
    unet_seconds: list[float] = field(default_factory=list)
    vae_seconds: list[float] = field(default_factory=list)
    text_seconds: list[float] = field(default_factory=list)  # the text encoder(s)
    unet_calls: int = 0
    peak_rss_mb: float | None = None
    run_rss_mb: float | None = None  # peak during the run minus the resident memory before it
    gpu_peak_mb: float | None = None
    image_hashes: list[str] = field(default_factory=list)  # one per repeat, over all images of the batch

    @property
    def median(self) -> float | None:
        return summarize(self.seconds)["median"]

    @property
    def outside_models(self) -> list[float]:
        """Per run: the time outside the text encoders, UNet and VAE decoder (sampler, glue, sdkit's own work)."""
        text = self.text_seconds or [0.0] * len(self.seconds)
        return [total - unet - vae - encode for total, unet, vae, encode
                in zip(self.seconds, self.unet_seconds, self.vae_seconds, text, strict=False)]

    @property
    def identical(self) -> bool:
        """True when every repeat made exactly the same pixels."""
        return len(set(self.image_hashes)) <= 1

    def describe(self, cell: BenchCell) -> dict[str, Any]:
        times = summarize(self.seconds)
        median = times["median"]
        return {
            "side": self.side,
            "repeats": len(self.seconds),
            "median_s": median,
            "min_s": times["min"],
            "max_s": times["max"],
            "seconds": self.seconds,
            "warmup_s": self.warmup_seconds,
            "cpu_s": summarize(self.cpu_seconds)["median"],
            "s_per_image": median / cell.batch_size if median else None,
            "it_per_s": cell.steps / median if median else None,
            "unet_s": summarize(self.unet_seconds)["median"],
            "vae_decode_s": summarize(self.vae_seconds)["median"],
            "text_encoder_s": summarize(self.text_seconds)["median"],
            "outside_models_s": summarize(self.outside_models)["median"],
            "unet_calls": self.unet_calls,
            "peak_rss_mb": self.peak_rss_mb,
            "run_rss_mb": self.run_rss_mb,
            "gpu_peak_mb": self.gpu_peak_mb,
            "images_identical": self.identical,
            "image_hashes": self.image_hashes,
        }


@dataclass
class CellResult:
    """One cell: each side's timings, sdkit/diffusers ratios from interleaved pairs, and what looks wrong."""

    cell: BenchCell
    sides: dict[str, SideResult]
    pair_ratios: list[float] = field(default_factory=list)  # sdkit / diffusers wall time, per interleaved pair
    fp32_speedups: list[float] = field(default_factory=list)  # diffusers-fp32 / sdkit, per pair
    psnr_vs_fp32_db: float | None = None
    same_images_as_diffusers: bool | None = None
    psnr_db: dict[str, float] = field(default_factory=dict)  # sdkit's first images against each other side's

    def speedup_over(self, name: str) -> float | None:
        """How many times faster sdkit ran than side `name` (median wall time over median)."""
        sdkit, other = self.sides.get(SDKIT), self.sides.get(name)
        if sdkit is None or other is None or not sdkit.median or not other.median:
            return None
        return other.median / sdkit.median

    def _median_ratio(self, attribute: str) -> float | None:
        sdkit, plain = self.sides.get(SDKIT), self.sides.get(DIFFUSERS)
        if sdkit is None or plain is None:
            return None
        mine, theirs = getattr(sdkit, attribute), getattr(plain, attribute)
        if not mine or not theirs:
            return None
        return statistics.median(mine) / statistics.median(theirs)

    @property
    def ratio(self) -> float | None:
        """sdkit time / plain diffusers time: median over median of the interleaved runs.

        Medians of interleaved runs, not the median of per-pair ratios: one load spike inside a pair
        swings that pair's ratio far more than it moves either median.
        """
        return self._median_ratio("seconds")

    @property
    def cpu_ratio(self) -> float | None:
        """The same in process CPU time: on a shared, busy machine the steadier measure."""
        return self._median_ratio("cpu_seconds")

    @property
    def extra_seconds(self) -> float | None:
        """sdkit's time outside the models minus diffusers' (medians): what sdkit itself adds per run."""
        sdkit, plain = self.sides.get(SDKIT), self.sides.get(DIFFUSERS)
        if sdkit is None or plain is None or not sdkit.outside_models or not plain.outside_models:
            return None
        return statistics.median(sdkit.outside_models) - statistics.median(plain.outside_models)

    @property
    def model_adjusted_ratio(self) -> float | None:
        """The ratio with both sides' model time taken as equal: 1 + sdkit's extra time / diffusers' time.

        Fair when the images are identical (the same computation ran in the models); it removes the load
        noise of the models' time, which is most of the run and the same work on both sides.
        """
        plain = self.sides.get(DIFFUSERS)
        extra = self.extra_seconds
        if extra is None or plain is None or not plain.median:
            return None
        return 1 + extra / plain.median

    @property
    def over_target(self) -> bool:
        """sdkit costs more than the target over diffusers by every measure taken.

        All must agree: on a loaded machine wall time alone swings by more than the target either way,
        CPU time misses waiting (I/O, sleeps) that wall time shows, and the model-adjusted ratio only
        sees time outside the models.
        """
        measures = [value for value in (self.ratio, self.cpu_ratio, self.model_adjusted_ratio) if value is not None]
        return bool(measures) and all(value > RATIO_TARGET for value in measures)

    @property
    def fp32_speedup(self) -> float | None:
        return statistics.median(self.fp32_speedups) if self.fp32_speedups else None

    @property
    def flags(self) -> list[str]:
        """Problems a reader must see: images that changed between repeats, a ratio over target."""
        found = [f"{name} images differ between repeats" for name, side in self.sides.items() if not side.identical]
        if self.over_target:
            found.append(f"sdkit is {self.ratio:.3f}x plain diffusers (target <= {RATIO_TARGET})")
        if self.same_images_as_diffusers is False:
            found.append("sdkit and plain diffusers images differ")
        return found

    def describe(self) -> dict[str, Any]:
        return {
            **asdict(self.cell),
            "label": self.cell.label,
            "sides": {name: side.describe(self.cell) for name, side in self.sides.items()},
            "ratio_vs_diffusers": self.ratio,
            "pair_ratios": self.pair_ratios,
            "cpu_ratio_vs_diffusers": self.cpu_ratio,
            "extra_s_vs_diffusers": self.extra_seconds,
            "model_adjusted_ratio": self.model_adjusted_ratio,
            "speedup_vs_diffusers_fp32": self.fp32_speedup,
            "psnr_vs_diffusers_fp32_db": self.psnr_vs_fp32_db,
            "same_images_as_diffusers": self.same_images_as_diffusers,
            "psnr_db": self.psnr_db,
            "speedup_over": {name: self.speedup_over(name) for name in self.sides if name != SDKIT},
            "flags": self.flags,
        }


@dataclass
class BenchReport:
    """A whole `sdkit benchmark` run."""

    machine: dict[str, Any]
    settings: dict[str, Any]
    load_seconds: dict[str, float] = field(default_factory=dict)
    cells: list[CellResult] = field(default_factory=list)
    startup: list[dict[str, Any]] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def flagged(self) -> bool:
        return any(cell.flags for cell in self.cells)

    def describe(self) -> dict[str, Any]:
        return {
            "machine": self.machine,
            "settings": self.settings,
            "load_seconds": self.load_seconds,
            "ratio_target": RATIO_TARGET,
            "cells": [cell.describe() for cell in self.cells],
            "startup": self.startup,
            "notes": self.notes,
        }

    def write_json(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.describe(), indent=2, default=str) + "\n", encoding="utf-8")

    def csv_rows(self) -> list[dict[str, Any]]:
        """One row per cell and side, the columns a spreadsheet needs."""
        rows = []
        for cell in self.cells:
            for side in cell.sides.values():
                data = side.describe(cell.cell)
                rows.append({
                    **asdict(cell.cell),
                    "side": side.side,
                    **{key: data[key] for key in ("repeats", "median_s", "min_s", "max_s", "s_per_image", "it_per_s",
                                                  "unet_s", "vae_decode_s", "text_encoder_s", "outside_models_s",
                                                  "peak_rss_mb", "run_rss_mb", "gpu_peak_mb", "images_identical")},
                    "cpu_s": data["cpu_s"],
                    "ratio_vs_diffusers": cell.ratio if side.side == SDKIT else None,
                    "cpu_ratio_vs_diffusers": cell.cpu_ratio if side.side == SDKIT else None,
                    "model_adjusted_ratio": cell.model_adjusted_ratio if side.side == SDKIT else None,
                    "psnr_vs_diffusers_fp32_db": cell.psnr_vs_fp32_db if side.side == SDKIT else None,
                    "flags": "; ".join(cell.flags) if side.side == SDKIT else "",
                })
        return rows

    def write_csv(self, path: Path) -> None:
        rows = self.csv_rows()
        with Path(path).open("w", newline="", encoding="utf-8") as handle:
            if not rows:
                return
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
