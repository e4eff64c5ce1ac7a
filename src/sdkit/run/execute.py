"""Execute a `RunPlan`: load the model once, run the engine, write each image as soon as it exists."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sdkit.core.params import Txt2ImgParams
from sdkit.core.tasks import Task
from sdkit.engines.base import GeneratedImage, LoadOptions, RunEvents
from sdkit.outputs.writer import ensure_output_dir, write_png, write_sidecar
from sdkit.run.plan import RunPlan

log = logging.getLogger(__name__)

# Loaded models, kept for the life of the process (a library caller may run many plans).
_loaded_models: dict[tuple[Any, ...], Any] = {}


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

    def describe(self) -> dict[str, Any]:
        return {
            **self.plan.describe(),
            "output_dir": str(self.output_dir),
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


def load_options(plan: RunPlan) -> LoadOptions:
    params = plan.params
    return LoadOptions(
        device=params.device,
        dtype=params.dtype,
        vae=plan.vae,
        attention_slicing=bool(getattr(params, "attention_slicing", False)),
        vae_tiling=bool(getattr(params, "vae_tiling", False)),
        cpu_offload=bool(getattr(params, "cpu_offload", False)),
    )


def load_model(plan: RunPlan) -> Any:
    """The engine's loaded model for this plan, loaded at most once per process."""
    options = load_options(plan)
    model = plan.model_ref if plan.model_ref is not None else plan.model
    key = (plan.engine_name, str(getattr(model, "location", model)), options)
    if key not in _loaded_models:
        _loaded_models[key] = plan.engine.load(model, options)
    return _loaded_models[key]


def _post_upscale(plan: RunPlan, generated: GeneratedImage) -> None:
    """`--upscale MODEL`: enlarge each generated image before it is saved, and record it."""
    params = plan.params
    if not isinstance(params, Txt2ImgParams) or not params.upscale:
        return
    from sdkit.upscale import upscale_image

    generated.image, fields = upscale_image(generated.image, params.upscale, scale=None, tile=512,
                                            tile_overlap=32, device=params.device, dtype="auto")
    generated.infotext.update(fields)


def _save(generated: GeneratedImage, folder: Path, sidecar: bool, plan: RunPlan) -> SavedImage:
    from sdkit.outputs.infotext import format_infotext, png_info

    text = format_infotext(generated.prompt, generated.negative_prompt, generated.infotext)
    label = str(generated.seed) if generated.seed is not None else plan.task.value
    path = write_png(folder, label, generated.image, png_info(text))
    sidecar_path = None
    if sidecar:
        sidecar_path = write_sidecar(path, {
            "parameters": text,
            "seed": generated.seed,
            "index": generated.index,
            **{key: value for key, value in plan.describe().items() if key not in ("preset_changes", "flag_overrides")},
        })
    return SavedImage(path, generated.index, generated.seed, sidecar_path)


def execute(
    plan: RunPlan,
    events: RunEvents,
    *,
    output_dir: Path | None = None,
    sidecar: bool = False,
    on_saved: Callable[[SavedImage], None] | None = None,
) -> RunResult:
    folder = ensure_output_dir(output_dir or default_output_dir(plan.task))
    result = RunResult(plan, folder)
    started = time.perf_counter()
    loaded = load_model(plan)
    result.load_seconds = time.perf_counter() - started
    started = time.perf_counter()
    for generated in plan.engine.run(loaded, plan.params, events):
        _post_upscale(plan, generated)
        saved = _save(generated, folder, sidecar, plan)
        result.images.append(saved)
        log.info("saved %s (seed %s)", saved.path, saved.seed)
        if on_saved is not None:
            on_saved(saved)
    result.run_seconds = time.perf_counter() - started
    return result
