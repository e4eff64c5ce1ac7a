"""Run a `RunPlan`: the host's side of the engine contract.

sdkit, not the engine, owns the run: it opens the input images (before loading, so a broken input
fails fast), loads the model once, resolves the seed (`-1` draws one, and says which), splits the
images into batches, asks the engine to draw each batch, numbers the images, writes the common
infotext, applies the `--upscale` step and writes each file as soon as its batch is done.
`run_images` is the run without files (benchmarks use it); `execute` adds the files, and turns a
failed write (a full disk) into a `RuntimeFailure` that names the folder and the images kept.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sdkit.core.engine import Batch, GeneratedImage, LoadOptions, NullStepEvents
from sdkit.core.errors import Interrupted, RuntimeFailure
from sdkit.core.params import SEED_MAX, ParamsBase, Txt2ImgParams
from sdkit.core.tasks import Task
from sdkit.outputs.infotext import arrange_fields
from sdkit.outputs.writer import ensure_output_dir, write_png, write_sidecar
from sdkit.registry import PluginFailure, plugin_calls, plugin_hint
from sdkit.run.events import RunEvents, StepsOfImage
from sdkit.run.fields import common_fields
from sdkit.run.hires import hires_fields, hires_pass
from sdkit.run.inputs import open_inputs
from sdkit.run.plan import RunPlan
from sdkit.run.steps import UpscaleStep

log = logging.getLogger(__name__)

# Loaded models, kept for the life of the process (a library caller or a server runs many plans);
# most recently used last. Past `max_loaded` the least recently used one is dropped (0: no limit).
_loaded_models: dict[tuple[Any, ...], Any] = {}
_limits = {"max_loaded": 0}
# Write failures that mean the medium is full rather than broken or forbidden.
FULL_DISK_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


@dataclass(frozen=True)
class RunImage:
    """One finished image of a run, with everything needed to save and reproduce it."""

    image: Any  # PIL image
    index: int  # position in the whole run, 0-based
    seed: int | None
    prompt: str
    negative_prompt: str
    infotext: dict[str, Any]


@dataclass(frozen=True)
class SavedImage:
    path: Path
    index: int
    seed: int | None
    sidecar: Path | None = None


@dataclass
class RunResult:
    plan: RunPlan
    output_dir: Path
    images: list[SavedImage] = field(default_factory=list)
    load_seconds: float = 0.0
    run_seconds: float = 0.0
    first_seed: int | None = None
    seed_drawn: bool = False  # the plan asked for -1 and this seed was drawn

    def describe(self) -> dict[str, Any]:
        return {
            **self.plan.describe(),
            "output_dir": str(self.output_dir),
            "first_seed": self.first_seed,
            "seed_drawn": self.seed_drawn,
            "images": [{"path": str(saved.path), "index": saved.index, "seed": saved.seed,
                        "sidecar": str(saved.sidecar) if saved.sidecar else None} for saved in self.images],
            "load_seconds": round(self.load_seconds, 3),
            "run_seconds": round(self.run_seconds, 3),
        }


def default_output_dir(task: Task) -> Path:
    """`./outputs/<task>/` in the current folder (as A1111 and dgenerate do), unless the config says otherwise."""
    from sdkit.runtime.config import load_config

    configured = load_config().output_dir
    base = Path(configured).expanduser() if configured else Path.cwd() / "outputs"
    return base / task.value


def load_options(params: ParamsBase, vae: str | None) -> LoadOptions:
    return LoadOptions(
        device=params.device,
        dtype=params.dtype,
        backend=params.backend,
        vae=vae,
        attention_slicing=bool(getattr(params, "attention_slicing", False)),
        vae_tiling=bool(getattr(params, "vae_tiling", False)),
        cpu_offload=bool(getattr(params, "cpu_offload", False)),
    )


def set_max_loaded(count: int) -> None:
    """Keep at most `count` models loaded (0: no limit); the least recently used go first."""
    if count < 0:
        raise ValueError("max_loaded must be 0 or more")
    _limits["max_loaded"] = count
    if count:
        _drop_least_recent(count)


def max_loaded() -> int:
    """The current limit on loaded models (0: none)."""
    return _limits["max_loaded"]


def loaded_model_count() -> int:
    return len(_loaded_models)


def _drop_least_recent(keep: int) -> None:
    """Unload the least recently used models until at most `keep` remain."""
    dropped = False
    while len(_loaded_models) > keep:
        key = next(iter(_loaded_models))
        log.info("engine %s: unloading its least recently used model", key[0])
        del _loaded_models[key]
        dropped = True
    if dropped:
        import gc

        gc.collect()  # the dropped models' tensors are freed before the next model is read


def _load(engine: Any, entry: Any, model_ref: Any, options: LoadOptions) -> Any:
    """The engine's loaded model, loaded at most once per process while it stays among the recent ones."""
    key = (entry.key, entry.target, str(model_ref.location) if model_ref is not None else None, options)
    if key in _loaded_models:
        _loaded_models[key] = _loaded_models.pop(key)  # now the most recently used
        return _loaded_models[key]
    keep = _limits["max_loaded"]
    if keep:
        _drop_least_recent(keep - 1)  # make room before loading, so two models never overlap
    log.info("engine %s: loading %s", entry.key, model_ref.name if model_ref is not None else "(no model)")
    with plugin_calls(entry, "loading its model"):
        _loaded_models[key] = engine.load(model_ref, options)
    return _loaded_models[key]


