"""The SD engine's ComfyUI path (`engines.sd.comfyui.sample`) on the demo model draws ComfyUI's latents.

The known latents come from running ComfyUI's own KSampler functions (comfy/samplers.py, comfy/sample.py,
comfy/k_diffusion/sampling.py, model_sampling's V_PREDICTION over ModelSamplingDiscrete) in a scratch
harness outside the repository, with the demo model's diffusers UNet as the diffusion model: EmptyLatentImage
batch 2 of 8×8 latents (32² pixels: the demo VAE scales by 4), KSampler(seed 42, 4 steps, cfg 3, euler,
normal), the prompt below, an empty negative prompt. There sdkit's latents equalled ComfyUI's bit for bit;
the UNet's float sums depend on the thread count, so the pinned values are checked to 1e-5.
"""

from __future__ import annotations

import pytest

from sdkit.demo import DEMO_MODEL_DIR

PROMPT = "a red circle on a blue background"


@pytest.fixture(scope="module")
def demo():
    """The demo model as the engine holds it: its components and scheduler config (what `sample` reads)."""
    import torch
    from diffusers import StableDiffusionPipeline

    from sdkit.engines.sd.pipelines import LoadedModel

    pipeline = StableDiffusionPipeline.from_pretrained(DEMO_MODEL_DIR, local_files_only=True, safety_checker=None,
                                                       requires_safety_checker=False)
    pipeline.set_progress_bar_config(disable=True)
    loaded = LoadedModel(ref=None, components=pipeline.components, device="cpu", dtype=torch.float32, options=None,
                         scheduler_config=dict(pipeline.scheduler.config))
    return loaded, pipeline


def _sample(loaded, pipeline, batch):
    import torch

    from sdkit.engines.sd import comfyui
    from sdkit.run.events import NullEvents, StepsOfImage
    from sdkit.samplers import resolve_sampler
    from sdkit.sampling.denoiser import Conditioning

    with torch.inference_mode():
        cond, uncond = pipeline.encode_prompt(PROMPT, "cpu", 1, True, "")
    images = len(batch.positions)
    pair = (Conditioning(cond.repeat(images, 1, 1)), Conditioning(uncond.repeat(images, 1, 1)))
    return comfyui.sample(loaded, pipeline, resolve_sampler("euler", "normal"), lambda call: pair, batch=batch,
                          cfg_scale=3.0, steps=4, size=(32, 32), events=StepsOfImage(NullEvents(), 0))


def test_txt2img_batch_equals_comfyuis_ksampler_and_one_position_equals_its_image(demo):
    import torch

    from sdkit.sampling.comfyui import ComfyBatch

    loaded, pipeline = demo
    latents = _sample(loaded, pipeline, ComfyBatch.whole(42, 2))
    assert latents.shape == (2, 4, 8, 8)
    expected = [(latents[1, 0, 0, :3], [-1.041152834892273, -0.8673136234283447, -0.7371768951416016]),
                (latents[0, 3, 7, 5:8], [-0.7331112027168274, -0.7247027158737183, -0.6276131272315979])]
    for values, known in expected:
        assert torch.allclose(values, torch.tensor(known), atol=1e-5, rtol=0)
    second = _sample(loaded, pipeline, ComfyBatch(42, 2, (1,)))
    # The same noise (sliced from the batch's draws: bit for bit in tests/sampling); the UNet's float sums
    # on a batch of 1 instead of 2 differ in the last bits, so the image agrees to 1e-5, not bit for bit.
    assert torch.allclose(second, latents[1:2], atol=1e-5, rtol=0)
    assert not torch.allclose(second, latents[0:1], atol=1e-2)
