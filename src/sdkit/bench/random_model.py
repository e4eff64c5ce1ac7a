"""A whole Stable Diffusion model folder with random weights and the real shapes, for end-to-end benchmarks.

`sdkit benchmark unet|vae` times one part; comparing backends per image (`sdkit benchmark --backend
openvino`) needs a model that `sdkit generate` and plain diffusers both load. This writes one from
sdkit's bundled family configs (`models/configs/<family>/`): the UNet and VAE have the real layer
shapes (sd1's UNet: 860 M parameters), the text encoder is the family's CLIP with the real 49,408-entry
vocabulary (`models/clip_vocab.py`). Random weights cost exactly as much time as trained ones; the
images are noise, which is fine for timing and for comparing two backends pixel by pixel.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from sdkit.core.errors import UserInputError

SUPPORTED_FAMILIES = ("sd1", "sd2")  # one CLIP text encoder; SDXL's two are not written here


def write_random_model(family: str, out_dir: Path, seed: int = 0) -> Path:
    """Write a diffusers folder of `family` with random weights at `out_dir` (which must not exist yet)."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from sdkit.core.models import Family
    from sdkit.models.family_configs import config_folder

    if family not in SUPPORTED_FAMILIES:
        raise UserInputError(f"cannot write a random {family} model", f"use one of {', '.join(SUPPORTED_FAMILIES)}")
    out_dir = Path(out_dir)
    if out_dir.exists():
        raise UserInputError(f"{out_dir} exists already", "give a new folder")
    configs = config_folder(Family(family))  # configs, scheduler and CLIP tokenizer files, no weights
    work = out_dir.with_name(f".{out_dir.name}.partial")  # renamed into place when complete
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(configs, work)
    torch.manual_seed(seed)
    UNet2DConditionModel.from_config(_read(work / "unet" / "config.json")).save_pretrained(work / "unet")
    AutoencoderKL.from_config(_read(work / "vae" / "config.json")).save_pretrained(work / "vae")
    CLIPTextModel(CLIPTextConfig(**_read(work / "text_encoder" / "config.json"))).save_pretrained(
        work / "text_encoder")
    work.rename(out_dir)
    return out_dir


def _read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))
