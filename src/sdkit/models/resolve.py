"""From a `--model` string to a `ModelRef`, and from a `ModelRef` to loaded components.

The registered sources (`sdkit.models` entry points) are asked in turn: third-party plugins first, so a
plugin can claim a reference syntax of its own, then sdkit's built-ins in a fixed order (a folder or a
file on disk, a name in the models folder, a hub id in the local cache).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from sdkit.core.errors import UnknownKeyError, UserInputError
from sdkit.models.base import ModelRef, ModelSource, validate_source

log = logging.getLogger(__name__)

# Built-in source kinds in the order they are asked; unknown (third-party) kinds go first.
BUILTIN_ORDER = ("diffusers", "single-file", "models-folder", "hub")
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def sources() -> list[ModelSource]:
    """Every loadable model source, in the order references are offered to them."""
    from sdkit.registry import MODELS, registry

    models = registry(MODELS)
    loaded: list[tuple[int, str, ModelSource]] = []
    for key, obj in models.load_all().items():
        if isinstance(obj, Exception):
            log.warning("model source %r is broken and skipped: %s", key, obj)
            continue
        try:
            validate_source(obj)
        except TypeError as error:
            log.warning("model source %r is skipped: %s", key, error)
            continue
        rank = BUILTIN_ORDER.index(key) + 1 if key in BUILTIN_ORDER and models.entry(key).builtin else 0
        loaded.append((rank, key, obj))
    return [obj for _, _, obj in sorted(loaded, key=lambda item: (item[0], item[1]))]


def source(kind: str) -> ModelSource:
    """The source registered under `kind` (UnknownKeyError if there is none)."""
    from sdkit.registry import MODELS, registry

    obj = registry(MODELS).get(kind)
    validate_source(obj)
    return obj


def demo_model_dir() -> Path:
    """The bundled demo model's folder; a clear error when this install has none."""
    try:
        from sdkit.demo import DEMO_MODEL_DIR
    except ImportError:
        DEMO_MODEL_DIR = None
    if DEMO_MODEL_DIR is None or not (Path(DEMO_MODEL_DIR) / "model_index.json").is_file():
        raise UserInputError(
            "no model given and the bundled demo model is not installed",
            "pass --model with a diffusers folder, a .safetensors file, a name from `sdkit models list` "
            "or a hub id already in the local Hugging Face cache",
        )
    return Path(DEMO_MODEL_DIR)


def resolve_model(reference: str | Path | None) -> ModelRef:
    """The model that `reference` names: None (the demo model), a path, a models-folder name, a hub id.

    Raises `UserInputError` (or `UnknownKeyError`, listing what is available) when nothing matches.
    """
    wants_demo = reference is None
    text = str(demo_model_dir()) if reference is None else str(reference).strip()
    if not text:
        raise UserInputError("the model reference is empty", "pass --model NAME, PATH or HUB_ID")
    for candidate in sources():
        ref = candidate.describe(text)
        if ref is not None:
            log.debug("model %r -> %s", text, ref)
            return _named_demo(ref) if wants_demo else ref
    path = Path(text).expanduser()
    if path.exists():
        raise UserInputError(
            f"{path} is not a model sdkit can load",
            "expected a diffusers folder (with model_index.json) or a .safetensors/.ckpt checkpoint file",
        )
    if HUB_ID.match(text) and not _looks_like_path(text):
        # Only the hub source would know; it said no, so the id is not in the local cache.
        raise UserInputError(
            f"the hub model {text!r} is not in the local Hugging Face cache and sdkit never downloads",
            "download it on a machine with network (e.g. `hf download " + text + "`) and copy the "
            "cache, or point --model at the downloaded .safetensors file or diffusers folder",
        )
    if _looks_like_path(text) or "/" in text:
        raise UserInputError(f"{path}: no such file or folder",
                             "check the path; `sdkit models list` shows the models sdkit can find by name")
    known = sorted({ref.name for ref in list_models()})
    raise UnknownKeyError(
        "model", text, known,
        hint=(f"models in {_models_dir()}: {', '.join(known[:20])}" if known else
              f"no models found in {_models_dir()}; pass --model PATH, or set SDKIT_MODELS_DIR"),
    )


def _named_demo(ref: ModelRef) -> ModelRef:
    """The demo model goes by its own name, not its folder's ("model")."""
    from dataclasses import replace

    from sdkit.demo import DEMO_MODEL_NAME

    return replace(ref, name=DEMO_MODEL_NAME)


def _looks_like_path(text: str) -> bool:
    return text.startswith((".", "/", "~")) or "\\" in text or Path(text).suffix.lower() in (
        ".safetensors", ".ckpt", ".pt", ".pth", ".bin")


def _models_dir() -> Path:
    from sdkit.runtime.config import models_dir

    return models_dir()


def list_models() -> list[ModelRef]:
    """Every model the sources can see (the models folder, the local hub cache), sorted by name."""
    directory = _models_dir()
    found: dict[tuple[str, str], ModelRef] = {}
    for candidate in sources():
        try:
            for ref in candidate.list_available(directory):
                found.setdefault((ref.name.lower(), str(ref.location)), ref)
        except OSError as error:
            log.warning("model source %r could not list models: %s", candidate.kind, error)
    return sorted(found.values(), key=lambda ref: (ref.name.lower(), str(ref.location)))


def load_components(ref: ModelRef, torch_dtype: Any = None, vae: str | Path | None = None) -> dict[str, Any]:
    """Load `ref`'s components (unet, vae, text_encoder, tokenizer, scheduler, [text_encoder_2, tokenizer_2]).

    `vae` replaces the model's VAE: a single-file VAE (.safetensors) or a diffusers VAE folder.
    """
    components = source(ref.source).load_components(ref, torch_dtype)
    if vae is not None:
        from sdkit.models.vae import load_vae

        components["vae"] = load_vae(vae, ref, torch_dtype)
    return components
