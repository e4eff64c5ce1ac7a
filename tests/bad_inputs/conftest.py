"""Fixtures of the bad-input corpus: a tiny Real-ESRGAN file for the upscale cases, built once per session."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

UPSCALE_WEIGHTS = Path(__file__).parents[1] / "upscale" / "upscale_weights.py"


@pytest.fixture(scope="session")
def tiny_upscaler(tmp_path_factory):
    """Factory: `tiny_upscaler() -> Path` of a one-block x4 ESRGAN `.pth` (random weights, the x4plus layout)."""
    spec = importlib.util.spec_from_file_location("bad_inputs_upscale_weights", UPSCALE_WEIGHTS)
    weights = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(weights)
    built: list[Path] = []

    def make() -> Path:
        if not built:
            built.append(weights.write_basicsr_pth(tmp_path_factory.mktemp("tiny-upscaler") / "tiny_x4.pth", blocks=1))
        return built[0]

    return make
