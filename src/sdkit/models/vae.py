"""`--vae`: replace a model's VAE with a single-file VAE or a diffusers VAE folder.

A VAE reference is a path (a .safetensors/.ckpt/.pt file, a diffusers `vae` folder with config.json, or
a pipeline folder with a `vae/` subfolder) or a name found in `<models folder>/vae/`. Single-file VAEs
are configured from the model's own VAE config (bundled family config, sidecar or the model's folder),
so an SD 1.x/2.x VAE and an SDXL VAE each load with the right scaling factor.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sdkit.core.errors import RuntimeFailure, UnknownKeyError, UserInputError
from sdkit.core.models import ModelRef
from sdkit.models.checkpoint import CHECKPOINT_SUFFIXES, read_shapes

log = logging.getLogger(__name__)

VAE_KEY_PREFIXES = ("", "first_stage_model.", "vae.")


def find_vae(reference: str | Path) -> Path:
    """The VAE file or folder a `--vae` value names."""
    path = Path(reference).expanduser()
    if path.exists():
        return path.resolve()
    text = str(reference)
    if "/" in text or "\\" in text or text in (".", ".."):
        raise UserInputError(f"the VAE {text!r} does not exist", "pass --vae with a VAE file or folder")
    from sdkit.runtime.config import models_dir, models_dir_error

    problem = models_dir_error()
    if problem is not None:  # a VAE name is looked up in <models folder>/vae/, which cannot be searched
        raise problem
    vae_dir = models_dir() / "vae"
    candidates = {}
    if vae_dir.is_dir():
        for entry in vae_dir.iterdir():
            if entry.suffix.lower() in CHECKPOINT_SUFFIXES or (entry / "config.json").is_file():
                candidates[entry.stem if entry.is_file() else entry.name] = entry
    wanted = text.lower()
    for name, entry in candidates.items():
        if wanted in (name.lower(), entry.name.lower()):
            return entry
    raise UnknownKeyError("VAE", text, candidates,
                          hint=None if candidates else f"pass --vae with a file or folder; no VAEs in {vae_dir}")


def _vae_config_source(ref: ModelRef) -> tuple[str, str]:
    """(config folder, subfolder) holding the model's own VAE config."""
    if ref.format == "diffusers" and ref.path is not None:
        return str(ref.path), "vae"
    from sdkit.models.family_configs import config_folder

    folder = ref.config_dir or config_folder(ref.family, ref.inpainting, ref.prediction_type)
    return str(folder), "vae"


def load_vae(reference: str | Path, ref: ModelRef, torch_dtype: Any = None) -> Any:
    """An AutoencoderKL from `reference`, fitting the model `ref`."""
    from diffusers import AutoencoderKL

    path = find_vae(reference)
    if path.is_dir():
        subfolder = "" if (path / "config.json").is_file() else "vae"
        if not (path / subfolder / "config.json").is_file():
            raise UserInputError(f"{path} is not a VAE folder",
                                 "expected a diffusers VAE folder (config.json + weights) or a VAE file")
        try:
            return AutoencoderKL.from_pretrained(str(path), subfolder=subfolder or None, torch_dtype=torch_dtype,
                                                 local_files_only=True)
        except (OSError, ValueError, RuntimeError) as error:
            raise UserInputError(f"{path}: the VAE folder could not be loaded: {error}",
                                 "the folder is incomplete or damaged") from error
    if path.suffix.lower() not in CHECKPOINT_SUFFIXES:
        raise UserInputError(f"{path}: unsupported VAE file type", f"expected one of {', '.join(CHECKPOINT_SUFFIXES)}")
    shapes = read_shapes(path)  # refuses broken and unsafe files before diffusers sees them
    if not any(prefix + "decoder.conv_in.weight" in shapes for prefix in VAE_KEY_PREFIXES):
        raise UserInputError(f"{path}: no VAE found in the file",
                             "expected a VAE checkpoint (encoder.* and decoder.* weights)")
    config, subfolder = _vae_config_source(ref)
    try:
        return AutoencoderKL.from_single_file(str(path), config=config, subfolder=subfolder,
                                              torch_dtype=torch_dtype, local_files_only=True)
    except MemoryError as error:
        raise RuntimeFailure(f"{path}: not enough memory to load the VAE") from error
    except Exception as error:  # diffusers raises many types for weights that do not fit
        log.debug("loading VAE %s failed", path, exc_info=True)
        raise UserInputError(f"{path}: the VAE does not fit a {ref.family} model ({error})".splitlines()[0],
                             "use a VAE made for this model family") from error