def load_model(plan: RunPlan) -> Any:
    """The plan's engine with its model loaded (cached per process)."""
    return _load(plan.engine, plan.engine_entry, plan.model_ref, load_options(plan.params, plan.vae))


def resolve_seed(seed: int) -> tuple[int, bool]:
    """The run's first seed, and whether it was drawn (`-1`)."""
    if seed >= 0:
        return seed, False
    return random.randrange(SEED_MAX + 1), True


def batch_seeds(params: ParamsBase, first_seed: int, shared: bool = False) -> Iterator[tuple[int, tuple[int, ...]]]:
    """(index of the batch's first image, its seeds) for each batch; image i gets seed first + i (mod 2**32).

    With variation seeds on (A1111's rule) every image keeps the first seed; its variation seed moves on.
    `shared` (the engine's `batch_shares_seed`, ComfyUI's rule): the images of a batch all get the seed
    of its first image.
    """
    if not isinstance(params, Txt2ImgParams):
        yield 0, ()
        return
    step = 0 if params.variation_strength else 1
    for batch_index in range(params.batch_count):
        start = batch_index * params.batch_size
        yield start, tuple((first_seed + (start + offset * (not shared)) * step) % (SEED_MAX + 1)
                           for offset in range(params.batch_size))


def _with_variation_seed(params: ParamsBase) -> ParamsBase:
    """Params with a drawn variation seed in place of -1, when variation seeds are on."""
    if not isinstance(params, Txt2ImgParams) or not params.variation_strength or params.variation_seed >= 0:
        return params
    drawn, _ = resolve_seed(-1)
    log.info("variation seed -1: drew variation seed %d", drawn)
    return params.model_copy(update={"variation_seed": drawn})


def _drawn(plan_engine: Any, entry: Any, loaded: Any, batch: Batch, events: Any) -> list[GeneratedImage]:
    with plugin_calls(entry, "drawing"):
        drawn = list(plan_engine.draw(loaded, batch, events))
    if len(drawn) != batch.image_count or not all(isinstance(item, GeneratedImage) for item in drawn):
        raise PluginFailure(f"engine {entry.key!r} ({entry.source}) returned {len(drawn)} result(s) for a "
                            f"batch of {batch.image_count}, or something that is not a GeneratedImage",
                            plugin_hint(entry) if not entry.builtin else None)
    return drawn


