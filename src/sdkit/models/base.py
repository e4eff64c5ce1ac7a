"""What a model is to sdkit (`ModelRef`, `Family`) and what a model source must provide (`ModelSource`).

A model source is an entry in the `sdkit.models` entry-point group. It recognises reference strings
(a path, a name, a hub id), lists the models it can see, and loads a model's components. Nothing here
imports torch: `sdkit models list` and `generate --dry-run` describe models without loading them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

PREDICTION_TYPES = ("epsilon", "v_prediction")


class Family(str, Enum):
    """The architecture family of a Stable Diffusion model; engines are chosen by it."""

    SD1 = "sd1"
    SD2 = "sd2"
    SDXL = "sdxl"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class ModelRef:
    """One model sdkit can load, described without loading it.

    `location` is a Path for files and folders, a string for a hub id. `guessed` names the fields that
    could not be read from the model itself (e.g. an SD 2.x single file's prediction type) and hold a
    default instead; override them with `with_overrides`. `config_dir` is a diffusers config folder used
    instead of the family's bundled one when loading a single file (a sidecar `NAME.config/` folder, or
    given by a caller); None means the bundled config of `family`.
    """

    name: str
    location: Path | str
    source: str  # the `sdkit.models` entry-point key of the source that loads it
    format: str  # "diffusers", "safetensors", "ckpt", ...
    family: Family
    inpainting: bool = False
    prediction_type: str = "epsilon"
    size_bytes: int = 0
    config_dir: Path | None = None
    guessed: tuple[str, ...] = field(default=())

    @property
    def path(self) -> Path | None:
        """The file or folder on disk, or None for a reference that has no single path."""
        return self.location if isinstance(self.location, Path) else None

    def short_hash(self) -> str | None:
        """A1111's short hash: the first 10 hex digits of the SHA-256 of the weights (cached on disk).

        For a single file it is the file's hash, exactly as A1111 shows it. For a diffusers folder it is
        the hash of the UNet weights file (the part that makes one fine-tune differ from another).
        None when there is no file to hash.
        """
        from sdkit.models.hashing import model_short_hash

        return model_short_hash(self)

    def with_overrides(self, *, prediction_type: str | None = None, inpainting: bool | None = None,
                       config_dir: Path | None = None) -> ModelRef:
        """A copy with user-given values in place of detected or guessed ones."""
        changes: dict[str, Any] = {}
        guessed = set(self.guessed)
        if prediction_type is not None:
            if prediction_type not in PREDICTION_TYPES:
                from sdkit.core.errors import UserInputError

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
            "family": self.family.value,
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

    def load_components(self, ref: ModelRef, torch_dtype: Any = None) -> dict[str, Any]:
        """diffusers/transformers objects keyed as in diffusers pipelines.

        Keys: unet, vae, text_encoder, tokenizer, scheduler; and text_encoder_2, tokenizer_2 for SDXL.
        """
        ...


def validate_source(obj: Any) -> None:
    """Registry check: an entry point in `sdkit.models` must look like a ModelSource."""
    required = ("kind", "describe", "list_available", "load_components")
    missing = [name for name in required if not hasattr(obj, name)]
    if missing:
        raise TypeError(f"{obj!r} is not an sdkit model source: it lacks {', '.join(missing)}")
