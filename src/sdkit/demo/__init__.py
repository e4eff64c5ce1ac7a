"""The bundled "shapes" demo model: where it lives, what it is called, and the data it learned from.

Importing this package is light (no torch): `shapes` and `evaluate` use only numpy and Pillow.
"""

from __future__ import annotations

from pathlib import Path

#: The diffusers folder of the trained demo model; it ships inside the wheel.
DEMO_MODEL_DIR: Path = Path(__file__).resolve().parent / "model"

#: The name sdkit shows for the demo model.
DEMO_MODEL_NAME = "sdkit-shapes"

__all__ = ["DEMO_MODEL_DIR", "DEMO_MODEL_NAME"]
