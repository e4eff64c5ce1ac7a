"""`sdkit benchmark unet|vae`: one full-size model part timed across precision levers (fp32, bf16, ...).

The part is built with random weights from sdkit's own bundled family config (`models/configs/<family>/`,
the configs single-file checkpoints load with), so its shapes are the real ones: sd1's UNet has 860 M
parameters. Random weights time exactly like trained ones, and nothing is downloaded. One UNet call at
batch 2 is one CFG step; the VAE part is its decoder, from latents to pixels.

Each setting (a lever, at a torch thread count) gets its own copy of the model; the calls are
interleaved round by round (`sdkit.bench.timing`), and each setting's output is compared with fp32's
on the same input: PSNR over the raw output, with fp32's value range as the peak. Data in, data out:
the CLI prints. It runs on the CPU, where the choice between these levers is hard (docs/performance.md).
"""

from __future__ import annotations

import copy
import json
import statistics
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from typing import Any

from sdkit.bench.timing import round_orders, time_call, torch_threads
from sdkit.core.errors import UserInputError

PARTS = ("unet", "vae")
TEXT_TOKENS = 77  # one CLIP prompt chunk
TIMESTEP = 500  # mid-schedule; a UNet call costs the same at any timestep


@dataclass(frozen=True)
class Lever:
    """How one setting runs the part."""

    weights: str  # "fp32" or "bf16"
    autocast: bool  # fp32 weights, computing under bf16 autocast
    channels_last: bool
    compiled: bool  # torch.compile


LEVERS = {
    "fp32": Lever("fp32", False, False, False),
    "fp32+cl": Lever("fp32", False, True, False),
    "fp32+compile": Lever("fp32", False, False, True),
    "autocast": Lever("fp32", True, False, False),
    "bf16": Lever("bf16", False, False, False),
    "bf16+cl": Lever("bf16", False, True, False),
    "bf16+compile": Lever("bf16", False, False, True),
    "bf16+cl+compile": Lever("bf16", False, True, True),
}
# All but the compiled ones: compiling takes minutes per setting before the first call.
DEFAULT_SETTINGS = tuple(name for name, lever in LEVERS.items() if not lever.compiled)
REFERENCE = "fp32"  # what the others' outputs are compared with


def families() -> list[str]:
    """The bundled config folders that have a UNet: sd1, sd1-inpaint, sd2, sd2-v, sdxl, ..."""
    from sdkit.models.family_configs import CONFIGS_DIR

    return sorted(folder.name for folder in CONFIGS_DIR.iterdir() if (folder / "unet" / "config.json").is_file())


def part_config(family: str, part: str) -> dict[str, Any]:
    """The bundled diffusers config of one part (`unet` or `vae`) of a family."""
    from sdkit.models.family_configs import CONFIGS_DIR

    path = CONFIGS_DIR / family / part / "config.json"
    if family not in families() or not path.is_file():
        raise UserInputError(f"no bundled {part} config for family {family!r}",
                             f"use one of {', '.join(families())}")
    return json.loads(path.read_text(encoding="utf-8"))


def vae_scale_factor(family: str) -> int:
    """Pixels per latent along a side: each VAE block after the first halves the resolution."""
    return 2 ** (len(part_config(family, "vae")["block_out_channels"]) - 1)


def native_size(family: str) -> int:
    """The image side the family's UNet was made for (sd1 512, sd2-v 768, sdxl 1024)."""
    return part_config(family, "unet")["sample_size"] * vae_scale_factor(family)


def part_inputs(family: str, part: str, size: int, batch: int) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Random inputs of the right shapes for one call of the part, for a `size` x `size` image."""
    import torch

    generator = torch.Generator().manual_seed(1)
    latent = size // vae_scale_factor(family)
    if part == "vae":
        channels = part_config(family, "vae")["latent_channels"]
        return (torch.randn(batch, channels, latent, latent, generator=generator),), {}
    unet = part_config(family, "unet")
    sample = torch.randn(batch, unet["in_channels"], latent, latent, generator=generator)
    kwargs: dict[str, Any] = {
        "encoder_hidden_states": torch.randn(batch, TEXT_TOKENS, unet["cross_attention_dim"], generator=generator),
    }
    if unet.get("addition_embed_type") == "text_time":
        # SDXL: the pooled text embedding plus six size/crop numbers, each embedded in addition_time_embed_dim.
        time_ids_dim = 6 * unet["addition_time_embed_dim"]
        pooled_dim = unet["projection_class_embeddings_input_dim"] - time_ids_dim
        kwargs["added_cond_kwargs"] = {
            "text_embeds": torch.randn(batch, pooled_dim, generator=generator),
            "time_ids": torch.tensor([[size, size, 0, 0, size, size]] * batch, dtype=torch.float32),
        }
    return (sample, torch.tensor(TIMESTEP)), kwargs


def build_part(family: str, part: str) -> Any:
    """The part with random (seeded) weights, in fp32, in eval mode."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel

    config = part_config(family, part)
    torch.manual_seed(0)
    model_class = AutoencoderKL if part == "vae" else UNet2DConditionModel
    return model_class.from_config(config).eval()


