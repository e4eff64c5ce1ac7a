"""What a request may name: checkpoints, VAEs, upscalers and LoRAs from the models folder, never a path.

A1111 clients name models by the titles `sd-models` lists; sdkit's CLI also takes paths and hub ids,
which a server must not (a request could read any file the server can). So a name from a request is
looked up in the listings and replaced by the location found there; anything else, a path that
climbs out of the models folder above all, is a 422 naming the known names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sdkit.core.errors import UnknownKeyError, UserInputError

# A1111 titles carry the short hash: "model.safetensors [6ce0161689]".
_TITLE_HASH = re.compile(r"\s*\[[0-9a-fA-F]{8,10}\]\s*$")
_LORA_TAG = re.compile(r"<\s*(?:lora|lyco)\s*:\s*([^:>]*)", re.IGNORECASE)
# What a server takes to mean the model's own VAE.
NO_VAE = {"", "none", "automatic", "auto"}


@dataclass(frozen=True)
class Checkpoint:
    title: str  # what sd-models lists and options accept
    name: str
    location: str
    family: str


def _refuse_paths(kind: str, name: str) -> None:
    if Path(name).is_absolute() or name.startswith("~") or ".." in Path(name.replace("\\", "/")).parts \
            or "\x00" in name:
        raise UserInputError(f"the {kind} {name!r} is a path outside the models folder",
                             f"name a {kind} the server lists (GET /sdapi/v1/sd-models and the like); "
                             "requests cannot name files by path")


def checkpoints() -> list[Checkpoint]:
    """Every checkpoint the server offers: the models folder's, the hub cache's and the bundled demo model."""
    from sdkit.demo import DEMO_MODEL_DIR, DEMO_MODEL_NAME
    from sdkit.models import list_models

    found = [Checkpoint(DEMO_MODEL_NAME, DEMO_MODEL_NAME, str(DEMO_MODEL_DIR), "sd1")]
    for ref in list_models():
        if ref.family == "upscaler":
            continue
        found.append(Checkpoint(ref.name, ref.name, str(ref.location), ref.family))
    return found


def checkpoint_location(title: str | None) -> str | None:
    """The location of the checkpoint a request names (None: the default model)."""
    if title is None or not str(title).strip():
        return None
    wanted = _TITLE_HASH.sub("", str(title).strip())
    _refuse_paths("checkpoint", wanted)
    known = checkpoints()
    for checkpoint in known:
        if wanted in (checkpoint.title, checkpoint.name) or Path(wanted).stem == checkpoint.name:
            return checkpoint.location
    raise UnknownKeyError("checkpoint", wanted, [checkpoint.title for checkpoint in known])


def vaes() -> dict[str, Path]:
    """VAE files and folders in the models folder's `vae/`, by file name (as A1111 lists them)."""
    from sdkit.runtime.config import models_dir

    folder = models_dir() / "vae"
    if not folder.is_dir():
        return {}
    return {path.name: path for path in sorted(folder.iterdir())
            if path.suffix.lower() in (".safetensors", ".pt", ".ckpt", ".bin") or (path / "config.json").is_file()}


def vae_location(name: str | None) -> str | None:
    if name is None or str(name).strip().lower() in NO_VAE:
        return None
    name = str(name).strip()
    _refuse_paths("VAE", name)
    known = vaes()
    if name in known:
        return str(known[name])
    raise UnknownKeyError("VAE", name, list(known))


def upscalers() -> dict[str, Path | None]:
    """A1111's upscalers that need no model (None) and the upscaler files in `<models>/upscale`."""
    from sdkit.core.hires import RESIZE_UPSCALERS
    from sdkit.upscale.files import list_upscale_models

    return {**{name: None for name in RESIZE_UPSCALERS}, **list_upscale_models()}


def upscaler_location(name: str) -> str:
    _refuse_paths("upscaler", name)
    known = {key: value for key, value in upscalers().items() if value is not None}
    if name in known:
        return str(known[name])
    raise UnknownKeyError("upscaler", name, list(upscalers()))


def check_lora_name(name: str) -> None:
    """Refuse a LoRA named by path (the CLI allows it; a server must not)."""
    name = name.strip()
    if Path(name).is_absolute() or name.startswith(("~", ".")) or "\\" in name or ".." in Path(name).parts:
        raise UserInputError(f"the LoRA {name!r} is a path outside the models folder",
                             "name a LoRA the server lists (GET /sdapi/v1/loras)")


def check_prompt_loras(*prompts: str | None) -> None:
    """Refuse `<lora:...>` tags that name a file by path."""
    for prompt in prompts:
        for name in _LORA_TAG.findall(prompt or "") if isinstance(prompt, str) else ():
            check_lora_name(name)


def hires_upscaler_name(name: str | None) -> str | None:
    """A hires upscaler: A1111's latent modes and resizes, or an upscaler the server lists; never a path."""
    from sdkit.core.hires import builtin_upscaler

    if not name:
        return None
    if builtin_upscaler(name) is None:
        upscaler_location(name)
    return name