def _upscaled(step: UpscaleStep, image: Any, events: Any) -> tuple[Any, dict[str, Any]]:
    """Apply the `--upscale` step to one image: the upscale engine draws it like any batch."""
    loaded = _load(step.engine, step.engine_entry, step.model_ref, load_options(step.params, None))
    (result,) = _drawn(step.engine, step.engine_entry, loaded, Batch(step.params, (), {"image": image}), events)
    return result.image, result.infotext


def load_upscaler(plan: RunPlan) -> Any:
    """The `--upscale` step's engine with its model loaded (cached per process), or None without one."""
    step = plan.upscale
    if step is None:
        return None
    return _load(step.engine, step.engine_entry, step.model_ref, load_options(step.params, None))


def _hires_pass(plan: RunPlan) -> Any:
    """The hires fix's second pass for the engine; a model upscaler is loaded once and run as a callable."""
    hires = plan.hires
    if hires is None or not isinstance(plan.params, Txt2ImgParams):
        return None
    upscale_once = None
    if hires.engine is not None:
        upscaler = _load(hires.engine, hires.engine_entry, hires.model_ref, load_options(hires.params, None))

        def upscale_once(image: Any) -> Any:
            batch = Batch(hires.params, (), {"image": image})
            (result,) = _drawn(hires.engine, hires.engine_entry, upscaler, batch, NullStepEvents())
            return result.image

    return hires_pass(hires, plan.params, upscale_once)


def run_images(plan: RunPlan, events: RunEvents, *, loaded: Any = None, inputs: dict[str, Any] | None = None,
               on_seed: Callable[[int, bool], None] | None = None) -> Iterator[RunImage]:
    """Draw the plan's images batch by batch; yields each image as soon as its batch is done.

    `inputs` are the opened input images (`open_inputs`) and `loaded` the loaded model, when the
    caller has them already.
    """
    params = _with_variation_seed(plan.params)
    inputs = open_inputs(params) if inputs is None else inputs
    loaded = load_model(plan) if loaded is None else loaded
    first_seed, drawn_at_random = resolve_seed(params.seed) if isinstance(params, Txt2ImgParams) else (0, False)
    if drawn_at_random:
        log.info("seed -1: drew seed %d", first_seed)
    if on_seed is not None and isinstance(params, Txt2ImgParams):
        on_seed(first_seed, drawn_at_random)
    model_hash = None
    if plan.model_ref is not None and isinstance(params, Txt2ImgParams):
        from sdkit.models.hashing import model_short_hash

        model_hash = model_short_hash(plan.model_ref)
    total = params.image_count if isinstance(params, Txt2ImgParams) else 1
    hires = _hires_pass(plan)
    steps = getattr(params, "steps", 1) + (hires.steps if hires is not None else 0)
    prompt, negative = getattr(params, "prompt", ""), getattr(params, "negative_prompt", "")
    if getattr(params, "loras", ()):  # `--lora X:0.7` is recorded as A1111's tag, so A1111 reads it too
        from sdkit.networks.lora_use import prompt_with_tags

        prompt = prompt_with_tags(prompt, params.loras)

    shared = False
    shares_seed = getattr(plan.engine, "batch_shares_seed", None)
    if shares_seed is not None and isinstance(params, Txt2ImgParams):
        with plugin_calls(plan.engine_entry, "choosing its batches' seeds"):
            shared = bool(shares_seed(params))
    for start, seeds in batch_seeds(params, first_seed, shared):
        batch_params = params.model_copy(update={"seed": seeds[0]}) if seeds else params
        batch = Batch(batch_params, seeds, inputs, start, hires)
        events.image_started(start, total, steps)
        drawn = _drawn(plan.engine, plan.engine_entry, loaded, batch, StepsOfImage(events, start))
        if events.should_stop():
            raise Interrupted("stopped by the user before the image was finished",
                              "finished images are kept; rerun with --seed to continue")
        for offset, generated in enumerate(drawn):
            seed = seeds[offset] if seeds else None
            host = common_fields(params, seed, plan.model_ref, plan.vae, model_hash, plan.prediction_type,
                                 index=start + offset)
            if hires is not None:
                host.update(hires_fields(plan.hires, params))
            image, postprocess = generated.image, None
            if plan.upscale is not None:
                image, postprocess = _upscaled(plan.upscale, image, StepsOfImage(events, start + offset))
            yield RunImage(image, start + offset, seed, prompt, negative,
                           arrange_fields(host, generated.infotext, postprocess))