@dataclass(frozen=True)
class PartBenchConfig:
    """What `sdkit benchmark unet|vae` runs."""

    part: str = "unet"
    family: str = "sd1"
    size: int | None = None  # image side in pixels; None: the family's native size
    batch: int | None = None  # None: 2 for the UNet (one CFG step), 1 for the VAE
    settings: tuple[str, ...] = DEFAULT_SETTINGS
    threads: tuple[int, ...] = ()  # torch thread counts to try; (): torch's current count
    repeats: int = 3  # timed calls per setting
    warmup: int = 1  # untimed calls per setting before them

    def check(self) -> None:
        if self.part not in PARTS:
            raise UserInputError(f"unknown model part {self.part!r}", f"use one of {', '.join(PARTS)}")
        part_config(self.family, self.part)  # an unknown family fails here, with the known ones
        unknown = [name for name in self.settings if name not in LEVERS]
        if unknown or not self.settings:
            raise UserInputError(f"unknown settings: {', '.join(unknown) or '(none given)'}",
                                 f"use some of {', '.join(LEVERS)}")
        if self.repeats < 1:
            raise UserInputError(f"--repeats must be at least 1, not {self.repeats}", "try --repeats 3")
        if self.warmup < 0:
            raise UserInputError(f"--warmup must be 0 or more, not {self.warmup}", "try --warmup 1")
        if any(count < 1 for count in self.threads):
            raise UserInputError("--threads counts must be at least 1", "e.g. --threads 1,2")
        factor = vae_scale_factor(self.family)
        if self.size is not None and (self.size < factor or self.size % factor):
            raise UserInputError(f"--size {self.size} is not a multiple of {factor}", "e.g. --size 512")
        if self.batch is not None and self.batch < 1:
            raise UserInputError(f"--batch must be at least 1, not {self.batch}", "e.g. --batch 2")


@dataclass
class SettingResult:
    """Every call of one setting at one thread count."""

    setting: str
    threads: int
    seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)
    first_call_s: float | None = None  # the first call, warm-up or not: shows compile and first-touch costs
    psnr_vs_fp32_db: float | None = None

    def describe(self) -> dict[str, Any]:
        return {"setting": self.setting, "threads": self.threads, "median_s": statistics.median(self.seconds),
                "min_s": min(self.seconds), "max_s": max(self.seconds), "first_call_s": self.first_call_s,
                "cpu_median_s": statistics.median(self.cpu_seconds), "timed_calls": len(self.seconds),
                "psnr_vs_fp32_db": self.psnr_vs_fp32_db}


@dataclass
class PartReport:
    """A whole `sdkit benchmark unet|vae` run."""

    config: PartBenchConfig
    size: int
    batch: int
    parameters: int
    build_seconds: float
    machine: dict[str, Any]
    rows: list[SettingResult]

    def speedup(self, row: SettingResult) -> tuple[float, float] | None:
        """Wall and CPU speed of `row` over fp32 at the first thread count (None without such a row)."""
        base = next((other for other in self.rows if other.setting == REFERENCE
                     and other.threads == self.rows[0].threads), None)
        if base is None:
            return None
        return (statistics.median(base.seconds) / statistics.median(row.seconds),
                statistics.median(base.cpu_seconds) / statistics.median(row.cpu_seconds))

    def describe(self) -> dict[str, Any]:
        return {"config": asdict(self.config), "family": self.config.family, "part": self.config.part,
                "size": self.size, "batch": self.batch, "parameters": self.parameters,
                "build_s": self.build_seconds, "machine": self.machine,
                "rows": [row.describe() for row in self.rows]}


