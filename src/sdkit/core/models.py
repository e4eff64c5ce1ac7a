"""What a model is to sdkit (`ModelRef`) and what a model source provides (`ModelSource`).

A model source is an entry in the `sdkit.models` entry-point group. It recognises reference strings
(a path, a name, a hub id), lists the models it can see, and loads a model's components. Families are
open: a source may describe any family key (`"sd1"`, `"sdxl"`, or a plugin's own `"solid"`), and an
engine says which families it draws with. Nothing here imports torch, and nothing here reads weights:
a model's hash is computed by `sdkit.models.hashing`, where the cost is visible.
Plugin authors import all of this from `sdkit.plugin`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from sdkit.core.errors import UserInputError

PREDICTION_TYPES = ("epsilon", "v_prediction")


# A family key: lower-case letters, digits, `.`, `_` and `-`, starting with a letter or digit.
FAMILY_KEY = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class Family(str, Enum):
    """The families sdkit's own sources and engines know; any other valid key is allowed too.

    A `Family` member equals its string (`Family.SDXL == "sdxl"`), so engines and sources compare
    families as strings.
    """

    SD1 = "sd1"
    SD2 = "sd2"
    SDXL = "sdxl"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class ModelRef:
    """One model sdkit can load, described without loading it.

    `location` is a Path for files and folders, a string for a hub id. `family` is any family key
    (`Family` lists sdkit's own); an invalid one raises `ValueError`, which sdkit reports as the
    source's fault and skips the model, so one plugin's bad data cannot stop a listing. `guessed` names the fields that
    could not be read from the model itself (e.g. an SD 2.x single file's prediction type) and hold a
    default instead; override them with `with_overrides`. `config_dir` is a diffusers config folder used
    instead of the family's bundled one when loading a single file (a sidecar `NAME.config/` folder, or
    given by a caller); None means the bundled config of `family`.
    """

    name: str
    location: Path | str
    source: str  # the `sdkit.models` entry-point key of the source that loads it
    format: str  # "diffusers", "safetensors", "ckpt", ...
    family: str
    inpainting: bool = False
    prediction_type: str = "epsilon"
    size_bytes: int = 0
    config_dir: Path | None = None
    guessed: tuple[str, ...] = field(default=())

    @property
    def path(self) -> Path | None:
        """The file or folder on disk, or None for a reference that has no single path."""
        return self.location if isinstance(self.location, Path) else None

    def __post_init__(self) -> None:
        for name in ("name", "source", "format"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"ModelRef.{name} must be a non-empty string, not {value!r}")
        if not isinstance(self.location, (str, Path)) or not str(self.location):
            raise ValueError(f"ModelRef.location must be a Path or a non-empty string, not {self.location!r}")
        if not isinstance(self.family, str) or not FAMILY_KEY.match(self.family):
            raise ValueError(f"ModelRef.family must be a family key such as 'sd1' or 'my-family' "
                             f"(lower-case letters, digits, '.', '_', '-'), not {self.family!r}")

    def with_overrides(self, *, prediction_type: str | None = None, inpainting: bool | None = None,
                       config_dir: Path | None = None) -> ModelRef:
        """A copy with user-given values in place of detected or guessed ones."""
        changes: dict[str, Any] = {}
        guessed = set(self.guessed)
        if prediction_type is not None:
            if prediction_type not in PREDICTION_TYPES:
                raise UserInputError(f"unknown prediction type {prediction_type!r}",
                                     f"use one of: {', '.join(PREDICTION_TYPES)}")
            changes["prediction_type"] = prediction_type
            guessed.discard("prediction_type")
        if inpainting is not None:
            changes["inpainting"] = inpainting
            guessed.discard("inpainting")
        if config_dir is not None:
            changes["config_dir"] = Path(config_dir)
        return replace(self, guessed=tuple(sorted(guessed)), **changes)

    def describe(self) -> dict[str, Any]:
        """Plain data for `--json` output and logs (no hash: that may need reading the file)."""
        return {
            "name": self.name,
            "location": str(self.location),
            "source": self.source,
            "format": self.format,
            "family": str(self.family),
            "inpainting": self.inpainting,
            "prediction_type": self.prediction_type,
            "size_bytes": self.size_bytes,
            "guessed": list(self.guessed),
        }


@runtime_checkable
class ModelSource(Protocol):
    """An entry in the `sdkit.models` group: one way of finding and loading models.

    Module-level imports must stay light (no torch, diffusers or transformers); `load_components`
    imports what it needs.
    """

    kind: str  # the entry-point key, e.g. "diffusers", "single-file", "hub", "models-folder"

    def describe(self, reference: str) -> ModelRef | None:
        """The model `reference` names, or None if this source does not recognise it.

        Raise `UserInputError` when the reference is clearly this source's (an existing file of a
        format this source reads) but is broken, so the user learns what is wrong with it.
        """
        ...

    def list_available(self, models_dir: Path) -> Iterable[ModelRef]:
        """The models this source can see (in `models_dir` or elsewhere); may be empty."""
        ...


# Optional member: `load_components(ref, torch_dtype=None) -> dict`, for sources whose models sdkit's
# Stable Diffusion engines load: diffusers/transformers objects keyed as in diffusers pipelines (unet,
# vae, text_encoder, tokenizer, scheduler; text_encoder_2 and tokenizer_2 for SDXL). A source whose
# models are for its own engine leaves it out; that engine's `load` reads the ModelRef itself.


def validate_source(obj: Any) -> None:
    """Registry check: an entry point in `sdkit.models` must look like a ModelSource."""
    required = ("kind", "describe", "list_available")
    missing = [name for name in required if not hasattr(obj, name)]
    if missing:
        raise TypeError(f"{obj!r} is not an sdkit model source: it lacks {', '.join(missing)}")
