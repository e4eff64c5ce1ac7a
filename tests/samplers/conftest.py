"""Fixtures for sampler tests: the tiny SD1 pipeline, built once per session."""

from __future__ import annotations

import pytest
from tiny_models import tiny_pipeline_dir  # noqa: F401  (a session fixture used below)


@pytest.fixture(scope="session")
def tiny_sd1_pipeline(tiny_pipeline_dir):  # noqa: F811
    """A loaded tiny random-weight StableDiffusionPipeline (SD1 layout, DDIM-style scheduler config)."""
    import torch
    from diffusers import StableDiffusionPipeline

    # On a small shared CPU, torch's worker threads spin against each other: one thread is about
    # 20 times faster for a model this small.
    torch.set_num_threads(1)
    pipe = StableDiffusionPipeline.from_pretrained(tiny_pipeline_dir("sd1"), safety_checker=None,
                                                   local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe
