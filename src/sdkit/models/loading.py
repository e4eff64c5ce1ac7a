"""Turn a described model into diffusers components: the heavy half of the model sources.

Everything here imports torch and diffusers inside the functions. Both paths load through the diffusers
pipeline class of the model's family with `local_files_only=True`, so nothing is ever fetched, and keep
only the components engines need (no safety checker, no feature extractor).
"""

from __future__ import annotations

import logging
import pickle
from pathlib import Path
from typing import Any

from sdkit.core.errors import RuntimeFailure, UserInputError
from sdkit.core.models import Family, ModelRef

log = logging.getLogger(__name__)

SD_COMPONENTS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")
SDXL_COMPONENTS = SD_COMPONENTS + ("text_encoder_2", "tokenizer_2")


def _pipeline_class(family: Family) -> Any:
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    return StableDiffusionXLPipeline if family == Family.SDXL else StableDiffusionPipeline


def _keep(ref: ModelRef, components: dict[str, Any]) -> dict[str, Any]:
    wanted = SDXL_COMPONENTS if ref.family == Family.SDXL else SD_COMPONENTS
    kept = {name: components[name] for name in wanted if components.get(name) is not None}
    missing = [name for name in wanted if name not in kept]
    if missing:
        raise UserInputError(f"{ref.location}: the model has no {', '.join(missing)}",
                             "sdkit needs a complete Stable Diffusion pipeline")
    scheduler = kept["scheduler"]
    if scheduler.config.get("prediction_type") != ref.prediction_type:
        # The user (or detection) knows better than the shipped config, e.g. an SD 2.x 512 model.
        kept["scheduler"] = type(scheduler).from_config(scheduler.config, prediction_type=ref.prediction_type)
    return kept


def _short(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return (text[0] if text else type(error).__name__)[:300]


def _caused_by_unsafe_pickle(error: BaseException | None) -> bool:
    """Whether a weights-only unpickler refused something, however deep the loaders wrapped it."""
    seen = 0
    while error is not None and seen < 10:
        if isinstance(error, pickle.UnpicklingError) or "Weights only load failed" in str(error):
            return True
        error, seen = error.__cause__ or error.__context__, seen + 1
    return False


def _fp16_variant(folder: Path) -> str | None:
    """"fp16" when the UNet ships only fp16-variant weights (then diffusers must be told)."""
    unet = folder / "unet"
    plain = any(unet.glob("diffusion_pytorch_model.safetensors")) or any(unet.glob("diffusion_pytorch_model.bin"))
    variant = any(unet.glob("diffusion_pytorch_model.fp16.*"))
    return "fp16" if variant and not plain else None


def load_diffusers_folder(ref: ModelRef, folder: Path, torch_dtype: Any = None) -> dict[str, Any]:
    """Components of a diffusers pipeline folder (weights in .safetensors, or .bin read weights-only)."""
    pipeline_class = _pipeline_class(ref.family)
    extra: dict[str, Any] = {}
    if ref.family != Family.SDXL:
        extra = {"safety_checker": None, "feature_extractor": None, "requires_safety_checker": False}
    variant = _fp16_variant(folder)
    try:
        # diffusers and transformers read any .bin weights with torch.load(weights_only=True).
        pipeline = pipeline_class.from_pretrained(
            str(folder), torch_dtype=torch_dtype, local_files_only=True, variant=variant, **extra)
    except (pickle.UnpicklingError, OSError, ValueError, RuntimeError, KeyError) as error:
        if not _caused_by_unsafe_pickle(error):
            log.debug("loading %s failed", folder, exc_info=True)
            raise UserInputError(f"{folder}: the diffusers folder could not be loaded: {_short(error)}",
                                 "the folder is incomplete or damaged; download it again") from error
        raise UserInputError(
            f"{folder}: refused to load: a weights file in the folder contains code or objects other than "
            "tensors (it would run code when unpickled)",
            "use a copy of this model with .safetensors weights; never load pickle files you do not trust",
        ) from error
    return _keep(ref, pipeline.components)


def load_single_file(ref: ModelRef, path: Path, config_dir: Path, torch_dtype: Any = None) -> dict[str, Any]:
    """Components of an LDM-layout checkpoint, configured from `config_dir` (never from the Hub)."""
    pipeline_class = _pipeline_class(ref.family)
    extra: dict[str, Any] = {}
    if ref.family != Family.SDXL:
        extra = {"safety_checker": None, "feature_extractor": None, "requires_safety_checker": False}
    try:
        pipeline = pipeline_class.from_single_file(
            str(path), config=str(config_dir), torch_dtype=torch_dtype, local_files_only=True, **extra)
    except MemoryError as error:
        raise RuntimeFailure(f"{path}: not enough memory to load the model",
                             "close other programs or use --dtype fp16/bf16") from error
    except Exception as error:  # diffusers raises many types for a checkpoint that does not fit
        log.debug("loading %s with config %s failed", path, config_dir, exc_info=True)
        raise UserInputError(
            f"{path}: the weights do not fit a {ref.family}"
            f"{' inpainting' if ref.inpainting else ''} model ({_short(error)})",
            "the file may be damaged or of an architecture sdkit does not know; if it needs its own "
            f"configuration, put a diffusers config folder beside it as {path.stem}.config/",
        ) from error
    return _keep(ref, pipeline.components)
