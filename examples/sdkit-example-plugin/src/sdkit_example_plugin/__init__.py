"""An example sdkit plugin: what each of sdkit's four entry-point groups expects, in its smallest form.

- `sdkit.pipelines` → `engine.ENGINE`: the `solid-colour` txt2img engine (no torch, no model weights)
- `sdkit.samplers` → `samplers.FLAT_ALIAS`: extra names for sdkit's Euler sampler
- `sdkit.models` → `models.SOURCE`: `solid:<colour>` model references and a small palette to list
- `sdkit.presets` → `PRESETS_FOLDER`: `txt2img/solid-red.yaml`

This module imports nothing heavy: sdkit reads `PRESETS_FOLDER` while listing presets.
"""

from pathlib import Path

__version__ = "0.1.0"

PRESETS_FOLDER = Path(__file__).resolve().parent / "presets"
