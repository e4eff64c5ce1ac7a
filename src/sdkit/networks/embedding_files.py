"""Read one textual-inversion embedding file into its vectors, safely, whatever tool wrote it.

Layouts seen in the wild (shared/reference/a1111-prompts.md §6):
- A1111 `.pt`: `{"string_to_param": {"*": tensor [N, C]}, "string_to_token": ..., "name": ..., ...}`;
- `{"emb_params": tensor}` (some `.safetensors` and `.pt` trainers);
- diffusers `learned_embeds`: `{token: tensor [C] or [N, C]}` (one entry), `.bin` or `.safetensors`;
- SDXL: `{"clip_l": [N, 768], "clip_g": [N, 1280]}`, one tensor per text encoder;
- a bare tensor saved with `torch.save`.

Sizes are checked before anything is loaded: the file's size (an embedding is kilobytes; anything over
`MAX_EMBEDDING_BYTES` is not one) and, for `.safetensors`, every tensor's shape in the header
(`sdkit.models.checkpoint.read_safetensors_header`, which also catches truncated and corrupt files).
Pickles (`.pt`, `.bin`) are read with `torch.load(weights_only=True)`, which builds tensors and plain
containers only and refuses a file that names any other code. diffusers' textual-inversion loader is not
used: it adds tokens to the tokenizer and rows to the encoder (state that outlives one prompt, and
multi-vector names the chunker would cut apart), where A1111 swaps vectors in per prompt.
"""

from __future__ import annotations

import math
import pickle
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sdkit.core.errors import UserInputError

SAFETENSORS_SUFFIX = ".safetensors"
PICKLE_SUFFIXES = (".pt", ".bin")
EMBEDDING_SUFFIXES = (SAFETENSORS_SUFFIX, *PICKLE_SUFFIXES)
MAX_EMBEDDING_BYTES = 16 * 1024 * 1024  # an SDXL embedding of 75 vectors is 600 kB in float32
MAX_VECTORS = 75  # A1111's chunk length: no embedding can be longer
MAX_WIDTH = 8192  # wider than any CLIP text encoder
# Vectors per text encoder: "clip_l" and "clip_g" for SDXL (its first and second encoder), or one set.
SINGLE = "single"
SDXL_KEYS = ("clip_l", "clip_g")
_UNSAFE_NAME = re.compile(r"GLOBAL\s+([\w.]+)")  # in torch's safe-loader message: what it refused
_HINT = "remove the file from the embeddings folder, or download it again"


def _bad(path: Path, problem: str, hint: str = _HINT) -> UserInputError:
    return UserInputError(f"embedding {path.stem!r} ({path}): {problem}", hint)