def save_run_image(run_image: RunImage, folder: Path, sidecar: bool, plan: RunPlan, result: RunResult) -> SavedImage:
    """Write one image (and its sidecar) and record it in `result` as soon as the PNG exists."""
    from sdkit.outputs.infotext import format_infotext, png_info

    text = format_infotext(run_image.prompt, run_image.negative_prompt, run_image.infotext)
    label = str(run_image.seed) if run_image.seed is not None else plan.task.value
    saved = SavedImage(write_png(folder, label, run_image.image, png_info(text)), run_image.index, run_image.seed)
    result.images.append(saved)  # kept even if its sidecar cannot be written
    if sidecar:
        sidecar_path = write_sidecar(saved.path, {
            "parameters": text,
            "seed": run_image.seed,
            "index": run_image.index,
            **{key: value for key, value in plan.describe().items() if key not in ("preset_changes", "flag_overrides")},
        })
        saved = dataclasses.replace(saved, sidecar=sidecar_path)
        result.images[-1] = saved
    return saved


def write_failure(error: OSError, folder: Path, result: RunResult) -> RuntimeFailure:
    """A failed write as a message naming the folder, what went wrong and the images already kept."""
    kept = [saved.path.name for saved in result.images]
    shown = kept if len(kept) <= 6 else [*kept[:3], "...", *kept[-2:]]
    kept_text = f"kept {len(kept)} image(s) there: {', '.join(shown)}" if kept else "no image was saved"
    if error.errno in FULL_DISK_ERRNOS:
        message = f"the disk holding the output folder {folder} is full; {kept_text}"
        hint = "free some space there, or choose a folder on another disk with --output-dir, and run again"
    else:
        message = f"could not write an image into {folder}: {error.strerror or error}; {kept_text}"
        hint = "check that the folder is still there and writable, or choose another with --output-dir"
    if kept:
        hint += " (add --seed to continue where it stopped)"
    return RuntimeFailure(message, hint)


def execute(
    plan: RunPlan,
    events: RunEvents,
    *,
    output_dir: Path | None = None,
    sidecar: bool = False,
    on_saved: Callable[[SavedImage], None] | None = None,
) -> RunResult:
    """Run the plan and write each image as soon as it exists; returns what was saved."""
    folder = ensure_output_dir(output_dir or default_output_dir(plan.task))
    result = RunResult(plan, folder)
    inputs = open_inputs(plan.params)
    started = time.perf_counter()
    loaded = load_model(plan)
    load_upscaler(plan)  # loaded now, with the model, rather than in the middle of the first image
    result.load_seconds = time.perf_counter() - started

    def remember_seed(seed: int, drawn: bool) -> None:
        result.first_seed, result.seed_drawn = seed, drawn

    started = time.perf_counter()
    for run_image in run_images(plan, events, loaded=loaded, inputs=inputs, on_seed=remember_seed):
        try:
            saved = save_run_image(run_image, folder, sidecar, plan, result)
        except OSError as error:
            raise write_failure(error, folder, result) from error
        log.info("saved %s (seed %s)", saved.path, saved.seed)
        if on_saved is not None:
            on_saved(saved)
    result.run_seconds = time.perf_counter() - started
    return result
