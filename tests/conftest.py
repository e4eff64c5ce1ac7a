"""Test-wide isolation: every test gets its own SDKIT_HOME and never touches the network."""

from __future__ import annotations

import os
import tempfile

import pytest

# No test may reach a model hub, whatever the machine allows.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
# Tiny test models are all overhead and no arithmetic: one thread is as fast, and it does not collapse
# when the machine is busy (two spinning OpenMP threads on two shared cores took 20x longer).
os.environ.setdefault("OMP_NUM_THREADS", "1")
# An empty Hugging Face cache, so no test sees (or scans) models the machine happens to have cached.
os.environ["HF_HUB_CACHE"] = tempfile.mkdtemp(prefix="sdkit-test-hf-cache-")


@pytest.fixture(autouse=True)
def sdkit_home(tmp_path, monkeypatch):
    """A private home for config, state, logs and caches, and a private models folder."""
    home = tmp_path / "sdkit-home"
    monkeypatch.setenv("SDKIT_HOME", str(home))
    monkeypatch.setenv("SDKIT_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.delenv("SDKIT_LOAD_PLUGINS", raising=False)
    from sdkit.registry import reset_registries

    reset_registries()
    yield home
    reset_registries()


# Tiny random-weight SD pipelines (diffusers folders and LDM single files), built once per session.
from tiny_models import tiny_pipeline_dir, tiny_single_file  # noqa: E402,F401
