"""Noise sources as A1111 uses them (reference §11, shared/reference/samplers.md "Seeds").

`ImageGenerators`: one generator per image — `"cpu"`: torch.Generator("cpu") seeded with the image's
seed; `"nv"`: `nv_rng.NVGenerator` (A1111's own NV port's arithmetic, bit for bit); `"device"`: a
torch generator on `device` (on an NVIDIA GPU that is A1111's default "GPU" source), its draws moved to
the CPU. `first()` is the initial noise
randn(C, H/8, W/8) of each image, stacked; calling the object draws the next per-step noise from the
same generators (what A1111's ancestral samplers get), so image i never depends on the other images
of its batch.

`Variation` (A1111's variation seeds and "seed resize from"): image i's initial noise is its seed's noise
slerped by `strength` towards the noise of its variation seed; with a resize, the seed's noise (and the
variation's) is drawn at the old latent size and pasted, centred, into a full-size draw of the image's
generator. The image's generator is advanced by exactly one full-size draw either way.

`ensd` (A1111's eta noise seed delta): once the initial noise is drawn, every generator is made anew
with seed + ensd, so the per-step noise of the ancestral samplers comes from those (A1111's ImageRNG).

`BrownianTreeNoise`: the SDE samplers' noise — one torchsde `BrownianTree` per image over
[σ_min, σ_max], its entropy the image's seed, w0 = 0; a query (σ, σ_next) returns the tree's increment
between them (signed by the direction of travel) over sqrt|σ_next − σ|, as k-diffusion's
BrownianTreeNoiseSampler does with a list of seeds (A1111 seeds them without ENSD). The trees are
torchsde.BrownianTree's with a larger node cache (`brownian_tree`): the same values, fewer recomputed nodes.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from sdkit.sampling.nv_rng import NVGenerator

RNG_SOURCES = ("cpu", "nv", "device")


@dataclass(frozen=True)
class Variation:
    """Variation seeds of a batch (one per image), their strength, and the latent (H, W) to resize from."""

    seeds: tuple[int, ...] = ()
    strength: float = 0.0
    resize_from: tuple[int, int] | None = None


def slerp(strength: float, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """A1111's slerp of two (C, H, W) noises: norms and dot products over dim 1, as its code has them.

    Nearly parallel noises fall back to `low * strength + high * (1 - strength)`, A1111's own formula
    for that case (which weights them the other way round), kept so such images reproduce.
    """
    low_norm = low / torch.norm(low, dim=1, keepdim=True)
    high_norm = high / torch.norm(high, dim=1, keepdim=True)
    dot = (low_norm * high_norm).sum(1)
    if dot.mean() > 0.9995:
        return low * strength + high * (1 - strength)
    omega = torch.acos(dot)
    sine = torch.sin(omega)
    return ((torch.sin((1.0 - strength) * omega) / sine).unsqueeze(1) * low
            + (torch.sin(strength * omega) / sine).unsqueeze(1) * high)


def paste_centred(small: torch.Tensor, full: torch.Tensor) -> torch.Tensor:
    """`full` with `small` pasted at its centre (cropped where `small` is the larger), as A1111 does."""
    dx = (full.shape[2] - small.shape[2]) // 2
    dy = (full.shape[1] - small.shape[1]) // 2
    width = small.shape[2] if dx >= 0 else small.shape[2] + 2 * dx
    height = small.shape[1] if dy >= 0 else small.shape[1] + 2 * dy
    to_x, to_y = max(dx, 0), max(dy, 0)
    from_x, from_y = max(-dx, 0), max(-dy, 0)
    pasted = full.clone()
    pasted[:, to_y:to_y + height, to_x:to_x + width] = small[:, from_y:from_y + height, from_x:from_x + width]
    return pasted


class ImageGenerators:
    """Per-image generators; `first()` gives the initial noise, each call after that the next draw."""

    def __init__(self, seeds: Sequence[int], shape: Sequence[int], source: str = "cpu", device: Any = "cpu",
                 ensd: int = 0, variation: Variation | None = None) -> None:
        if source not in RNG_SOURCES:
            raise ValueError(f"rng source must be one of {RNG_SOURCES}, not {source!r}")
        self.seeds = [int(seed) for seed in seeds]
        self.shape = tuple(int(size) for size in shape)  # one image: (C, H/8, W/8)
        self.source = source
        self.device = str(device) if source == "device" else "cpu"
        self.ensd = int(ensd)
        self.variation = variation or Variation()
        if self.variation.strength and len(self.variation.seeds) != len(self.seeds):
            raise ValueError(f"{len(self.variation.seeds)} variation seeds for {len(self.seeds)} images")
        self._generators: list[Any] = [self._generator(seed) for seed in self.seeds]

    def _generator(self, seed: int) -> Any:
        if self.source == "nv":
            return NVGenerator(seed)
        return torch.Generator(self.device).manual_seed(seed)

    def _draw(self, generator: Any, shape: tuple[int, ...] | None = None) -> torch.Tensor:
        shape = shape or self.shape
        if self.source == "nv":
            return generator.randn_tensor(shape)
        return torch.randn(shape, generator=generator, dtype=torch.float32, device=self.device).cpu()

    def _first_of(self, index: int, generator: Any) -> torch.Tensor:
        """One image's initial noise with the variation rules (A1111's ImageRNG.first)."""
        variation = self.variation
        small = None if variation.resize_from is None else (self.shape[0], *variation.resize_from)
        if small == self.shape:
            small = None
        seed = self.seeds[index]
        noise = self._draw(generator) if small is None else self._draw(self._generator(seed), small)
        if variation.strength:
            other = self._draw(self._generator(variation.seeds[index]), small)
            noise = slerp(variation.strength, noise, other)
        if small is not None:
            noise = paste_centred(noise, self._draw(generator))
        return noise

    @property
    def torch_generators(self) -> list[Any]:
        """The per-image torch generators (cpu/device sources), e.g. for a diffusers scheduler's step noise."""
        if self.source == "nv":
            raise ValueError("the NV source has no torch generators")
        return list(self._generators)

    def next_noise(self) -> torch.Tensor:
        """The next draw of every image's generator, stacked to (B, C, H/8, W/8)."""
        return torch.stack([self._draw(generator) for generator in self._generators])

    def first(self) -> torch.Tensor:
        """The initial noise (the first draw of each generator); then the ENSD reseeding, if any."""
        if self.variation.strength or self.variation.resize_from is not None:
            noise = torch.stack([self._first_of(index, generator) for index, generator in enumerate(self._generators)])
        else:
            noise = self.next_noise()
        if self.ensd:
            self._generators = [self._generator(seed + self.ensd) for seed in self.seeds]
        return noise

    def __call__(self, sigma: Any = None, sigma_next: Any = None) -> torch.Tensor:
        return self.next_noise()


