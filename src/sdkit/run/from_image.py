"""`generate --from-image`: read an sdkit or A1111 PNG's parameters back into generate flags."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sdkit.core.errors import UserInputError

log = logging.getLogger(__name__)


def _number(fields: dict[str, Any], key: str, kind: type) -> Any:
    value = fields.get(key)
    if value is None:
        return None
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise UserInputError(f"the image's metadata has an unreadable {key!r}: {value!r}",
                             "pass the value as a flag instead") from None


def find_model(name: str | None, short_hash: str | None) -> str | None:
    """The `--model` reference for a model recorded by name and hash, looked up among local models.

    The hash wins over the name (a renamed file is still the same model). None means the engine's
    default model (the bundled demo model is sd15's).
    """
    from sdkit.demo import DEMO_MODEL_NAME
    from sdkit.models import list_models, model_short_hash, resolve_model
    from sdkit.runtime.config import models_dir

    if name == DEMO_MODEL_NAME:
        return None
    candidates = list_models()
    if short_hash:
        for ref in candidates:
            if model_short_hash(ref) == short_hash.lower():
                return str(ref.location)
    if name:
        for ref in candidates:
            if ref.name.lower() == name.lower():
                return str(ref.location)
        try:  # a name that is itself a reference a source knows (a plugin's `solid:red`)
            return str(resolve_model(name).location)
        except UserInputError:
            pass
    wanted = " ".join(part for part in (name, f"[{short_hash}]" if short_hash else None) if part)
    raise UserInputError(
        f"the image was made with model {wanted or '(not recorded)'}, which is not in the models folder",
        f"put that model in {models_dir()} or pass --model FILE_OR_FOLDER",
    )


def flags_from_image(image_path: Path) -> dict[str, Any]:
    """Flags (and `model`, `mode`) that reproduce the image; explicit flags are merged over these."""
    from sdkit.outputs.infotext import parse_infotext, read_png_parameters

    info = parse_infotext(read_png_parameters(image_path))
    fields = info.fields
    flags: dict[str, Any] = {
        "prompt": info.prompt,
        "negative_prompt": info.negative_prompt,
        "steps": _number(fields, "Steps", int),
        "cfg_scale": _number(fields, "CFG scale", float),
        "seed": _number(fields, "Seed", int),
        "sampler": fields.get("Sampler"),
        "schedule": fields.get("Schedule type"),
        "clip_skip": _number(fields, "Clip skip", int),
        "strength": _number(fields, "Denoising strength", float),
        "rng": "cpu" if str(fields.get("RNG", "")).upper() == "CPU" else "device",
        "mode": fields.get("Mode"),
    }
    size = fields.get("Size")
    if size:
        try:
            width, height = (int(part) for part in str(size).lower().split("x"))
        except ValueError:
            raise UserInputError(f"the image's metadata has an unreadable Size: {size!r}",
                                 "pass --width and --height") from None
        flags.update(width=width, height=height)
    flags["model"] = find_model(fields.get("Model"), fields.get("Model hash"))
    log.info("parameters recalled from %s: %s", image_path, flags)
    return {key: value for key, value in flags.items() if value is not None}
