"""Model tests: a private Hugging Face cache per test, so the machine's own cache never leaks in."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def private_hub_cache(tmp_path, monkeypatch):
    cache = tmp_path / "hf-cache"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    return cache


@pytest.fixture
def models_dir(tmp_path):
    """The models folder the test session points SDKIT_MODELS_DIR at, created empty."""
    folder = tmp_path / "models"
    folder.mkdir(exist_ok=True)
    return folder
