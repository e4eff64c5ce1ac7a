"""Noise sources as A1111 uses them (reference §11, shared/reference/samplers.md "Seeds").

`ImageGenerators`: one generator per image — `"cpu"`: torch.Generator("cpu") seeded with the image's
seed; `"nv"`: `nv_rng.NVGenerator`; `"device"`: a torch generator on `device` (on an NVIDIA GPU that
is A1111's default "GPU" source), its draws moved to the CPU. `first()` is the initial noise
randn(C, H/8, W/8) of each image, stacked; calling the object draws the next per-step noise from the
same generators (what A1111's ancestral samplers get), so image i never depends on the other images
of its batch.

`ensd` (A1111's eta noise seed delta): once the initial noise is drawn, every generator is made anew
with seed + ensd, so the per-step noise of the ancestral samplers comes from those (A1111's ImageRNG).

`BrownianTreeNoise`: the SDE samplers' noise — one torchsde `BrownianTree` per image over
[σ_min, σ_max], its entropy the image's seed, w0 = 0; a query (σ, σ_next) returns the tree's increment
between them (signed by the direction of travel) over sqrt|σ_next − σ|, as k-diffusion's
BrownianTreeNoiseSampler does with a list of seeds (A1111 seeds them without ENSD).
Not here: variation seeds and "seed resize from".
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import torch

from sdkit.sampling.nv_rng import NVGenerator

RNG_SOURCES = ("cpu", "nv", "device")


class ImageGenerators:
    """Per-image generators; `first()` gives the initial noise, each call after that the next draw."""

    def __init__(self, seeds: Sequence[int], shape: Sequence[int], source: str = "cpu", device: Any = "cpu",
                 ensd: int = 0) -> None:
        if source not in RNG_SOURCES:
            raise ValueError(f"rng source must be one of {RNG_SOURCES}, not {source!r}")
        self.seeds = [int(seed) for seed in seeds]
        self.shape = tuple(int(size) for size in shape)  # one image: (C, H/8, W/8)
        self.source = source
        self.device = str(device) if source == "device" else "cpu"
        self.ensd = int(ensd)
        self._generators: list[Any] = [self._generator(seed) for seed in self.seeds]

    def _generator(self, seed: int) -> Any:
        if self.source == "nv":
            return NVGenerator(seed)
        return torch.Generator(self.device).manual_seed(seed)

    def _draw(self, generator: Any) -> torch.Tensor:
        if self.source == "nv":
            return generator.randn_tensor(self.shape)
        return torch.randn(self.shape, generator=generator, dtype=torch.float32, device=self.device).cpu()

    def next_noise(self) -> torch.Tensor:
        """The next draw of every image's generator, stacked to (B, C, H/8, W/8)."""
        return torch.stack([self._draw(generator) for generator in self._generators])

    def first(self) -> torch.Tensor:
        """The initial noise (the first draw of each generator); then the ENSD reseeding, if any."""
        noise = self.next_noise()
        if self.ensd:
            self._generators = [self._generator(seed + self.ensd) for seed in self.seeds]
        return noise

    def __call__(self, sigma: Any = None, sigma_next: Any = None) -> torch.Tensor:
        return self.next_noise()


class BrownianTreeNoise:
    """Unit-variance Brownian increments, one tree per image seeded with that image's seed."""

    def __init__(self, x: torch.Tensor, sigma_min: Any, sigma_max: Any, seeds: Sequence[int]) -> None:
        import torchsde

        if len(seeds) != x.shape[0]:
            raise ValueError(f"{len(seeds)} seeds for a batch of {x.shape[0]} images")
        low = torch.as_tensor(sigma_min, dtype=torch.float32).cpu()
        high = torch.as_tensor(sigma_max, dtype=torch.float32).cpu()
        self.sign = 1 if low < high else -1
        low, high = (low, high) if self.sign == 1 else (high, low)
        start = torch.zeros_like(x[0]).cpu()
        self.device, self.dtype = x.device, x.dtype
        self.trees = [torchsde.BrownianTree(low, start, high, entropy=int(seed)) for seed in seeds]

    @classmethod
    def for_sigmas(cls, x: torch.Tensor, sigmas: torch.Tensor, seeds: Sequence[int]) -> BrownianTreeNoise:
        """Over [smallest non-zero σ, largest σ] of the schedule, as A1111 builds it."""
        return cls(x, sigmas[sigmas > 0].min(), sigmas.max(), seeds)

    def __call__(self, sigma: Any, sigma_next: Any) -> torch.Tensor:
        start = torch.as_tensor(sigma, dtype=torch.float32).cpu()
        end = torch.as_tensor(sigma_next, dtype=torch.float32).cpu()
        direction = 1 if start < end else -1
        low, high = (start, end) if direction == 1 else (end, start)
        with warnings.catch_warnings():
            # σ recomputed as exp(log σ) lands an ulp outside the tree's ends; torchsde warns each time
            # (A1111's console shows the same lines). The ends are clamped, so nothing is lost.
            warnings.filterwarnings("ignore", message="Should have t[ab]", category=UserWarning)
            increments = torch.stack([tree(low, high) for tree in self.trees]) * (self.sign * direction)
        increments = increments.to(device=self.device, dtype=self.dtype)
        return increments / (end - start).abs().sqrt().to(self.device)
