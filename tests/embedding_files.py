"""Tiny textual-inversion embedding files for tests, in the layouts real tools write, with random vectors.

Widths: the bundled demo model's text encoder is 64 wide; tests/tiny_models.py's sd1 and sd2 encoders
are 32 wide, its sdxl encoders 32 (clip_l) and 64 (clip_g).
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from hostile_pickles import RunsCode

DEMO_WIDTH = 64
TINY_WIDTHS = {"sd1": (32,), "sd2": (32,), "sdxl": (32, 64)}
LAYOUTS = ("a1111", "emb_params", "diffusers", "diffusers-1d", "bare", "sdxl")


def random_vectors(count: int, width: int, seed: int = 0) -> Any:
    import torch

    generator = torch.Generator().manual_seed(seed)
    return torch.randn(count, width, generator=generator)


def write_embedding(path: Path, layout: str, vectors: Any, second: Any = None) -> Path:
    """Write `vectors` ([N, C]; for "sdxl" also `second`, the clip_g ones) at `path` in `layout`.

    "a1111": A1111's `.pt` (`string_to_param`, with its name, step and checkpoint fields);
    "emb_params": `{"emb_params": t}`; "diffusers": `{"<token>": t}` ("diffusers-1d": one vector as [C]);
    "bare": a tensor saved alone; "sdxl": `{"clip_l": vectors, "clip_g": second}`.
    `.safetensors` in the path's name means safetensors, anything else torch.save.
    """
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data: Any
    if layout == "a1111":
        data = {"string_to_token": {"*": 265}, "string_to_param": {"*": vectors}, "name": path.stem,
                "step": 1000, "sd_checkpoint": "0123456789", "sd_checkpoint_name": "tiny"}
    elif layout == "emb_params":
        data = {"emb_params": vectors}
    elif layout == "diffusers":
        data = {f"<{path.stem}>": vectors}
    elif layout == "diffusers-1d":
        data = {f"<{path.stem}>": vectors.reshape(-1)}
    elif layout == "bare":
        data = vectors
    elif layout == "sdxl":
        data = {"clip_l": vectors, "clip_g": second}
    else:
        raise ValueError(f"unknown layout {layout!r}")
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file({key: value.contiguous() for key, value in data.items()}, str(path))
    else:
        torch.save(data, path)
    return path


def write_code_pickle(path: Path, marker: Path) -> Path:
    """A torch.save file whose embedding table would run `touch marker` when unpickled unsafely."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"string_to_param": {"*": RunsCode(f"touch {marker}")}}, path, pickle_module=pickle)
    return path
