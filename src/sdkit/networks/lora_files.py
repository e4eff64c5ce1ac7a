"""Finding LoRA / LyCORIS files: by name in the models folder's `Lora/` subfolder, or by path; their hashes.

A name is a file's name without its extension (`detail` for `Lora/style/detail.safetensors`, also
`style/detail`), matched case-insensitively, as A1111 matches `<lora:NAME>` against `models/Lora`.
The folder itself may be spelt `Lora`, `lora`, `LoRA` (any casing). A diffusers/PEFT LoRA folder (one
holding `pytorch_lora_weights.safetensors` or `adapter_model.safetensors`) counts as one LoRA named
after the folder. Only `.safetensors` weights are read: a pickled `.pt`/`.ckpt` LoRA is refused with a
hint to convert it, because loading one could run code.

The hash is A1111's (kohya's "addnet" hash): SHA-256 of a `.safetensors` file's bytes after its header,
first 12 hex digits; it is cached in `<cache>/lora-hashes.json` by path, size and modification time,
as `sdkit.models.hashing` caches model hashes.
"""

from __future__ import annotations

import hashlib
import logging
import struct
from pathlib import Path

from sdkit.core.errors import UnknownKeyError, UserInputError
from sdkit.runtime.paths import paths
from sdkit.runtime.state import read_json_dict, write_json_atomic

log = logging.getLogger(__name__)

LORA_FOLDER = "Lora"  # A1111's spelling; any casing is found
LORA_SUFFIX = ".safetensors"
PICKLE_SUFFIXES = (".pt", ".ckpt", ".bin", ".pth")
FOLDER_WEIGHT_NAMES = ("pytorch_lora_weights.safetensors", "adapter_model.safetensors")
SHORT_HASH_LENGTH = 12
_CHUNK = 1 << 20


def lora_folder() -> Path:
    """`<models folder>/Lora` (or the existing folder of that name in any casing)."""
    from sdkit.runtime.config import models_dir

    base = models_dir()
    if base.is_dir():
        for child in sorted(base.iterdir()):
            if child.name.lower() == LORA_FOLDER.lower() and child.is_dir():
                return child
    return base / LORA_FOLDER


def weights_file(path: Path) -> Path:
    """The safetensors file that holds a LoRA's weights: the file itself, or a diffusers folder's."""
    if path.is_dir():
        for name in FOLDER_WEIGHT_NAMES:
            if (path / name).is_file():
                return path / name
        raise UserInputError(f"{path}: a folder without LoRA weights",
                             f"a diffusers/PEFT LoRA folder holds {' or '.join(FOLDER_WEIGHT_NAMES)}")
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise UserInputError(f"{path}: a pickled LoRA file ({path.suffix}); sdkit reads LoRAs only as .safetensors",
                             "loading a pickle can run code: convert it to .safetensors (kohya's sd-scripts and "
                             "many tools do), or download the .safetensors version")
    return path


def available_loras() -> dict[str, Path]:
    """Every LoRA in the LoRA folder by its name (`detail`), also by its path in the folder (`style/detail`)."""
    folder = lora_folder()
    found: dict[str, Path] = {}
    if not folder.is_dir():
        return found
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix.lower() == LORA_SUFFIX:
            if path.name in FOLDER_WEIGHT_NAMES and path.parent != folder:
                continue  # part of a diffusers folder, listed as the folder
            entry = path
        elif path.is_dir() and any((path / name).is_file() for name in FOLDER_WEIGHT_NAMES):
            entry = path
        else:
            continue
        relative = entry.relative_to(folder)
        stem = relative.with_suffix("") if entry.is_file() else relative
        found.setdefault(entry.stem if entry.is_file() else entry.name, entry)
        found.setdefault(stem.as_posix(), entry)
    return found


def _looks_like_path(name: str) -> bool:
    return name.lower().endswith((LORA_SUFFIX, *PICKLE_SUFFIXES)) or name.startswith(("/", "~", "."))


def find_lora(name: str) -> Path:
    """The LoRA that `name` means: a path, or a name in the LoRA folder (case-insensitive)."""
    as_path = Path(name).expanduser()
    if _looks_like_path(name) or as_path.is_absolute():
        if as_path.exists():
            return as_path
        if _looks_like_path(name):
            raise UserInputError(f"LoRA file {name} does not exist", "check the path, or give a name from "
                                 f"{lora_folder()}")
    known = available_loras()
    by_lower = {key.lower(): path for key, path in known.items()}
    found = by_lower.get(name.lower().replace("\\", "/"))
    if found is not None:
        return found
    if "/" in name and as_path.exists():  # a relative path naming no LoRA in the folder (`out/my_lora`)
        return as_path
    folder = lora_folder()
    names = sorted(key for key in known if "/" not in key)
    shown = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
    hint = f"LoRAs in {folder}: {shown}" if names else f"put {name}.safetensors in {folder}, or pass its path"
    raise UnknownKeyError("LoRA", name, names, hint)


def lora_file_or_none(name: str) -> Path | None:
    """The file `name` means, or None where there is none (for `sdkit prompt`, which only shows it)."""
    try:
        return find_lora(name)
    except UserInputError:
        return None


def display_name(name: str) -> str:
    """A LoRA's name as A1111 writes it in `Lora hashes` (no `:` or `,`, which would break the field)."""
    return name.replace(":", "").replace(",", "")


# -------------------------------------------------------------------------------------------- hashes
def _cache_file() -> Path:
    return paths().cache_dir / "lora-hashes.json"


def addnet_hash(path: Path) -> str:
    """A1111's LoRA hash (first 12 hex digits of the SHA-256 of the bytes after the safetensors header)."""
    weights = weights_file(path)
    stat = weights.stat()
    key = f"{weights.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    cached = read_json_dict(_cache_file()).get(key)
    if isinstance(cached, str) and len(cached) == 64:
        return cached[:SHORT_HASH_LENGTH]
    digest = hashlib.sha256()
    try:
        with weights.open("rb") as stream:
            header = stream.read(8)
            (length,) = struct.unpack("<Q", header) if len(header) == 8 else (stat.st_size,)
            if length > stat.st_size - 8:
                raise UserInputError(f"LoRA file {weights}: not a .safetensors file (its first bytes are not a "
                                     "safetensors header; a text or pickle file renamed?)",
                                     "download the LoRA again, or remove it from the prompt (or the --lora value)")
            stream.seek(8 + length)
            while block := stream.read(_CHUNK):
                digest.update(block)
    except OSError as error:
        raise UserInputError(f"LoRA file {weights}: cannot be read: {error.strerror or error}",
                             "check the file and its permissions") from None
    value = digest.hexdigest()
    cache = read_json_dict(_cache_file())  # re-read: another process may have added entries meanwhile
    cache[key] = value
    try:
        write_json_atomic(_cache_file(), cache)
    except OSError as error:  # a read-only cache must not stop a run
        log.warning("could not save the LoRA hash cache %s: %s", _cache_file(), error)
    return value[:SHORT_HASH_LENGTH]


def find_lora_by_hash(short_hash: str) -> Path | None:
    """The LoRA in the LoRA folder whose A1111 hash starts with `short_hash`, or None."""
    wanted = short_hash.strip().lower()
    if len(wanted) < 8:
        return None
    for path in dict.fromkeys(available_loras().values()):
        try:
            if addnet_hash(path).startswith(wanted[:SHORT_HASH_LENGTH]):
                return path
        except (OSError, UserInputError):
            continue
    return None