def _cast(value: Any, dtype: Any) -> Any:
    """Floating tensors inside `value` (nested tuples and dicts) in `dtype`; everything else as it is."""
    import torch

    if isinstance(value, torch.Tensor) and value.is_floating_point():
        return value.to(dtype)
    if isinstance(value, dict):
        return {key: _cast(item, dtype) for key, item in value.items()}
    if isinstance(value, tuple):
        return tuple(_cast(item, dtype) for item in value)
    return value


class _Prepared:
    """One lever's model copy and inputs, ready to call; thread counts of one lever share it."""

    def __init__(self, model: Any, part: str, lever: Lever, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        import torch

        dtype = torch.bfloat16 if lever.weights == "bf16" else torch.float32
        # fp32 without channels_last runs the model as built: no copy (SDXL's fp32 UNet is 10 GB).
        shared = lever.weights == "fp32" and not lever.channels_last
        prepared = model if shared else copy.deepcopy(model).to(dtype)
        if lever.channels_last:
            prepared = prepared.to(memory_format=torch.channels_last)
        call = prepared.decode if part == "vae" else prepared
        self.call = torch.compile(call) if lever.compiled else call
        self.args, self.kwargs = _cast(args, dtype), _cast(kwargs, dtype)
        if lever.channels_last:
            self.args = (self.args[0].contiguous(memory_format=torch.channels_last), *self.args[1:])
        self.autocast = lever.autocast

    def __call__(self) -> Any:
        import torch

        context = torch.autocast("cpu", dtype=torch.bfloat16) if self.autocast else nullcontext()
        with torch.inference_mode(), context:
            return self.call(*self.args, **self.kwargs).sample


def time_settings(model: Any, part: str, args: tuple[Any, ...], kwargs: dict[str, Any], settings: tuple[str, ...],
                  thread_counts: tuple[int, ...], repeats: int, warmup: int,
                  progress: Callable[[str], None] | None = None) -> list[SettingResult]:
    """Time each setting at each thread count on one built `model`, interleaved round by round."""
    import torch

    say = progress or (lambda message: None)
    prepared = {name: _Prepared(model, part, LEVERS[name], args, kwargs) for name in dict.fromkeys(settings)}
    results = [SettingResult(name, threads) for threads in thread_counts for name in settings]
    outputs: dict[int, Any] = {}
    rounds = warmup + repeats
    with torch_threads(None):
        for round_number, order in enumerate(round_orders(range(len(results)), rounds), 1):
            for index in order:
                result = results[index]
                torch.set_num_threads(result.threads)
                timed = time_call(prepared[result.setting])
                if result.first_call_s is None:
                    result.first_call_s = timed.wall_s
                    outputs[index] = timed.value.float().clone()
                if round_number > warmup:
                    result.seconds.append(timed.wall_s)
                    result.cpu_seconds.append(timed.cpu_s)
                say(f"round {round_number}/{rounds}: {result.setting} x{result.threads} threads "
                    f"{timed.wall_s:.2f} s wall, {timed.cpu_s:.2f} s CPU")
    _compare_with_reference(results, outputs)
    return results


def _compare_with_reference(results: list[SettingResult], outputs: dict[int, Any]) -> None:
    from sdkit.bench.quality import array_psnr

    reference = next((outputs[index] for index, result in enumerate(results) if result.setting == REFERENCE), None)
    if reference is None:
        return
    for index, result in enumerate(results):
        result.psnr_vs_fp32_db = array_psnr(reference.numpy(), outputs[index].numpy())


def run_part_benchmark(config: PartBenchConfig, progress: Callable[[str], None] | None = None) -> PartReport:
    """Build the part, time every setting, and return the report (nothing is printed)."""
    import torch
    from diffusers.utils import logging as diffusers_logging

    from sdkit.bench.machine import machine_info

    config.check()
    say = progress or (lambda message: None)
    size = config.size or native_size(config.family)
    batch = config.batch or (1 if config.part == "vae" else 2)
    diffusers_logging.set_verbosity_error()  # casting with .to() warns once per call; it is what is measured
    say(f"building the {config.family} {config.part} with random weights")
    built = time_call(lambda: build_part(config.family, config.part))
    model = built.value
    args, kwargs = part_inputs(config.family, config.part, size, batch)
    rows = time_settings(model, config.part, args, kwargs, config.settings,
                         config.threads or (torch.get_num_threads(),), config.repeats, config.warmup, say)
    # The machine is described after the timing: its load average is the one at the end of the run.
    return PartReport(config=config, size=size, batch=batch, parameters=sum(p.numel() for p in model.parameters()),
                      build_seconds=built.wall_s, machine=machine_info(), rows=rows)