class BrownianTreeNoise:
    """Unit-variance Brownian increments, one tree per image seeded with that image's seed."""

    def __init__(self, x: torch.Tensor, sigma_min: Any, sigma_max: Any, seeds: Sequence[int]) -> None:
        if len(seeds) != x.shape[0]:
            raise ValueError(f"{len(seeds)} seeds for a batch of {x.shape[0]} images")
        low = torch.as_tensor(sigma_min, dtype=torch.float32).cpu()
        high = torch.as_tensor(sigma_max, dtype=torch.float32).cpu()
        self.sign = 1 if low < high else -1
        low, high = (low, high) if self.sign == 1 else (high, low)
        start = torch.zeros_like(x[0]).cpu()
        self.device, self.dtype = x.device, x.dtype
        self.trees = [brownian_tree(low, high, start, int(seed), len(seeds)) for seed in seeds]

    @classmethod
    def for_sigmas(cls, x: torch.Tensor, sigmas: torch.Tensor, seeds: Sequence[int]) -> BrownianTreeNoise:
        """Over [smallest non-zero σ, largest σ] of the schedule, as A1111 builds it."""
        return cls(x, sigmas[sigmas > 0].min(), sigmas.max(), seeds)

    def __call__(self, sigma: Any, sigma_next: Any) -> torch.Tensor:
        start = torch.as_tensor(sigma, dtype=torch.float32).cpu()
        end = torch.as_tensor(sigma_next, dtype=torch.float32).cpu()
        direction = 1 if start < end else -1
        low, high = (float(start), float(end)) if direction == 1 else (float(end), float(start))
        with warnings.catch_warnings():
            # σ recomputed as exp(log σ) lands an ulp outside the tree's ends; torchsde warns each time
            # (A1111's console shows the same lines). The ends are clamped, so nothing is lost.
            warnings.filterwarnings("ignore", message="Should have t[ab]", category=UserWarning)
            increments = torch.stack([tree(low, high) for tree in self.trees]) * (self.sign * direction)
        increments = increments.to(device=self.device, dtype=self.dtype)
        return increments / (end - start).abs().sqrt().to(self.device)


# torchsde.BrownianTree's own settings (what k-diffusion's sampler, hence A1111, builds): its tolerance
# fixes the tree's depth and its entropy pool the seed of every node, so both are part of the values.
TREE_TOL = 1e-6
TREE_POOL_SIZE = 24
# The one setting that is not: how many nodes the tree remembers. BrownianTree keeps torchsde's default
# of 45, but a query at a new σ walks ~24 levels down from the root and the cache forgets in insertion
# order, so within a few queries the top of the tree is gone and is recomputed, node by node (a
# torch.Generator, a randn and a few tensor operations each): in a 20-step run on the demo model's
# sigmas, 36% of DPM++ 2M SDE's node computations (984 → 632) and 46% of DPM++ SDE's (2,081 → 1,116).
# A node is recomputed bit for bit from its parent, so a larger cache changes speed only; it holds up to
# CACHE_BYTES of nodes per batch (a 20-step DPM++ SDE run keeps ~1,100 a tree).
CACHE_BYTES = 128 * 2**20


def brownian_tree(low: Any, high: Any, start: torch.Tensor, seed: int, trees: int = 1) -> Any:
    """torchsde.BrownianTree(low, start, high, entropy=seed), as k-diffusion builds it, with a larger cache.

    BrownianTree is a BrownianInterval with these settings and the default cache; its interval queries
    return the interval's answer unchanged. `trees`: how many share the cache budget (one per image).
    """
    import torchsde

    node_bytes = max(1, start.numel() * start.element_size())
    cache_size = max(45, CACHE_BYTES // (node_bytes * max(1, trees)))
    return torchsde.BrownianInterval(t0=float(low), t1=float(high), size=tuple(start.shape), dtype=start.dtype,
                                     device=start.device, entropy=seed, tol=TREE_TOL, pool_size=TREE_POOL_SIZE,
                                     halfway_tree=True, cache_size=cache_size)
