"""Read single-file checkpoints safely: tensor names and shapes first, weights only when asked.

`.safetensors` headers are parsed here by hand (8-byte length + JSON), which reads a few kilobytes, runs
no code and lets every kind of broken file get its own message. Pickle formats (`.ckpt`, `.pt`, `.pth`,
`.bin`) go only through `torch.load(weights_only=True)`, whose unpickler refuses every global outside
a short list of tensor types, so a checkpoint built to run code is refused before any of it runs.
"""

from __future__ import annotations

import json
import struct
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sdkit.core.errors import UserInputError

SAFETENSORS_SUFFIXES = (".safetensors",)
PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")
CHECKPOINT_SUFFIXES = SAFETENSORS_SUFFIXES + PICKLE_SUFFIXES
MAX_HEADER_BYTES = 100_000_000  # the safetensors format's own limit

Shapes = dict[str, tuple[int, ...]]

_DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
                "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1, "U16": 2, "U32": 4, "U64": 8}


def checkpoint_format(path: Path) -> str:
    """The format name shown to users: "safetensors", "ckpt", "pt", "pth" or "bin"."""
    return path.suffix.lower().lstrip(".")


def _bad_file(path: Path, problem: str, expected: str = "a Stable Diffusion checkpoint") -> UserInputError:
    return UserInputError(
        f"{path}: {problem}",
        f"expected {expected}; download the file again or point --model at another one",
    )


def read_safetensors_header(path: Path) -> dict[str, Any]:
    """The JSON header of a .safetensors file, checked against the file's size."""
    try:
        size = path.stat().st_size
        with path.open("rb") as stream:
            if size == 0:
                raise _bad_file(path, "the file is empty", "a .safetensors checkpoint")
            if size < 8:
                raise _bad_file(path, f"the file is only {size} bytes, too short for a .safetensors header",
                                "a .safetensors checkpoint")
            (header_len,) = struct.unpack("<Q", stream.read(8))
            if header_len > min(MAX_HEADER_BYTES, size - 8):
                raise _bad_file(path, "this is not a .safetensors file (its first bytes are not a safetensors "
                                "header; a text or pickle file renamed?)", "a .safetensors checkpoint")
            raw = stream.read(header_len)
    except OSError as error:
        raise UserInputError(f"{path}: cannot read the file: {error.strerror or error}",
                             "check the path and its permissions") from error
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _bad_file(path, "the .safetensors header is not valid JSON (the file is corrupt or not "
                        "a safetensors file)", "a .safetensors checkpoint") from None
    if not isinstance(header, dict):
        raise _bad_file(path, "the .safetensors header is not a table of tensors", "a .safetensors checkpoint")
    data_len = size - 8 - header_len
    end = 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if not (isinstance(info, dict) and isinstance(info.get("shape"), list)
                and isinstance(info.get("data_offsets"), list) and len(info["data_offsets"]) == 2):
            raise _bad_file(path, f"the .safetensors header entry {name!r} is malformed (corrupt file)",
                            "a .safetensors checkpoint")
        end = max(end, int(info["data_offsets"][1]))
    if end > data_len:
        raise _bad_file(path, f"the file is truncated: its header promises {end + 8 + header_len:,} bytes "
                        f"but the file has {size:,}", "a complete .safetensors checkpoint")
    return header


def read_shapes(path: Path) -> Shapes:
    """Tensor names and shapes of a single-file checkpoint, without loading weights where possible."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in SAFETENSORS_SUFFIXES:
        header = read_safetensors_header(path)
        return {name: tuple(int(d) for d in info["shape"]) for name, info in header.items()
                if name != "__metadata__"}
    if suffix in PICKLE_SUFFIXES:
        return {name: tuple(tensor.shape) for name, tensor in load_pickle_state_dict(path).items()}
    raise _bad_file(path, f"unsupported file type {suffix or '(none)'!r}",
                    f"one of {', '.join(CHECKPOINT_SUFFIXES)}")


def unwrap_state_dict(data: Any) -> Mapping[str, Any]:
    """The tensors of a checkpoint, under however many {"state_dict": ...} wrappers it has."""
    while isinstance(data, Mapping) and "state_dict" in data and isinstance(data["state_dict"], Mapping):
        data = data["state_dict"]
    return data


def load_pickle_state_dict(path: Path) -> dict[str, Any]:
    """A pickle checkpoint's tensors through `torch.load(weights_only=True)`; code in it never runs."""
    import pickle
    import zipfile

    import torch

    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as error:
        raise UserInputError(f"{path}: cannot read the file: {error.strerror or error}",
                             "check the path and its permissions") from error
    if size == 0:
        raise _bad_file(path, "the file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notes on pickle protocols mean nothing to users
            try:
                data = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            except RuntimeError as error:
                if "mmap" not in str(error):
                    raise
                data = torch.load(path, map_location="cpu", weights_only=True)  # legacy non-zip format
    except pickle.UnpicklingError as error:
        if "weights_only" in str(error) or "global" in str(error).lower():
            raise UserInputError(
                f"{path}: refused to load: the checkpoint contains code or objects other than tensors "
                "(it would run code when unpickled)",
                "use a .safetensors version of this model; never load pickle files you do not trust",
            ) from None
        raise _bad_file(path, f"the file is not a readable checkpoint ({error})") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError, struct.error) as error:
        text = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise _bad_file(path, f"the file is truncated or corrupt ({text})") from None
    state = unwrap_state_dict(data)
    if not isinstance(state, Mapping):
        raise _bad_file(path, "the file holds no table of tensors")
    tensors = {str(key): value for key, value in state.items() if isinstance(value, torch.Tensor)}
    if not tensors:
        raise _bad_file(path, "the file holds no tensors")
    return tensors
