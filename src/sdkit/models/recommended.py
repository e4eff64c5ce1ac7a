"""Sampling settings a model folder recommends for itself, read from an optional `sdkit.json`.

Models differ in what they sample well with (a distilled model wants CFG 1-2 and few steps, the tiny demo
model a low CFG), and InvokeAI's per-model "default settings" showed users expect the model to carry that.
The file is a layer between the engine's defaults and the preset: a preset or a flag still wins.

    {"recommended": {"cfg_scale": 3.0, "steps": 20}}
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from sdkit.core.errors import UserInputError

log = logging.getLogger(__name__)

RECOMMENDED_FILE = "sdkit.json"
# How to sample the model, nothing more: inputs, paths and devices stay the user's business.
RECOMMENDABLE = frozenset({"steps", "cfg_scale", "sampler", "schedule", "clip_skip"})


def recommended_params(model_path: Path | None) -> dict[str, Any]:
    """The settings `model_path/sdkit.json` recommends; {} for files, hub ids and folders without one."""
    if model_path is None or not model_path.is_dir():
        return {}
    path = model_path / RECOMMENDED_FILE
    if not path.is_file():
        return {}
    hint = f'{RECOMMENDED_FILE} holds {{"recommended": {{"cfg_scale": 3.0, "steps": 20}}}}; fix or remove {path}'
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise UserInputError(f"cannot read the model's recommended settings in {path}: {error}", hint) from error
    recommended = data.get("recommended") if isinstance(data, dict) else None
    if not isinstance(recommended, dict):
        raise UserInputError(f"{path} has no \"recommended\" mapping", hint)
    ignored = sorted(set(recommended) - RECOMMENDABLE)
    if ignored:
        log.warning("%s: ignoring %s (a model may recommend only %s)", path, ", ".join(ignored),
                    ", ".join(sorted(RECOMMENDABLE)))
    return {key: value for key, value in recommended.items() if key in RECOMMENDABLE}
