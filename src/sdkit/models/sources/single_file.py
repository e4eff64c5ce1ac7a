"""Model source "single-file": one checkpoint in the original LDM layout (.safetensors, or .ckpt read safely).

The family is detected from tensor names and shapes, and the model is loaded offline with the family's
bundled diffusers config. A sidecar folder `<stem>.config/` beside the file (a diffusers folder without
weights) replaces the bundled config: for checkpoints of non-standard size, such as sdkit's test models.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sdkit.core.models import ModelRef
from sdkit.models.checkpoint import CHECKPOINT_SUFFIXES, checkpoint_format, read_shapes
from sdkit.models.detect import detect_single_file

SIDECAR_SUFFIX = ".config"


def sidecar_config(path: Path) -> Path | None:
    """The `<stem>.config/` diffusers config folder beside a checkpoint, if there is one."""
    folder = path.with_name(path.stem + SIDECAR_SUFFIX)
    return folder if (folder / "model_index.json").is_file() else None


def is_checkpoint_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in CHECKPOINT_SUFFIXES


def describe_file(path: Path, kind: str = "single-file") -> ModelRef:
    """A ModelRef for a checkpoint file; UserInputError naming the file when it is not a usable model."""
    detection = detect_single_file(read_shapes(path), path)
    return ModelRef(
        name=path.stem, location=path, source=kind, format=checkpoint_format(path), family=detection.family,
        inpainting=detection.inpainting, prediction_type=detection.prediction_type,
        size_bytes=path.stat().st_size, config_dir=sidecar_config(path), guessed=detection.guessed,
    )


class SingleFileSource:
    """Loads A1111-style checkpoints with no network and no code execution."""

    kind = "single-file"

    def describe(self, reference: str) -> ModelRef | None:
        path = Path(reference).expanduser()
        if not is_checkpoint_file(path):
            return None
        return describe_file(path.resolve(), self.kind)

    def list_available(self, models_dir: Path) -> Iterable[ModelRef]:
        return ()  # files in the models folder are listed by the models-folder source

    def load_components(self, ref: ModelRef, torch_dtype: Any = None) -> dict[str, Any]:
        from sdkit.models.family_configs import config_folder
        from sdkit.models.loading import load_single_file

        config_dir = ref.config_dir or config_folder(ref.family, ref.inpainting, ref.prediction_type)
        return load_single_file(ref, Path(ref.location), config_dir, torch_dtype)


SOURCE = SingleFileSource()
