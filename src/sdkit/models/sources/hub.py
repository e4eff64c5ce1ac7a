"""Model source "hub": a Hugging Face Hub repo id (`owner/name`, or `owner/name@REVISION`), from the local cache only.

sdkit never downloads. The cache is found and read by huggingface_hub itself (`HF_HUB_CACHE`,
`HUGGINGFACE_HUB_CACHE`, `HF_HOME`, `XDG_CACHE_HOME`, as the `hf` tool and diffusers see it): a plain id
means its `main` revision, `@REVISION` names a branch, tag or commit that is cached. Only diffusers
pipelines (a snapshot with `model_index.json`) are models. An id that is not cached is an error that
says how to get the model.

huggingface_hub's cache modules import in a fraction of a second and never import torch; they are
imported only when a hub id is looked up or a cache folder exists to be listed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sdkit.core.errors import UserInputError
from sdkit.core.models import ModelRef
from sdkit.models.sources.diffusers_folder import describe_folder, is_diffusers_folder

log = logging.getLogger(__name__)

# owner/name, optionally @revision: a branch or tag (which may hold '/', as in refs/pr/1) or a commit.
REPO_ID = re.compile(r"^(?P<repo>[A-Za-z0-9][\w.-]*/[\w.-]+?)(?:@(?P<revision>[\w.-]+(?:/[\w.-]+)*))?$")
PIPELINE_FILE = "model_index.json"


def hub_cache_dir() -> Path:
    """The Hugging Face cache folder, as huggingface_hub resolves it from the environment."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def split_reference(reference: str) -> tuple[str, str | None] | None:
    """(repo id, revision or None) for `owner/name[@revision]`, or None when it is not one."""
    match = REPO_ID.match(reference)
    if match is None or ".." in reference.split("@", 1)[-1].split("/"):
        return None
    return match["repo"], match["revision"]


def cached_snapshot(repo_id: str, revision: str | None = None) -> Path | None:
    """The cached snapshot folder of `repo_id` at `revision` (default main) holding a pipeline, or None."""
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(repo_id, PIPELINE_FILE, cache_dir=hub_cache_dir(), revision=revision)
    except (ValueError, OSError) as error:  # an id huggingface_hub rejects, an unreadable cache
        log.debug("hub cache lookup of %s@%s failed: %s", repo_id, revision, error)
        return None
    return Path(found).parent if isinstance(found, str) else None


def _scan() -> Any:
    """huggingface_hub's view of the whole cache, or None when there is none to read."""
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound, CorruptedCacheException

    cache = hub_cache_dir()
    if not cache.is_dir():
        return None
    try:
        info = scan_cache_dir(cache)
    except (CacheNotFound, CorruptedCacheException, OSError, ValueError) as error:
        log.warning("the Hugging Face cache %s cannot be read: %s", cache, error)
        return None
    for warning in info.warnings:  # a damaged repo folder: the others are still listed
        log.debug("hub cache: %s", warning)
    return info


def _cached_repo(repo_id: str) -> Any:
    info = _scan()
    if info is None:
        return None
    return next((repo for repo in info.repos if repo.repo_type == "model" and repo.repo_id == repo_id), None)


def _revision_names(revision: Any) -> list[str]:
    return sorted(revision.refs) or [revision.commit_hash]


def not_cached_error(repo_id: str) -> UserInputError:
    return UserInputError(
        f"the hub model {repo_id!r} is not in the local Hugging Face cache ({hub_cache_dir()}), "
        "and sdkit never downloads",
        f"on a machine with network run `hf download {repo_id}` and copy its cache here, or download the "
        "model's .safetensors file or diffusers folder and pass its path with --model",
    )


def _missing(repo_id: str, revision: str | None) -> UserInputError:
    """Why `repo_id@revision` has no cached pipeline, saying what the cache does hold of it."""
    repo = _cached_repo(repo_id)
    if repo is None:
        return not_cached_error(repo_id)
    pipelines = [rev for rev in repo.revisions if is_diffusers_folder(Path(rev.snapshot_path))]
    if not pipelines:
        return UserInputError(f"the cached hub repo {repo_id!r} is not a diffusers pipeline (no {PIPELINE_FILE})",
                              "download the model's .safetensors file and pass its path with --model")
    cached = ", ".join(f"{repo_id}@{name}" for rev in pipelines for name in _revision_names(rev))
    return UserInputError(f"the hub model {repo_id!r} is not cached at revision {revision or 'main'!r}",
                          f"cached: {cached}; pass one of those as --model, or download that revision "
                          f"(`hf download {repo_id} --revision {revision or 'main'}`) and copy its cache here")


def _only_pipeline(repo_id: str) -> Path | None:
    """A repo's one cached pipeline snapshot when `main` is not cached (a download of another revision)."""
    repo = _cached_repo(repo_id)
    if repo is None:
        return None
    pipelines = [rev for rev in repo.revisions if is_diffusers_folder(Path(rev.snapshot_path))]
    return Path(pipelines[0].snapshot_path) if len(pipelines) == 1 else None


class HubSource:
    """Loads diffusers pipelines from the local Hugging Face cache, offline."""

    kind = "hub"

    def describe(self, reference: str) -> ModelRef | None:
        parts = split_reference(reference)
        if parts is None or Path(reference).expanduser().exists():
            return None
        repo_id, revision = parts
        snapshot = cached_snapshot(repo_id, revision)
        if snapshot is None and revision is None:
            snapshot = _only_pipeline(repo_id)
            if snapshot is not None:
                log.info("%s: main is not cached; using its one cached revision %s", repo_id, snapshot.name)
        if snapshot is None:
            raise _missing(repo_id, revision)
        return describe_folder(snapshot, self.kind, name=reference)

    def list_available(self, models_dir: Path) -> Iterable[ModelRef]:
        info = _scan()
        if info is None:
            return []
        refs = []
        for repo in sorted(info.repos, key=lambda repo: repo.repo_id):
            if repo.repo_type != "model":
                continue
            pipelines = [rev for rev in repo.revisions if is_diffusers_folder(Path(rev.snapshot_path))]
            # Revisions no ref points at are left behind by updates; list them only when nothing else is there.
            named = [rev for rev in pipelines if rev.refs] or sorted(pipelines, key=lambda rev: rev.last_modified)[-1:]
            for rev in named:
                name = repo.repo_id if "main" in rev.refs else f"{repo.repo_id}@{_revision_names(rev)[0]}"
                try:
                    refs.append(describe_folder(Path(rev.snapshot_path), self.kind, name=name))
                except UserInputError as error:  # the cache holds other pipelines too (Flux, ControlNet, ...)
                    log.debug("hub cache: skipping %s: %s", name, error.message)
        return refs

    def load_components(self, ref: ModelRef, torch_dtype: Any = None) -> dict[str, Any]:
        from sdkit.models.loading import load_diffusers_folder

        return load_diffusers_folder(ref, Path(ref.location), torch_dtype)


SOURCE = HubSource()
