"""Every supported sampler runs on a real (tiny) pipeline, bit-identically run after run.

Per-image generators carry both the initial noise and, for ancestral and SDE samplers, the per-step
noise, so an image depends on its own seed only.
"""

from __future__ import annotations

import pytest

from sdkit.samplers import make_scheduler, resolve_sampler
from sdkit.samplers.builtin import BUILTIN_SAMPLERS

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # numpy 2 notes from inside diffusers

SUPPORTED = [spec for spec in BUILTIN_SAMPLERS if spec.supported]
STEPS = 3


def generators(*seeds):
    import torch

    return [torch.Generator("cpu").manual_seed(seed) for seed in seeds]


def run(pipe, seeds, latents=None):
    """Latents after STEPS steps, one image per seed (latent output: exact, no 8-bit rounding)."""
    result = pipe(prompt="a red fox, snow", negative_prompt="blurry", num_inference_steps=STEPS,
                  guidance_scale=7.0, height=64, width=64, num_images_per_prompt=len(seeds),
                  generator=generators(*seeds), latents=latents, output_type="latent")
    return result.images


@pytest.mark.parametrize("spec", SUPPORTED, ids=lambda spec: spec.id)
def test_sampler_runs_and_repeats_bit_identically(tiny_sd1_pipeline, spec):
    import torch

    pipe = tiny_sd1_pipeline
    base_config = pipe.scheduler  # the model's own scheduler: make_scheduler reads its config
    resolved = resolve_sampler("diffusers:" + spec.id)
    pipe.scheduler = make_scheduler(resolved, base_config)
    try:
        first = run(pipe, [10, 11])
        again = run(pipe, [10, 11])
        assert torch.isfinite(first).all()
        assert torch.equal(first, again), "same seeds, same machine: the result must not change"
        assert not torch.equal(first[0], first[1]), "each image has its own seed"

        # Image 0 depends on its own seed only, also through the per-step noise of stochastic samplers.
        other_neighbour = run(pipe, [10, 99])
        assert torch.equal(first[0], other_neighbour[0])
        assert not torch.equal(first[1], other_neighbour[1])

        # Same starting latents, different generators: only samplers that add noise each step differ.
        start = torch.randn((2, 4, 8, 8), generator=torch.Generator("cpu").manual_seed(5))
        noise_a = run(pipe, [1, 2], latents=start.clone())
        noise_b = run(pipe, [3, 4], latents=start.clone())
        assert torch.equal(noise_a, noise_b) is not spec.stochastic, "the stochastic flag is wrong"
    finally:
        pipe.scheduler = base_config
