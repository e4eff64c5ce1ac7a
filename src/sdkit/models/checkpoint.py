"""Read single-file checkpoints safely: tensor names and shapes only, never the weights, never any code.

`.safetensors` headers are parsed here by hand (8-byte length + JSON), which reads a few kilobytes, runs
no code and lets every kind of broken file get its own message. Pickle formats (`.ckpt`, `.pt`, `.pth`,
`.bin`) are read by `sdkit.models.torch_pickle`, which rebuilds only the table of tensor shapes with
harmless stand-ins and refuses any other name the file asks for, so neither torch nor code from the
file is involved. The weights themselves are loaded later by diffusers, with
`torch.load(weights_only=True)` for pickles, which allows everything the structure reader allows.
"""

from __future__ import annotations

import json
import math
import struct
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


def _shown(value: Any, limit: int = 60) -> str:
    """A value from a file, quoted and cut short: a hostile header can make it any length."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63


def _checked_entry(path: Path, name: str, info: Any) -> tuple[int, int]:
    """The data offsets of one header entry, after checking its shape, dtype and offsets agree."""
    def malformed(problem: str) -> UserInputError:
        return _bad_file(path, f"the .safetensors header entry {_shown(name)} is malformed: {problem} "
                         "(corrupt file)", "a .safetensors checkpoint")

    if not isinstance(info, dict):
        raise malformed(f"it is {_shown(info)}, not a description of a tensor")
    shape, offsets, dtype = info.get("shape"), info.get("data_offsets"), info.get("dtype")
    if not isinstance(shape, list) or not all(_count(d) for d in shape):
        raise malformed(f"its shape {_shown(shape)} is not a list of whole numbers")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_count(o) for o in offsets)):
        raise malformed(f"its data_offsets {_shown(offsets)} are not two whole numbers")
    begin, stop = offsets
    if begin > stop:
        raise malformed(f"its data_offsets {_shown(offsets)} end before they begin")
    if not isinstance(dtype, str):
        raise malformed(f"its dtype {_shown(dtype)} is not a type name")
    itemsize = _DTYPE_BYTES.get(dtype)
    if itemsize is not None and stop - begin != math.prod(shape) * itemsize:
        raise malformed(f"its {stop - begin:,} bytes do not hold a {dtype} tensor of shape {_shown(shape)}")
    return begin, stop


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
        _, stop = _checked_entry(path, name, info)
        end = max(end, stop)
    if end > data_len:
        raise _bad_file(path, f"the file is truncated: its header promises {end + 8 + header_len:,} bytes "
                        f"but the file has {size:,}", "a complete .safetensors checkpoint")
    return header


def read_shapes(path: Path) -> Shapes:
    """Tensor names and shapes of a single-file checkpoint, read without loading any weights."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in SAFETENSORS_SUFFIXES:
        header = read_safetensors_header(path)
        return {name: tuple(info["shape"]) for name, info in header.items() if name != "__metadata__"}
    if suffix in PICKLE_SUFFIXES:
        return {name: tensor.shape for name, tensor in read_pickle_structure(path).items()}
    raise _bad_file(path, f"unsupported file type {suffix or '(none)'!r}",
                    f"one of {', '.join(CHECKPOINT_SUFFIXES)}")


def read_pickle_structure(path: Path) -> dict[str, Any]:
    """A pickle checkpoint's tensors as `TensorInfo` (shape, dtype), without torch and without its code."""
    from sdkit.models.torch_pickle import PickleProblem, read_pickle_tensors

    path = Path(path)
    try:
        size = path.stat().st_size
        if size == 0:
            raise _bad_file(path, "the file is empty", "a PyTorch checkpoint")
        return read_pickle_tensors(path)
    except PickleProblem as problem:
        if problem.unsafe:
            raise UserInputError(
                f"{path}: refused to load: the checkpoint contains code or objects other than tensors "
                f"({problem.problem}; it could run code when unpickled)",
                "use a .safetensors version of this model; never load pickle files you do not trust",
            ) from None
        raise _bad_file(path, f"not a readable PyTorch checkpoint: {problem.problem}",
                        "a PyTorch checkpoint (a zip archive written by torch.save) or a .safetensors file") from None
    except OSError as error:
        raise UserInputError(f"{path}: cannot read the file: {error.strerror or error}",
                             "check the path and its permissions") from error
