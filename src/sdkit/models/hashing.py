"""A1111 short hashes (first 10 hex digits of a file's SHA-256), computed once and cached on disk.

Hashing a 2-7 GB checkpoint takes seconds to minutes, so the full SHA-256 is kept in
`<cache>/model-hashes.json`, keyed by the file's resolved path, size and modification time: a file that
is replaced or touched is hashed again. For a diffusers folder the hash is that of its UNet weights file,
the part that distinguishes one fine-tune from another (A1111 has no hash for folders).
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from sdkit.runtime.paths import paths
from sdkit.runtime.state import read_json_dict, write_json_atomic

if TYPE_CHECKING:
    from sdkit.core.models import ModelRef

log = logging.getLogger(__name__)

CHUNK = 1 << 20
SHORT_LENGTH = 10
UNET_WEIGHT_NAMES = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.fp16.safetensors",
                     "diffusion_pytorch_model.bin", "diffusion_pytorch_model.fp16.bin")


def hash_cache_file() -> Path:
    return paths().cache_dir / "model-hashes.json"


def _cache_key(path: Path) -> str:
    stat = path.stat()
    return f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"


def file_sha256(path: Path) -> str:
    """The full SHA-256 of `path` (hex), from the cache when the file has not changed."""
    key = _cache_key(path)
    cache_file = hash_cache_file()
    cache = read_json_dict(cache_file)
    cached = cache.get(key)
    if isinstance(cached, str) and len(cached) == 64:
        return cached
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(CHUNK):
            digest.update(block)
    value = digest.hexdigest()
    cache = read_json_dict(cache_file)  # re-read: another process may have added entries meanwhile
    cache[key] = value
    try:
        write_json_atomic(cache_file, cache)
    except OSError as error:  # a read-only cache must not stop listing or generating
        log.warning("could not save the model hash cache %s: %s", cache_file, error)
    return value


def hashed_file(ref: ModelRef) -> Path | None:
    """The file whose hash stands for the model: the file itself, or a diffusers folder's UNet weights."""
    path = ref.path
    if path is None:
        return None
    if path.is_file():
        return path
    for name in UNET_WEIGHT_NAMES:
        candidate = path / "unet" / name
        if candidate.is_file():
            return candidate
    return None


def model_short_hash(ref: ModelRef) -> str | None:
    """A1111's short hash of the model, or None when there is nothing to hash."""
    target = hashed_file(ref)
    if target is None:
        return None
    try:
        return file_sha256(target)[:SHORT_LENGTH]
    except OSError as error:
        log.warning("could not hash %s: %s", target, error)
        return None
