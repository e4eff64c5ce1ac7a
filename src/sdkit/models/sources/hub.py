"""Model source "hub": a Hugging Face Hub repo id (`owner/name`), found in the local cache only.

sdkit never downloads. The cache is the standard one (`$HF_HUB_CACHE`, else `$HF_HOME/hub`, else
`~/.cache/huggingface/hub`): `models--owner--name/refs/main` names the snapshot folder that holds the
diffusers pipeline. An id that is not there is an error that says how to get the model.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sdkit.core.errors import UserInputError
from sdkit.core.models import ModelRef
from sdkit.models.sources.diffusers_folder import describe_folder, is_diffusers_folder

log = logging.getLogger(__name__)

REPO_ID = re.compile(r"^(?P<owner>[A-Za-z0-9][\w.-]*)/(?P<name>[\w.-]+)$")


def hub_cache_dir() -> Path:
    """Where huggingface_hub keeps downloaded repos, read from the environment at each call."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    return Path("~/.cache/huggingface/hub").expanduser()


def cached_snapshot(repo_id: str, cache_dir: Path | None = None) -> Path | None:
    """The snapshot folder of `repo_id`'s main revision in the local cache, or None."""
    owner, _, name = repo_id.partition("/")
    repo_dir = (cache_dir or hub_cache_dir()) / f"models--{owner}--{name}"
    try:
        revision = (repo_dir / "refs" / "main").read_text(encoding="utf-8").strip()
    except OSError:
        snapshots = sorted((repo_dir / "snapshots").glob("*")) if (repo_dir / "snapshots").is_dir() else []
        return snapshots[-1] if len(snapshots) == 1 else None  # no ref: only an unambiguous snapshot
    if not re.fullmatch(r"[0-9a-f]{40}", revision):  # a ref must be a commit hash, never a path
        return None
    snapshot = repo_dir / "snapshots" / revision
    return snapshot if snapshot.is_dir() else None


def not_cached_error(repo_id: str) -> UserInputError:
    return UserInputError(
        f"the hub model {repo_id!r} is not in the local Hugging Face cache ({hub_cache_dir()}), "
        "and sdkit never downloads",
        f"on a machine with network run `hf download {repo_id}` and copy its cache here, or download the "
        "model's .safetensors file or diffusers folder and pass its path with --model",
    )


class HubSource:
    """Loads diffusers pipelines from the local Hugging Face cache, offline."""

    kind = "hub"

    def describe(self, reference: str) -> ModelRef | None:
        if not REPO_ID.match(reference) or Path(reference).expanduser().exists():
            return None
        snapshot = cached_snapshot(reference)
        if snapshot is None:
            raise not_cached_error(reference)
        if not is_diffusers_folder(snapshot):
            raise UserInputError(
                f"the cached hub repo {reference!r} is not a diffusers pipeline (no model_index.json)",
                "download the model's .safetensors file and pass its path with --model",
            )
        return describe_folder(snapshot, self.kind, name=reference)

    def list_available(self, models_dir: Path) -> Iterable[ModelRef]:
        cache = hub_cache_dir()
        if not cache.is_dir():
            return []
        refs = []
        for repo_dir in sorted(cache.glob("models--*--*")):
            parts = repo_dir.name.split("--", 2)
            repo_id = f"{parts[1]}/{parts[2]}"
            snapshot = cached_snapshot(repo_id, cache)
            if snapshot is None or not is_diffusers_folder(snapshot):
                continue
            try:
                refs.append(describe_folder(snapshot, self.kind, name=repo_id))
            except UserInputError as error:
                log.debug("hub cache: skipping %s: %s", repo_id, error.message)
        return refs

    def load_components(self, ref: ModelRef, torch_dtype: Any = None) -> dict[str, Any]:
        from sdkit.models.loading import load_diffusers_folder

        return load_diffusers_folder(ref, Path(ref.location), torch_dtype)


SOURCE = HubSource()
