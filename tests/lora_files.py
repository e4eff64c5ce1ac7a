"""Tiny LoRA / LoCon / LoHa / LoKr files with random weights, in the real key layouts, for a model folder.

The layers are read from the model itself (the bundled demo model, or a tests/tiny_models.py folder), so
every file fits it exactly. Names are kohya's: `lora_unet_<module with _>` for the UNet and
`lora_te_text_model_<module>` for the text encoder (`lora_te1_`, `lora_te2_` for SDXL's two); SDXL UNet
names are SGM (LDM) block names (`lora_unet_input_blocks_4_1_...`), as kohya's SDXL trainer writes them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ATTENTION_ONLY = ("attn1", "attn2")


def _layers(folder: Path, part: str) -> list[tuple[str, tuple[int, ...]]]:
    """(module name, weight shape) of the Linear and Conv2d layers of a model folder's part."""
    import torch
    from safetensors.torch import load_file

    weights = load_file(str(next((Path(folder) / part).glob("*.safetensors"))))
    layers = []
    for key, tensor in weights.items():
        if key.endswith(".weight") and tensor.ndim in (2, 4) and "embed" not in key and "norm" not in key:
            layers.append((key.removesuffix(".weight").removeprefix("text_model."), tuple(tensor.shape)))
    del torch
    return layers


def _sgm_names(folder: Path, names: list[str]) -> dict[str, str]:
    """diffusers UNet module names -> SGM names (tiny_models' own diffusers -> LDM mapping)."""
    from tiny_models import _unet_to_ldm

    config = json.loads((Path(folder) / "unet" / "config.json").read_text())
    mapped = _unet_to_ldm({name + ".weight": None for name in names}, config)
    return {key.removesuffix(".weight"): new.removeprefix("model.diffusion_model.").removesuffix(".weight")
            for new, key in zip(mapped, [name + ".weight" for name in names], strict=True)}


def kohya_names(folder: Path, convolutions: bool) -> list[tuple[str, tuple[int, ...]]]:
    """(kohya module name, weight shape) of every layer a LoRA (or, with `convolutions`, a LoCon) changes."""
    folder = Path(folder)
    sdxl = (folder / "text_encoder_2").is_dir()
    unet = [(name, shape) for name, shape in _layers(folder, "unet")
            if any(part in name for part in ATTENTION_ONLY) or (convolutions and "resnets" in name)]
    sgm = _sgm_names(folder, [name for name, _ in unet]) if sdxl else {}
    found = [("lora_unet_" + sgm.get(name, name).replace(".", "_"), shape) for name, shape in unet]
    encoders = [("text_encoder", "lora_te1_" if sdxl else "lora_te_")] + ([("text_encoder_2", "lora_te2_")]
                                                                        if sdxl else [])
    for part, prefix in encoders:
        found += [(prefix + "text_model_" + name.replace(".", "_"), shape) for name, shape in _layers(folder, part)
                  if "projection" not in name]
    return found


def _save(tensors: dict[str, Any], path: Path) -> Path:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({key: value.contiguous() for key, value in tensors.items()}, str(path),
              metadata={"ss_network_module": "networks.lora"})
    return path


def write_lora(folder: Path, path: Path, rank: int = 4, seed: int = 0, convolutions: bool = False,
               scale: float = 0.3) -> Path:
    """A kohya LoRA (LoCon with `convolutions`): lora_down, lora_up, alpha per layer."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    tensors = {}
    for name, shape in kohya_names(folder, convolutions):
        out_features, in_features = shape[0], shape[1]
        kernel = shape[2:] if len(shape) == 4 else ()
        tensors[name + ".lora_down.weight"] = torch.randn(rank, in_features, *kernel, generator=generator) * scale
        tensors[name + ".lora_up.weight"] = torch.randn(out_features, rank, *([1, 1] if kernel else []),
                                                        generator=generator) * scale
        tensors[name + ".alpha"] = torch.tensor(float(rank) / 2)
    return _save(tensors, path)


def write_loha(folder: Path, path: Path, rank: int = 4, seed: int = 0, scale: float = 0.3) -> Path:
    """A LyCORIS LoHa: hada_w1_a/b, hada_w2_a/b, alpha per layer (convolutions flattened, no Tucker)."""
    import math

    import torch

    generator = torch.Generator().manual_seed(seed)
    tensors = {}
    for name, shape in kohya_names(folder, convolutions=True):
        out_features, flat_in = shape[0], math.prod(shape[1:])
        for half in ("w1", "w2"):
            tensors[f"{name}.hada_{half}_a"] = torch.randn(out_features, rank, generator=generator) * scale
            tensors[f"{name}.hada_{half}_b"] = torch.randn(rank, flat_in, generator=generator) * scale
        tensors[name + ".alpha"] = torch.tensor(float(rank))
    return _save(tensors, path)


def _factor(dimension: int) -> tuple[int, int]:
    """LyCORIS's factorization with factor -1: the two factors nearest a square root, smaller first."""
    best = (1, dimension)
    for small in range(1, int(dimension**0.5) + 1):
        if dimension % small == 0:
            best = (small, dimension // small)
    return best


def write_lokr(folder: Path, path: Path, rank: int = 2, seed: int = 0, scale: float = 0.3) -> Path:
    """A LyCORIS LoKr on the Linear layers: full lokr_w1 and rank-decomposed lokr_w2_a/b, alpha per layer."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    tensors = {}
    for name, shape in kohya_names(folder, convolutions=False):
        if len(shape) != 2:
            continue
        (out_l, out_k), (in_m, in_n) = _factor(shape[0]), _factor(shape[1])
        tensors[name + ".lokr_w1"] = torch.randn(out_l, in_m, generator=generator) * scale
        tensors[name + ".lokr_w2_a"] = torch.randn(out_k, rank, generator=generator) * scale
        tensors[name + ".lokr_w2_b"] = torch.randn(rank, in_n, generator=generator) * scale
        tensors[name + ".alpha"] = torch.tensor(float(rank))
    return _save(tensors, path)


def write_diffusers_lora(folder: Path, out_dir: Path, rank: int = 4, seed: int = 0, scale: float = 0.3) -> Path:
    """A diffusers / PEFT LoRA folder (`pytorch_lora_weights.safetensors`, `unet.<module>.lora_A.weight`, ...)
    on the UNet's attention layers and the text encoder, as diffusers' training scripts save it."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    tensors = {}
    parts = [("unet", [(name, shape) for name, shape in _layers(folder, "unet")
                       if any(part in name for part in ATTENTION_ONLY)]),
             ("text_encoder", [(name, shape) for name, shape in _layers(folder, "text_encoder")
                               if "projection" not in name])]
    for part, layers in parts:
        for name, shape in layers:
            tensors[f"{part}.{name}.lora_A.weight"] = torch.randn(rank, shape[1], generator=generator) * scale
            tensors[f"{part}.{name}.lora_B.weight"] = torch.randn(shape[0], rank, generator=generator) * scale
    _save(tensors, Path(out_dir) / "pytorch_lora_weights.safetensors")
    return Path(out_dir)
