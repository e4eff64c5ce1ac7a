"""The SDE samplers' Brownian trees are driven with a larger node cache than torchsde.BrownianTree's, for
speed (noise.brownian_tree): no value may change. The oracle is k-diffusion's BrownianTreeNoiseSampler
with a list of seeds (A1111's noise), built on torchsde.BrownianTree with its default cache of 45 nodes.

Checked: every SDE sampler through `run.run_sampler` on txt2img sigmas, img2img's truncated sigmas and
the hires pass's exact-step sigmas, bit for bit against k-diffusion's sampler on its own trees; and
many queries in an arbitrary order (some beyond the tree's ends, some repeated), with the cache as
large as sdkit makes it and as small as torchsde's default.
"""

from __future__ import annotations

import json
import random

import pytest
import torch
from kdiffusion_reference import A1111ImageNoise, brownian_noise_sampler, load_k_diffusion

from sdkit.demo import DEMO_MODEL_DIR
from sdkit.sampling import noise as sd_noise
from sdkit.sampling import run
from sdkit.sampling.noise import BrownianTreeNoise, ImageGenerators
from sdkit.sampling.sigmas import SigmaTable

KD_SAMPLING, _ = load_k_diffusion()
pytestmark = pytest.mark.filterwarnings("ignore:Should have t[ab]:UserWarning")
SEEDS = [3, 1234567]
SHAPE = (4, 8, 8)
SDE_SAMPLERS = {  # sdkit id: k-diffusion function and options
    "dpmpp_sde": ("sample_dpmpp_sde", {}),
    "dpmpp_2m_sde": ("sample_dpmpp_2m_sde", {}),
    "dpmpp_2m_sde_heun": ("sample_dpmpp_2m_sde", {"solver_type": "heun"}),
    "dpmpp_3m_sde": ("sample_dpmpp_3m_sde", {}),
}


def demo_table() -> SigmaTable:
    return SigmaTable.from_scheduler_config(json.loads((DEMO_MODEL_DIR / "scheduler" / "scheduler_config.json")
                                                       .read_text()))


def toy_denoiser(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Nonlinear in x and σ; σ is 0-d (sdkit) or one per image (k-diffusion)."""
    sigma = torch.as_tensor(sigma, dtype=x.dtype)
    if sigma.ndim:
        sigma = sigma.reshape(-1, *[1] * (x.ndim - 1))
    return 0.1 + x / (1 + sigma**2) + 0.3 * torch.sin(x) * sigma / (1 + sigma)


def sigmas_for(sampler_id: str, case: str) -> torch.Tensor:
    """The sigmas `run` hands the sampler: txt2img, img2img at strength 0.6, the hires pass (exact steps)."""
    table = demo_table()
    if case == "txt2img":
        return run.sampler_sigmas(sampler_id, "automatic", table, 12)
    total, encoded = run.img2img_schedule(12 if case == "img2img" else 6, 0.6 if case == "img2img" else 0.5,
                                          exact_steps=case == "hires")
    return run.sampler_sigmas(sampler_id, "automatic", table, total)[total - encoded - 1:]


@pytest.mark.parametrize("case", ["txt2img", "img2img", "hires"])
@pytest.mark.parametrize("sampler_id", sorted(SDE_SAMPLERS))
def test_sde_samplers_equal_k_diffusions_on_its_own_brownian_trees(sampler_id, case):
    sigmas = sigmas_for(sampler_id, case)
    assert sigmas[0] < demo_table().sigma_max or case == "txt2img"  # img2img and hires start part way down
    start = A1111ImageNoise(SEEDS, SHAPE).first() * sigmas[0]
    name, options = SDE_SAMPLERS[sampler_id]
    expected = getattr(KD_SAMPLING, name)(toy_denoiser, start.clone(), sigmas, disable=True,
                                          noise_sampler=brownian_noise_sampler(KD_SAMPLING, start, sigmas, SEEDS),
                                          **options)
    generators = ImageGenerators(SEEDS, SHAPE, "cpu")
    generators.first()
    result = run.run_sampler(sampler_id, toy_denoiser, start.clone(), sigmas, generators)
    assert torch.isfinite(expected).all()
    assert torch.equal(result, expected)


def scattered_queries(sigmas: torch.Tensor, count: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Pairs of σ in an arbitrary order: schedule points, points between them (as DPM++ SDE's midpoints),
    both directions, repeats, and ends an ulp or more beyond the tree's range."""
    rng = random.Random(seed)
    points = [float(value) for value in sigmas if value > 0]
    low, high = min(points), max(points)
    points += [rng.uniform(low, high) for _ in range(count)]
    points += [low * (1 - 1e-7), high * (1 + 1e-7), low * 0.5, high * 2]
    pairs = [(rng.choice(points), rng.choice(points)) for _ in range(count)]
    pairs += pairs[: count // 5]  # asked again, after other queries
    return [(torch.tensor(a, dtype=torch.float32), torch.tensor(b, dtype=torch.float32)) for a, b in pairs if a != b]


@pytest.mark.parametrize("cache_bytes", [sd_noise.CACHE_BYTES, 0])
def test_scattered_queries_equal_k_diffusions_answers(monkeypatch, cache_bytes):
    monkeypatch.setattr(sd_noise, "CACHE_BYTES", cache_bytes)  # 0: torchsde's default cache of 45 nodes
    sigmas = run.sampler_sigmas("dpmpp_2m_sde", "karras", demo_table(), 20)
    x = A1111ImageNoise(SEEDS, SHAPE).first() * sigmas[0]
    ours = BrownianTreeNoise.for_sigmas(x, sigmas, SEEDS)
    assert all(tree.cache_size == (45 if cache_bytes == 0 else sd_noise.CACHE_BYTES // (4 * 256 * len(SEEDS)))
               for tree in ours.trees)
    theirs = brownian_noise_sampler(KD_SAMPLING, x, sigmas, SEEDS)
    for sigma, sigma_next in scattered_queries(sigmas, 100, seed=cache_bytes % 97):
        assert torch.equal(ours(sigma, sigma_next), theirs(sigma, sigma_next)), (float(sigma), float(sigma_next))


def test_cache_holds_a_long_runs_nodes_at_full_size():
    """What the speed rests on: a 512² image's tree remembers the ~1,100 nodes a 20-step DPM++ SDE run
    makes (torchsde's default of 45 recomputes the top of the tree for every new σ)."""
    one_image = BrownianTreeNoise(torch.zeros(1, 4, 64, 64), 0.03, 14.6, [1])
    assert one_image.trees[0].cache_size >= 2000
    four_images = BrownianTreeNoise(torch.zeros(4, 4, 64, 64), 0.03, 14.6, [1, 2, 3, 4])
    assert all(tree.cache_size >= 500 for tree in four_images.trees)  # the budget is shared by the batch
