"""Model source "models-folder": models found by name in the models folder.

The folder is `$SDKIT_MODELS_DIR`, else the config's `models_dir`, else `<data dir>/models`. Checkpoint
files and diffusers folders at its top level and one folder level below are models; a name matches a
file's stem (or full file name) or a folder's name, ignoring case. Names are only ever compared with
what the scan found, so a name cannot reach outside the folder. Nothing in the folder is ever written.
A candidate that cannot be read (a broken file, a LoRA where a model belongs) is listed as unreadable
with its reason, never allowed to stop the listing of the others.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from sdkit.core.errors import UserInputError
from sdkit.core.models import ModelRef
from sdkit.models.checkpoint import checkpoint_format
from sdkit.models.sources.diffusers_folder import describe_folder, is_diffusers_folder
from sdkit.models.sources.single_file import SIDECAR_SUFFIX, describe_file, is_checkpoint_file
from sdkit.models.survey import UnreadableModel

log = logging.getLogger(__name__)

# Subfolders that hold other kinds of weights, never models for --model.
RESERVED_FOLDERS = frozenset({"vae", "upscale", "lora", "loras", "embeddings", "controlnet"})


def _is_sidecar(path: Path) -> bool:
    return path.is_dir() and path.name.endswith(SIDECAR_SUFFIX)


def scan(models_dir: Path) -> Iterator[Path]:
    """Candidate model paths: checkpoint files and diffusers folders, top level and one level down."""
    if not models_dir.is_dir():
        return
    for entry in sorted(models_dir.iterdir()):
        if entry.name.startswith(".") or _is_sidecar(entry):
            continue
        if is_checkpoint_file(entry) or is_diffusers_folder(entry):
            yield entry
        elif entry.is_dir() and entry.name.lower() not in RESERVED_FOLDERS and not _is_sidecar(entry):
            try:
                children = sorted(entry.iterdir())
            except OSError as error:  # one unreadable subfolder must not hide the rest of the folder
                log.warning("cannot look into %s: %s", entry, error.strerror or error)
                continue
            for child in children:
                if not child.name.startswith(".") and (is_checkpoint_file(child) or is_diffusers_folder(child)):
                    yield child


def model_name(path: Path) -> str:
    return path.name if path.is_dir() else path.stem


def _describe(path: Path) -> ModelRef:
    return describe_folder(path) if path.is_dir() else describe_file(path)


def _unreadable(path: Path, kind: str, error: Exception) -> UnreadableModel:
    if isinstance(error, UserInputError):
        problem, hint = error.message, error.hint
    else:  # a reader's bug must not stop the listing; the log has the trace
        problem = f"{path}: could not be read ({type(error).__name__}: {str(error)[:200]})"
        hint = "the log file has the details; please report this with `sdkit export-debug`"
    try:
        size = path.stat().st_size if path.is_file() else 0
    except OSError:
        size = 0
    return UnreadableModel(name=model_name(path), location=path, source=kind,
                           format="diffusers" if path.is_dir() else checkpoint_format(path),
                           problem=problem, hint=hint, size_bytes=size)


def is_plain_name(reference: str) -> bool:
    """A bare name: no folder separators, no `..`, not absolute (so it cannot escape the folder)."""
    return bool(reference) and "/" not in reference and "\\" not in reference and reference not in (".", "..")


class ModelsFolderSource:
    """Finds models by name in the models folder; loads them as the file or folder they are."""

    kind = "models-folder"

    def describe(self, reference: str) -> ModelRef | None:
        if not is_plain_name(reference):
            return None
        from sdkit.runtime.config import models_dir, models_dir_error

        problem = models_dir_error()
        if problem is not None:  # a name can only be looked up in a folder that can be searched
            raise problem
        wanted = reference.lower()
        matches = [path for path in scan(models_dir())
                   if wanted in (model_name(path).lower(), path.name.lower())]
        if not matches:
            return None
        if len(matches) > 1:
            listed = ", ".join(str(path) for path in matches)
            raise UserInputError(f"the name {reference!r} matches {len(matches)} models: {listed}",
                                 "pass --model with the full path of the one you mean")
        return _describe(matches[0])

    def survey(self, models_dir: Path) -> tuple[list[ModelRef], list[UnreadableModel]]:
        """The models in the folder, and the candidates that cannot be read, each with its reason."""
        refs: list[ModelRef] = []
        unreadable: list[UnreadableModel] = []
        for path in scan(models_dir):
            try:
                refs.append(_describe(path))
            except UserInputError as error:
                log.info("not a usable model: %s", error.message)
                unreadable.append(_unreadable(path, self.kind, error))
            except Exception as error:  # hostile files reach corners of the readers; one must not hide the rest
                log.info("reading %s failed", path, exc_info=True)
                unreadable.append(_unreadable(path, self.kind, error))
        return refs, unreadable

    def list_available(self, models_dir: Path) -> Iterable[ModelRef]:
        return self.survey(models_dir)[0]

    def load_components(self, ref: ModelRef, torch_dtype: Any = None) -> dict[str, Any]:
        from sdkit.models.resolve import source

        return source("diffusers" if ref.format == "diffusers" else "single-file").load_components(ref, torch_dtype)


SOURCE = ModelsFolderSource()
