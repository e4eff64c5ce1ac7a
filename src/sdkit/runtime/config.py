"""The user's config file (`config.yaml` in the config folder): a few settings that outlive a run."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from sdkit.core.errors import UserInputError
from sdkit.runtime.paths import MODELS_ENV, paths


class Config(BaseModel):
    model_config = ConfigDict(extra="allow")  # unknown keys are kept (plugins may read them)

    models_dir: str | None = None
    output_dir: str | None = None
    hf_token: str | None = None  # only ever read; export-debug redacts it


def load_config(path: Path | None = None) -> Config:
    config_path = path or paths().config_file
    if not config_path.exists():
        return Config()
    try:
        data = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise UserInputError(f"{config_path}: the config must be a mapping of settings")
        return Config.model_validate(data)
    except (yaml.YAMLError, ValidationError) as error:
        raise UserInputError(f"{config_path} is not a valid sdkit config: {error}",
                             "fix or delete the file; `sdkit export-debug` shows what sdkit read") from error


def raw_config(path: Path | None = None) -> dict[str, Any]:
    """The config as plain data (for export-debug), or {} when there is none or it is unreadable."""
    config_path = path or paths().config_file
    try:
        data = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def models_dir() -> Path:
    """Where model files are looked up by name: $SDKIT_MODELS_DIR, then the config, then the default."""
    configured = os.environ.get(MODELS_ENV) or load_config().models_dir
    return Path(configured).expanduser() if configured else paths().default_models_dir
