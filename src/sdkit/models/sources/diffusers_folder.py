"""Model source "diffusers": a diffusers pipeline folder on disk (model_index.json and component folders)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sdkit.core.models import ModelRef
from sdkit.models.detect import detect_diffusers_folder


def folder_size(folder: Path) -> int:
    """Bytes of every file under `folder` (the weights dominate)."""
    return sum(file.stat().st_size for file in folder.rglob("*") if file.is_file())


def is_diffusers_folder(path: Path) -> bool:
    return path.is_dir() and (path / "model_index.json").is_file()


def describe_folder(folder: Path, kind: str = "diffusers", name: str | None = None) -> ModelRef:
    """A ModelRef for a diffusers folder (raises UserInputError when it is not an SD pipeline)."""
    from sdkit.demo import DEMO_MODEL_DIR, DEMO_MODEL_NAME

    detection = detect_diffusers_folder(folder)
    if name is None:
        # The bundled demo model goes by its own name, not its folder's ("model").
        name = DEMO_MODEL_NAME if folder == DEMO_MODEL_DIR else folder.name
    return ModelRef(
        name=name, location=folder, source=kind, format="diffusers",
        family=detection.family, inpainting=detection.inpainting, prediction_type=detection.prediction_type,
        size_bytes=folder_size(folder), guessed=detection.guessed,
    )


class DiffusersFolderSource:
    """Loads a folder written by diffusers' `save_pretrained` (or downloaded from a diffusers repo)."""

    kind = "diffusers"

    def describe(self, reference: str) -> ModelRef | None:
        path = Path(reference).expanduser()
        if not is_diffusers_folder(path):
            return None
        return describe_folder(path.resolve(), self.kind)

    def list_available(self, models_dir: Path) -> Iterable[ModelRef]:
        return ()  # folders in the models folder are listed by the models-folder source

    def load_components(self, ref: ModelRef, torch_dtype: Any = None) -> dict[str, Any]:
        from sdkit.models.loading import load_diffusers_folder

        return load_diffusers_folder(ref, Path(ref.location), torch_dtype)


SOURCE = DiffusersFolderSource()
