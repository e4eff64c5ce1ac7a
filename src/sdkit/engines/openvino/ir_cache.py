"""Where converted models (OpenVINO IR: `model.xml` + `model.bin`) live, and what makes one reusable.

`<cache>/openvino/<part>-<key>/`, one folder per converted part. The key is a SHA-256 over:
- the weights' identity: the SHA-256 of the file(s) the part was loaded from (sdkit's model-hash
  cache, `models/hashing.py`, so a multi-GB file is hashed once; a changed or replaced file has another
  size or modification time, is hashed again and gets another key), or, for a part that has no such
  file, the hash of its weights themselves;
- the part's config and dtype, the dynamic input shapes it was converted with;
- the OpenVINO version and `CONVERTER_VERSION` (raise it when the conversion changes).
A folder is complete or absent: it is written under a temporary name and renamed into place.
`meta.json` beside the IR records what it is and what the conversion cost, for `sdkit` to estimate the
next one and for docs/openvino.md.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from sdkit.runtime.paths import paths

log = logging.getLogger(__name__)

CONVERTER_VERSION = 1
MODEL_FILE = "model.xml"
META_FILE = "meta.json"
WEIGHT_SUFFIXES = (".safetensors", ".bin")


def cache_root() -> Path:
    return paths().cache_dir / "openvino"


def part_key(part: str, weights_identity: str, config: dict[str, Any], dtype: str, inputs: Sequence[Any],
             openvino_version: str) -> str:
    """The cache key of one converted part (hex)."""
    described = {"part": part, "weights": weights_identity, "config": config, "dtype": dtype,
                 "inputs": [str(item) for item in inputs], "openvino": openvino_version,
                 "converter": CONVERTER_VERSION}
    return hashlib.sha256(json.dumps(described, sort_keys=True, default=str).encode()).hexdigest()


def part_folder(part: str, key: str) -> Path:
    return cache_root() / f"{part}-{key[:20]}"


def cached_model(part: str, key: str) -> Path | None:
    """The IR's model.xml when this part was converted before, else None."""
    model = part_folder(part, key) / MODEL_FILE
    return model if model.is_file() and model.with_suffix(".bin").is_file() else None


def files_identity(files: Iterable[Path]) -> str | None:
    """One hash over the SHA-256 of each file (from sdkit's hash cache); None when there are none."""
    from sdkit.models.hashing import file_sha256

    digests = [file_sha256(path) for path in sorted(set(files))]
    return hashlib.sha256("\n".join(digests).encode()).hexdigest() if digests else None


def weight_files(folder: Path) -> list[Path]:
    """The weight files of a diffusers component folder (`unet/`, `vae/`)."""
    if not folder.is_dir():
        return []
    return [path for path in folder.iterdir() if path.is_file() and path.suffix in WEIGHT_SUFFIXES]


def module_identity(module: Any) -> str:
    """A hash of a module's weights themselves, for parts loaded from no file sdkit knows."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().contiguous().cpu().numpy().tobytes())
    return digest.hexdigest()


def read_meta(folder: Path) -> dict[str, Any]:
    try:
        data = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def conversion_rate(part: str, fixed_seconds: float) -> float | None:
    """Seconds per million parameters (beyond `fixed_seconds`) of this machine's latest conversion of `part`."""
    rates = []
    root = cache_root()
    if not root.is_dir():
        return None
    for folder in root.glob(f"{part}-*"):
        meta = read_meta(folder)
        seconds, parameters = meta.get("convert_s"), meta.get("parameters")
        # Small parts are all fixed cost: their rate would predict hours for a large one.
        if isinstance(seconds, (int, float)) and isinstance(parameters, int) and parameters >= 50_000_000:
            rates.append((folder.stat().st_mtime, max(0.0, seconds - fixed_seconds) / (parameters / 1e6)))
    return max(rates)[1] if rates else None


def folder_size_mb(folder: Path) -> float:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file()) / 1024**2
