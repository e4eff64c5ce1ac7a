"""The demo model's training scripts (training/, not part of the package), loaded as modules for the tests."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

TRAINING = Path(__file__).parents[2] / "training"


def load_training_script(name: str):
    spec = importlib.util.spec_from_file_location(name, TRAINING / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def trainer():
    return load_training_script("train_demo_model")


@pytest.fixture(scope="session")
def evaluator():
    """training/evaluate_demo_model.py: the tests draw their sample exactly as the documented run does."""
    return load_training_script("evaluate_demo_model")
