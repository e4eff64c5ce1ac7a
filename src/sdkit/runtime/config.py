"""The user's config file (`config.yaml` in the config folder): a few settings that outlive a run."""

from __future__ import annotations

import difflib
import logging
import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from sdkit.core.errors import UserInputError
from sdkit.runtime.paths import MODELS_ENV, paths

log = logging.getLogger(__name__)
_warned: set[tuple[str, str]] = set()  # (config file, key): each misspelt key is reported once per process


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
        config = Config.model_validate(data)
    except (yaml.YAMLError, ValidationError) as error:
        raise UserInputError(f"{config_path} is not a valid sdkit config: {error}",
                             "fix or delete the file; `sdkit export-debug` shows what sdkit read") from error
    _warn_about_misspelt_keys(config_path, data)
    return config


def _warn_about_misspelt_keys(config_path: Path, data: dict[Any, Any]) -> None:
    """A key close to one of sdkit's settings (`model_dir:`) is a typo that would silently do nothing.

    Other unknown keys are kept quietly: plugins may read their own settings from the same file.
    """
    known = list(Config.model_fields)
    for key in data:
        if not isinstance(key, str) or key in known or (str(config_path), key) in _warned:
            continue
        close = difflib.get_close_matches(key.lower().replace("-", "_"), known, n=1, cutoff=0.75)
        if close:
            _warned.add((str(config_path), key))
            log.warning("%s: unknown setting %r is ignored; did you mean %r?", config_path, key, close[0])


def raw_config(path: Path | None = None) -> dict[str, Any]:
    """The config as plain data (for export-debug), or {} when there is none or it is unreadable."""
    config_path = path or paths().config_file
    try:
        data = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def models_dir_setting() -> tuple[Path, str]:
    """The models folder and what chose it, for messages: `$SDKIT_MODELS_DIR`, the config file, or the default."""
    if os.environ.get(MODELS_ENV):
        return Path(os.environ[MODELS_ENV]).expanduser(), MODELS_ENV
    configured = load_config().models_dir
    if configured:
        return Path(configured).expanduser(), f"models_dir in {paths().config_file}"
    return paths().default_models_dir, "the default"


def models_dir() -> Path:
    """Where model files are looked up by name: $SDKIT_MODELS_DIR, then the config, then the default."""
    return models_dir_setting()[0]


def models_dir_error() -> UserInputError | None:
    """Why the models folder cannot be searched, or None.

    A folder that does not exist yet is fine (it holds no models); a file, or a folder sdkit may not
    read, is a mistake the user should hear about rather than an empty listing.
    """
    path, origin = models_dir_setting()
    fix = (f"point {origin} at a folder of models" if origin != "the default"
           else "move the file away, or set SDKIT_MODELS_DIR to a folder of models")
    if path.exists() and not path.is_dir():
        return UserInputError(f"the models folder {path} (from {origin}) is a file, not a folder", fix)
    if path.is_dir() and not os.access(path, os.R_OK | os.X_OK):
        return UserInputError(f"the models folder {path} (from {origin}) cannot be read (permission denied)",
                              f"give yourself read access to it, or {fix}")
    return None
