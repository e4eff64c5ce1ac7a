"""ComfyUI's noise for one KSampler batch: the initial noise, per-step noise and the Brownian tree.

ComfyUI draws every random number for the whole batch at once (comfy/sample.py `prepare_noise`,
comfy/k_diffusion/sampling.py `default_noise_sampler`, `BrownianTreeNoiseSampler`), so an image depends on
its batch: its seed, its size and its position. `ComfyBatch` names that batch and the positions this call
samples; every draw here is made for the whole batch shape and then sliced, so image k of a batch of n is
ComfyUI's image k bit for bit even when only it goes through the model.
- initial noise: one CPU generator seeded with the noise seed, randn(n, C, H, W);
- per-step noise (ancestral samplers, LCM, DDPM): a generator on x's device seeded with the noise seed,
  + 1 on the CPU (ComfyUI's shift so it does not repeat the initial noise), randn(n, C, H, W) per draw;
- Brownian tree (SDE samplers): ONE torchsde tree over the whole batch-shaped state (entropy = the noise
  seed, on the CPU), between the schedule's smallest non-zero σ and its largest, scaled to unit variance;
- inpaint noise of ComfyUI's "ddim" (its inpaint_options random): CPU randn(n, C, H, W) seeded seed + 1.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class ComfyBatch:
    """A ComfyUI batch: its noise seed, its batch size, and which of its images this call draws."""

    seed: int
    size: int
    positions: tuple[int, ...]

    @classmethod
    def whole(cls, seed: int, size: int) -> ComfyBatch:
        return cls(seed, size, tuple(range(size)))

    def __post_init__(self) -> None:
        if not self.positions or any(not 0 <= position < self.size for position in self.positions):
            raise ValueError(f"positions {self.positions} do not lie in a batch of {self.size}")

    @property
    def is_whole(self) -> bool:
        return self.positions == tuple(range(self.size))

    def take(self, drawn: torch.Tensor) -> torch.Tensor:
        """The rows of a whole-batch draw that this call samples."""
        return drawn if self.is_whole else drawn[list(self.positions)]


def _batch_shape(batch: ComfyBatch, latent_shape: Sequence[int]) -> tuple[int, ...]:
    return (batch.size, *latent_shape)


def initial_noise(batch: ComfyBatch, latent_shape: Sequence[int], seed_offset: int = 0) -> torch.Tensor:
    """`prepare_noise`: randn of the whole batch from one CPU generator (float32, on the CPU)."""
    generator = torch.Generator("cpu").manual_seed(batch.seed + seed_offset)
    return batch.take(torch.randn(_batch_shape(batch, latent_shape), generator=generator))


class StepNoise:
    """`default_noise_sampler(x, seed)`: fresh whole-batch draws from a generator on x's device."""

    def __init__(self, x: torch.Tensor, batch: ComfyBatch) -> None:
        seed = batch.seed + 1 if x.device.type == "cpu" else batch.seed
        self.generator = torch.Generator(device=x.device).manual_seed(seed)
        self.batch, self.shape = batch, _batch_shape(batch, x.shape[1:])
        self.device, self.dtype = x.device, x.dtype

    def __call__(self, sigma: Any = None, sigma_next: Any = None) -> torch.Tensor:
        drawn = torch.randn(self.shape, dtype=self.dtype, device=self.device, generator=self.generator)
        return self.batch.take(drawn)


class BatchBrownianNoise:
    """`BrownianTreeNoiseSampler(x, σ_min, σ_max, seed=seed, cpu=True)`: one tree for the whole batch."""

    def __init__(self, x: torch.Tensor, sigma_min: Any, sigma_max: Any, batch: ComfyBatch) -> None:
        import torchsde

        low, high = torch.as_tensor(sigma_min).detach().cpu(), torch.as_tensor(sigma_max).detach().cpu()
        self.sign = 1 if low < high else -1
        low, high = (low, high) if self.sign == 1 else (high, low)
        start = torch.zeros(_batch_shape(batch, x.shape[1:]), dtype=x.dtype)
        self.tree = torchsde.BrownianTree(low, start, high, entropy=batch.seed)
        self.batch, self.device, self.dtype = batch, x.device, x.dtype

    @classmethod
    def for_sigmas(cls, x: torch.Tensor, sigmas: torch.Tensor, batch: ComfyBatch) -> BatchBrownianNoise:
        """Over [smallest non-zero σ, largest σ] of the sigmas the sampler gets, as ComfyUI builds it."""
        return cls(x, sigmas[sigmas > 0].min(), sigmas.max(), batch)

    def __call__(self, sigma: Any, sigma_next: Any) -> torch.Tensor:
        start, end = torch.as_tensor(sigma), torch.as_tensor(sigma_next)
        direction = 1 if start < end else -1
        low, high = (start, end) if direction == 1 else (end, start)
        with warnings.catch_warnings():
            # σ recomputed from log-SNR lands an ulp outside the tree's ends; torchsde warns and clamps.
            warnings.filterwarnings("ignore", message="Should have t[ab]", category=UserWarning)
            increment = self.tree(low.detach().cpu().float(), high.detach().cpu().float())
        increment = increment.to(device=self.device, dtype=self.dtype) * (self.sign * direction)
        return self.batch.take(increment / (end - start).abs().sqrt().to(self.device))
