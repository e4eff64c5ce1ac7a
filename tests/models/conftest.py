"""Model tests: a private Hugging Face cache per test, so the machine's own cache never leaks in."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def private_hub_cache(tmp_path, monkeypatch):
    """An empty cache folder for this test, where huggingface_hub (and so sdkit) looks.

    huggingface_hub reads the environment once, when it is imported, as a real process does at its
    start; an in-process test moves its setting too. Tests of the environment variables themselves run
    sdkit as a process.
    """
    from huggingface_hub import constants

    cache = tmp_path / "hf-cache"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    return cache


@pytest.fixture
def models_dir(tmp_path):
    """The models folder the test session points SDKIT_MODELS_DIR at, created empty."""
    folder = tmp_path / "models"
    folder.mkdir(exist_ok=True)
    return folder
