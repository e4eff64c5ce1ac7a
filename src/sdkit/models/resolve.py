"""From a `--model` string to a `ModelRef`, and from a `ModelRef` to loaded components.

Which model to use when none is named is the engine's business (`Engine.default_model`), not this
module's.

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
from sdkit.core.models import ModelRef, ModelSource
from sdkit.models.survey import ModelSurvey, UnreadableModel
from sdkit.registry import MODELS, Entry, PluginFailure, plugin_calls, plugin_hint, registry

log = logging.getLogger(__name__)

# Built-in source kinds in the order they are asked; unknown (third-party) kinds go first.
BUILTIN_ORDER = ("diffusers", "single-file", "models-folder", "hub")
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def sources() -> list[ModelSource]:
    """Every loadable model source, in the order references are offered to them."""
    return [obj for _, obj in _ranked_sources()]


def _ranked_sources() -> list[tuple[Entry, ModelSource]]:
    models = registry(MODELS)
    loaded: list[tuple[int, str, Entry, ModelSource]] = []
    for key, obj in models.load_all().items():
        if isinstance(obj, Exception):
            log.warning("model source %r is broken and skipped: %s", key, obj)
            continue
        entry = models.entry(key)
        rank = BUILTIN_ORDER.index(key) + 1 if key in BUILTIN_ORDER and entry.builtin else 0
        loaded.append((rank, key, entry, obj))
    return [(entry, obj) for _, _, entry, obj in sorted(loaded, key=lambda item: (item[0], item[1]))]


def source(kind: str) -> ModelSource:
    """The source registered under `kind` (UnknownKeyError if there is none)."""
    return registry(MODELS).get(kind)


def _checked(ref: Any, entry: Entry) -> ModelRef:
    """A source's answer, refused with the plugin's name when it is not a ModelRef."""
    if not isinstance(ref, ModelRef):
        raise PluginFailure(f"model source {entry.key!r} from {entry.source} answered {ref!r}, not a ModelRef",
                            plugin_hint(entry))
    return ref


def resolve_model(reference: str | Path) -> ModelRef:
    """The model that `reference` names: a path, a models-folder name or a hub id.

    Raises `UserInputError` (or `UnknownKeyError`, listing what is available) when nothing matches.
    """
    text = str(reference).strip()
    if not text:
        raise UserInputError("the model reference is empty", "pass --model NAME, PATH or HUB_ID")
    failure: PluginFailure | None = None
    for entry, candidate in _ranked_sources():
        try:
            with plugin_calls(entry, "describing a model"):
                ref = candidate.describe(text)
        except PluginFailure as error:
            # One plugin's bug must not stop references that another source knows; it is reported
            # only if no source claims the reference.
            log.warning("%s", error.message)
            failure = failure or error
            continue
        if ref is not None:
            ref = _checked(ref, entry)
            log.debug("model %r -> %s", text, ref)
            return ref
    if failure is not None:
        raise failure
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


def _looks_like_path(text: str) -> bool:
    return text.startswith((".", "/", "~")) or "\\" in text or Path(text).suffix.lower() in (
        ".safetensors", ".ckpt", ".pt", ".pth", ".bin")


def _models_dir() -> Path:
    from sdkit.runtime.config import models_dir

    return models_dir()


def list_models() -> list[ModelRef]:
    """Every model the sources can see (the models folder, the local hub cache), sorted by name."""
    return survey_models().models


def survey_models() -> ModelSurvey:
    """Every model the sources can see, sorted by name, and the files that look like models but cannot be read.

    Built-in sources that can tell (the models folder) report unreadable files through their `survey`
    method; a plugin source only lists models.
    """
    directory = _models_dir()
    found: dict[tuple[str, str], ModelRef] = {}
    unreadable: list[UnreadableModel] = []
    for entry, candidate in _ranked_sources():
        # One source's bad data (a broken file, a plugin's invalid ModelRef) must not empty the list.
        surveying = getattr(candidate, "survey", None) if entry.builtin else None
        try:
            if surveying is not None:
                refs, broken = surveying(directory)
                unreadable.extend(broken)
            else:
                refs = list(candidate.list_available(directory))
        except OSError as error:
            log.warning("model source %r could not list models: %s", entry.key, error)
            continue
        except Exception as error:
            if entry.builtin:
                raise
            log.warning("model source %r from %s failed to list models and is skipped: %s: %s",
                        entry.key, entry.source, type(error).__name__, error)
            continue
        for ref in refs:
            if not isinstance(ref, ModelRef):
                log.warning("model source %r from %s listed %r, which is not a ModelRef; skipped",
                            entry.key, entry.source, ref)
                continue
            found.setdefault((ref.name.lower(), str(ref.location)), ref)
    models = sorted(found.values(), key=lambda ref: (ref.name.lower(), str(ref.location)))
    return ModelSurvey(models, sorted(unreadable, key=lambda item: (item.name.lower(), str(item.location))))


def load_components(ref: ModelRef, torch_dtype: Any = None, vae: str | Path | None = None) -> dict[str, Any]:
    """Load `ref`'s components (unet, vae, text_encoder, tokenizer, scheduler, [text_encoder_2, tokenizer_2]).

    `vae` replaces the model's VAE: a single-file VAE (.safetensors) or a diffusers VAE folder.
    """
    entry = registry(MODELS).entry(ref.source)
    loader = getattr(source(ref.source), "load_components", None)
    if loader is None:
        raise UserInputError(f"{ref.name} is a {ref.family} model of {entry.source}'s source {entry.key!r}, "
                             "which gives no Stable Diffusion components",
                             "use an engine that runs this family (`sdkit plugins list` shows the engines)")
    with plugin_calls(entry, f"loading {ref.name}"):
        components = loader(ref, torch_dtype)
    if vae is not None:
        from sdkit.models.vae import load_vae

        components["vae"] = load_vae(vae, ref, torch_dtype)
    return components
