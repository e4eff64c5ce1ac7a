"""Fixtures for preset tests: the user's preset folder, and throwaway plugin distributions."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from sdkit.registry import reset_registries
from sdkit.runtime.paths import paths


@pytest.fixture
def user_dir() -> Path:
    """The user's preset folder (inside the per-test SDKIT_HOME)."""
    folder = paths().user_presets_dir
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def make_plugin(tmp_path, monkeypatch):
    """Install a fake distribution with one `sdkit.presets` entry point; returns its preset folder.

    The distribution is a real `*.dist-info` on sys.path, so importlib.metadata finds it the way it
    finds a pip-installed plugin. `target` can be given to register something other than a folder.
    """

    def make(dist_name: str, target: str | None = None, callable_entry: bool = False) -> Path:
        root = tmp_path / f"site-{dist_name}"
        folder = root / "presets_of" / dist_name
        folder.mkdir(parents=True)
        module = f"plugin_{dist_name.replace('-', '_')}_{uuid.uuid4().hex[:8]}"
        if callable_entry:
            body = f"from pathlib import Path\n\ndef folder():\n    return Path({str(folder)!r})\n"
            attribute = "folder"
        else:
            body = f"FOLDER = {str(folder)!r}\n"
            attribute = "FOLDER"
        (root / f"{module}.py").write_text(body, encoding="utf-8")
        info = root / f"{dist_name.replace('-', '_')}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist_name}\nVersion: 1.0\n", encoding="utf-8")
        (info / "entry_points.txt").write_text(
            f"[sdkit.presets]\n{dist_name} = {target or f'{module}:{attribute}'}\n", encoding="utf-8")
        monkeypatch.syspath_prepend(str(root))
        reset_registries()
        return folder

    return make