def _shown(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _checked_size(path: Path) -> None:
    try:
        size = path.stat().st_size
    except OSError as error:
        raise _bad(path, f"cannot read the file: {error.strerror or error}", "check the file's permissions") from None
    if size == 0:
        raise _bad(path, "the file is empty")
    if size > MAX_EMBEDDING_BYTES:
        raise _bad(path, f"the file is {size:,} bytes, far more than any embedding's (at most "
                   f"{MAX_EMBEDDING_BYTES:,}): not an embedding", "move it out of the embeddings folder")


def _checked_shape(path: Path, key: str, shape: tuple[int, ...]) -> None:
    """A vector table's shape: [C] or [N, C] with sensible N and C, before its data are read."""
    if len(shape) not in (1, 2) or math.prod(shape) == 0:
        raise _bad(path, f"its tensor {_shown(key)} has shape {list(shape)}, not the [vectors, width] of an embedding")
    vectors, width = (1, shape[0]) if len(shape) == 1 else shape
    if vectors > MAX_VECTORS or width > MAX_WIDTH:
        raise _bad(path, f"its tensor {_shown(key)} has shape {list(shape)}: {vectors} vectors of width {width} "
                   f"(an embedding has at most {MAX_VECTORS} vectors, each as wide as the text encoder)")


def _read_safetensors(path: Path) -> dict[str, Any]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from sdkit.models.checkpoint import read_safetensors_header

    try:
        header = read_safetensors_header(path)
    except UserInputError as error:
        raise _bad(path, error.message.split(": ", 1)[-1]) from None
    for key, info in header.items():
        if key != "__metadata__":
            _checked_shape(path, key, tuple(info["shape"]))
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise _bad(path, f"the file is corrupt ({_shown(str(error), 120)})") from None


def _pickle_kind_problem(path: Path) -> str | None:
    """Why the file is no `torch.save` output at all (a text file, another format), or None."""
    with path.open("rb") as stream:
        head = stream.read(512)
    if head.startswith(b"PK\x03\x04") or head[:1] == b"\x80":  # torch's zip archive, or a pickle (protocol 2+)
        return None
    try:
        text = head.decode("utf-8", errors="strict")
    except UnicodeDecodeError:
        text = ""
    if text and all(char.isprintable() or char in "\t\r\n" for char in text):
        return "this is a text file, not a PyTorch file"
    return "this is neither a zip archive written by torch.save nor a pickle"


def _read_pickle(path: Path) -> Any:
    import torch

    problem = _pickle_kind_problem(path)
    if problem is not None:
        raise _bad(path, f"not a readable PyTorch file: {problem}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        # torch's safe loader words every failure the same way; a name it would not import is the unsafe kind.
        named = _UNSAFE_NAME.search(str(error))
        if named:
            raise UserInputError(
                f"embedding {path.stem!r} ({path}): refused to load: the file holds code or objects other than "
                f"tensors ({_shown(named.group(1), 80)}), and unpickling it could run that code",
                "use a .safetensors version of this embedding; never load pickle files you do not trust") from None
        problem = str(error).split("WeightsUnpickler error:")[-1].split("Check the documentation")[0].strip()
        raise _bad(path, f"the file is truncated or corrupt ({_shown(problem, 120)})") from None
    except Exception as error:  # a damaged or hostile pickle can fail in any of the unpickler's ways
        raise _bad(path, f"the file is truncated or corrupt ({type(error).__name__}: "
                   f"{_shown(str(error), 120)})") from None


def _only_tensor(path: Path, table: Any, where: str) -> Any:
    import torch

    values = table.values() if isinstance(table, Mapping) else []
    tensors = [value for value in values if isinstance(value, torch.Tensor)]
    if len(tensors) != 1:
        raise _bad(path, f"its {where} holds {len(tensors)} tensors, not the one an embedding has")
    return tensors[0]


def vector_tables(path: Path, data: Any) -> dict[str, Any]:
    """The vectors of each text encoder in a loaded file's object: {"single": t} or {"clip_l", "clip_g"}."""
    import torch

    if isinstance(data, torch.Tensor):
        return {SINGLE: data}
    if not isinstance(data, Mapping) or not data:
        raise _bad(path, "the file holds no embedding (no tensors)")
    if all(key in data for key in SDXL_KEYS):
        return {key: data[key] for key in SDXL_KEYS}
    if "string_to_param" in data:
        return {SINGLE: _only_tensor(path, data["string_to_param"], "string_to_param table")}
    if "emb_params" in data:
        return {SINGLE: data["emb_params"]}
    tensors = {key: value for key, value in data.items() if isinstance(value, torch.Tensor)}
    if len(tensors) == 1:  # diffusers' learned_embeds: {"<token>": tensor}
        return {SINGLE: next(iter(tensors.values()))}
    keys = ", ".join(_shown(str(key), 30) for key in list(data)[:6])
    raise _bad(path, f"its keys ({keys}) are none of the embedding layouts sdkit reads "
               "(string_to_param, emb_params, clip_l + clip_g, or one token's tensor)",
               "is it a LoRA or a model? Those go in other folders; " + _HINT)


def read_embedding_vectors(path: Path) -> dict[str, Any]:
    """An embedding file's vectors per encoder key, float32 tensors [N, C]; `UserInputError` says why not."""
    import torch

    path = Path(path)
    _checked_size(path)
    suffix = path.suffix.lower()
    if suffix == SAFETENSORS_SUFFIX:
        data: Any = _read_safetensors(path)
    elif suffix in PICKLE_SUFFIXES:
        data = _read_pickle(path)
    else:
        raise _bad(path, f"{suffix or 'no suffix'} is not an embedding file type",
                   f"use one of {', '.join(EMBEDDING_SUFFIXES)}")
    tables = {}
    for key, tensor in vector_tables(path, data).items():
        if not isinstance(tensor, torch.Tensor) or not tensor.is_floating_point():
            raise _bad(path, f"its {key} vectors are {_shown(type(tensor).__name__)}, not a tensor of numbers")
        _checked_shape(path, key, tuple(tensor.shape))
        vectors = tensor.detach().reshape(-1, tensor.shape[-1]).to(torch.float32)
        if not bool(torch.isfinite(vectors).all()):
            raise _bad(path, f"its {key} vectors hold NaN or infinite values")
        tables[key] = vectors
    if len(tables) == 2 and tables["clip_l"].shape[0] != tables["clip_g"].shape[0]:
        raise _bad(path, f"its clip_l and clip_g have {tables['clip_l'].shape[0]} and {tables['clip_g'].shape[0]} "
                   "vectors; an SDXL embedding has as many for both encoders")
    return tables
