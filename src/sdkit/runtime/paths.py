"""Where sdkit keeps its files.

Config, state, logs, cache and user presets follow platform conventions (platformdirs). Setting
`SDKIT_HOME` puts all of them under one folder instead (portable installs, tests).
Generated images go to `./outputs/<task>/` in the current folder unless the config or a flag says otherwise.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

HOME_ENV = "SDKIT_HOME"
MODELS_ENV = "SDKIT_MODELS_DIR"
APP_NAME = "sdkit"


@dataclass(frozen=True)
class Paths:
    config_dir: Path
    state_dir: Path
    log_dir: Path
    cache_dir: Path
    data_dir: Path

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.yaml"

    @property
    def state_file(self) -> Path:
        return self.state_dir / "state.json"

    @property
    def log_file(self) -> Path:
        return self.log_dir / "sdkit.log"

    @property
    def user_presets_dir(self) -> Path:
        return self.config_dir / "presets"

    @property
    def default_models_dir(self) -> Path:
        return self.data_dir / "models"


def paths() -> Paths:
    """The folders for this process (read from the environment each call, so tests can change it)."""
    home = os.environ.get(HOME_ENV)
    if home:
        root = Path(home).expanduser()
        return Paths(root / "config", root / "state", root / "logs", root / "cache", root / "data")
    dirs = platformdirs.PlatformDirs(APP_NAME, appauthor=False)
    return Paths(
        Path(dirs.user_config_dir),
        Path(dirs.user_state_dir),
        Path(dirs.user_log_dir),
        Path(dirs.user_cache_dir),
        Path(dirs.user_data_dir),
    )
