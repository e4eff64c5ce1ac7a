"""The server's A1111 options (`GET/POST /sdapi/v1/options`): the checkpoint, VAE, clip skip and ENSD
(eta noise seed delta) that requests without `override_settings` use. Shared by every request; changed under a lock."""

from __future__ import annotations

import threading
from typing import Any

from sdkit.core.errors import UserInputError
from sdkit.server.names import checkpoint_location, vae_location

SUPPORTED = ("sd_model_checkpoint", "sd_vae", "CLIP_stop_at_last_layers", "eta_noise_seed_delta", "samples_save")


class Options:
    def __init__(self, save_images: bool) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, Any] = {"sd_model_checkpoint": None, "sd_vae": "Automatic",
                                        "CLIP_stop_at_last_layers": 1, "eta_noise_seed_delta": 0,
                                        "samples_save": save_images}

    def values(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._values)

    def shown(self) -> dict[str, Any]:
        """What GET answers: the default checkpoint by name, as A1111 names its loaded one."""
        from sdkit.demo import DEMO_MODEL_NAME

        values = self.values()
        values["sd_model_checkpoint"] = values["sd_model_checkpoint"] or DEMO_MODEL_NAME
        return values

    def update(self, changes: dict[str, Any]) -> dict[str, list[str]]:
        """Check every change first (a bad one changes nothing), then apply them; returns what was ignored."""
        checked: dict[str, Any] = {}
        for key, value in changes.items():
            if key == "sd_model_checkpoint":
                checkpoint_location(value)
                checked[key] = value
            elif key == "sd_vae":
                vae_location(value)
                checked[key] = value
            elif key == "CLIP_stop_at_last_layers":
                if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 12:
                    raise UserInputError(f"CLIP_stop_at_last_layers {value!r} is not a whole number from 1 to 12",
                                         "1 uses the text encoder's last layer, 2 the one before (A1111's clip skip)")
                checked[key] = value
            elif key == "eta_noise_seed_delta":
                if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**32:
                    raise UserInputError(f"eta_noise_seed_delta {value!r} is not a whole number from 0 to 2**32 - 1",
                                         "0 turns it off; A1111 images often record ENSD: 31337")
                checked[key] = value
            elif key == "samples_save":
                checked[key] = bool(value)
        with self._lock:
            self._values.update(checked)
        return {"updated": sorted(checked), "ignored": sorted(set(changes) - set(checked))}
