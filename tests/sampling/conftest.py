"""Fixtures for sdkit.sampling tests: tiny diffusers UNets and VAE (random weights), and the demo UNet."""

from __future__ import annotations

import pytest
from tiny_models import tiny_pipeline_dir  # noqa: F401  (a session fixture used below)

from sdkit.demo import DEMO_MODEL_DIR


@pytest.fixture(scope="session")
def tiny_unet(tiny_pipeline_dir):  # noqa: F811
    """Factory: `tiny_unet(family, prediction_type="epsilon")` -> a loaded UNet2DConditionModel in eval mode."""
    import torch
    from diffusers import UNet2DConditionModel

    torch.set_num_threads(1)  # tiny models on a shared CPU: one thread is fastest
    loaded = {}

    def make(family: str):
        if family not in loaded:
            unet = UNet2DConditionModel.from_pretrained(tiny_pipeline_dir(family) / "unet", local_files_only=True)
            loaded[family] = unet.eval()
        return loaded[family]

    return make


@pytest.fixture(scope="session")
def demo_unet():
    """The bundled demo model's UNet (a v-prediction SD 1.x-shaped model, 64² images, 8² latents)."""
    import torch
    from diffusers import UNet2DConditionModel

    torch.set_num_threads(1)
    return UNet2DConditionModel.from_pretrained(DEMO_MODEL_DIR / "unet", local_files_only=True).eval()


@pytest.fixture(scope="session")
def tiny_vae(tiny_pipeline_dir):  # noqa: F811
    from diffusers import AutoencoderKL

    return AutoencoderKL.from_pretrained(tiny_pipeline_dir("sd1") / "vae", local_files_only=True).eval()
