"""A1111's "NV" noise source: a CPU reimplementation of torch's CUDA `randn` (reference §11).

Philox4x32-10 counter-based random numbers followed by Box–Muller, vectorised in numpy. Element j of
the call made at `offset` gets counter (offset, 0, j, 0) and key (seed low 32 bits, seed high 32 bits);
each `randn` call advances the offset by one, so consecutive calls continue like a torch generator.

Two arithmetics for Box–Muller (the Philox words are the same in both):
- "a1111-port" (the default, what `--rng nv` uses): the float rounding of A1111's own numpy port
  (modules/rng_philox.py). Checked by running A1111 v1.10's rng_philox.Generator and rng.ImageRNG in a
  scratch harness: equal bit for bit on 525,465 normals (9 seeds up to 2⁶⁴, shapes up to 4×96×64,
  several calls per generator) and on ImageRNG's initial and per-step noise with ENSD, variation seeds
  and seed resize. So an A1111 PNG with `RNG: NV` gets its own noise. It lands up to 6 float32 ulps
  (2.6e-7) away from the reference's CUDA test vector.
- "exact": Box–Muller in float64 from the full words, rounded once: equal to the CUDA test vector to its
  printed 8 digits, but up to 8.3e-7 away from what A1111's NV setting computes.
Not checked here: equality with torch's CUDA randn itself (needs an NVIDIA GPU; none was available).
Light: numpy only; `randn_tensor` imports torch when called.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

PHILOX_M0 = np.uint64(0xD2511F53)  # multiplies counter word 0
PHILOX_M1 = np.uint64(0xCD9E8D57)  # multiplies counter word 2
PHILOX_KEY_BUMP_0 = np.uint32(0x9E3779B9)  # golden ratio
PHILOX_KEY_BUMP_1 = np.uint32(0xBB67AE85)  # sqrt(3) - 1
PHILOX_ROUNDS = 10

_LOW_32 = np.uint64(0xFFFFFFFF)
_SHIFT_32 = np.uint64(32)


def _multiply_high_low(a: np.ndarray, b: np.uint64) -> tuple[np.ndarray, np.ndarray]:
    """The 64-bit product of two 32-bit words, split into its high and low 32-bit halves."""
    product = a.astype(np.uint64) * b
    return (product >> _SHIFT_32).astype(np.uint32), (product & _LOW_32).astype(np.uint32)


def philox4x32(counter: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Philox4x32-10 of `counter` (4 × n uint32) under `key` (2 × n uint32): 4 × n uint32 words."""
    counter = counter.copy()
    key = key.copy()
    for round_index in range(PHILOX_ROUNDS):
        if round_index:  # the key is bumped between rounds, not before the first
            key[0] += PHILOX_KEY_BUMP_0
            key[1] += PHILOX_KEY_BUMP_1
        high_0, low_0 = _multiply_high_low(counter[0], PHILOX_M0)
        high_1, low_1 = _multiply_high_low(counter[2], PHILOX_M1)
        counter = np.stack([high_1 ^ counter[1] ^ key[0], low_1, high_0 ^ counter[3] ^ key[1], low_0])
    return counter


def box_muller(word_0: np.ndarray, word_1: np.ndarray) -> np.ndarray:
    """One standard normal per pair of uint32 words: sqrt(−2 ln u)·sin(2π·v), rounded once to float32.

    u = w0·2⁻³² + 2⁻³³ and v = w1·2⁻³² + 2⁻³³ lie in (0, 1). Computed in float64 from all 32 bits of
    each word: the reference's test vector is this exact value to its printed 8 digits, while doing the
    same steps in float32 (words rounded to 24 bits first) misses it by up to 13 float32 ulps where
    sin(2πv) is small (measured; tests/sampling/test_sampling_nv_rng.py holds the vector).
    """
    radius_uniform = word_0.astype(np.float64) * 2.0**-32 + 2.0**-33
    angle = (word_1.astype(np.float64) * 2.0**-32 + 2.0**-33) * (2.0 * np.pi)
    return (np.sqrt(-2.0 * np.log(radius_uniform)) * np.sin(angle)).astype(np.float32)


# A1111's numpy port scales by float32-rounded constants (2.3283064e-10 and its product with 6.2831855)
# in float64 arithmetic (numpy promotes uint32 × float32 arrays to float64); its results differ from
# `box_muller` by up to 6 float32 ulps on the vector.
_PORT_INV = float(np.float32(2.3283064e-10))
_PORT_INV_2PI = float(np.float32(2.3283064e-10 * 6.2831855))


def box_muller_a1111_port(word_0: np.ndarray, word_1: np.ndarray) -> np.ndarray:
    """Box–Muller with the arithmetic of A1111's rng_philox.py, for images its "NV" setting made."""
    radius_uniform = word_0.astype(np.float64) * _PORT_INV + float(np.float32(_PORT_INV) / np.float32(2))
    angle = word_1.astype(np.float64) * _PORT_INV_2PI + float(np.float32(_PORT_INV_2PI) / np.float32(2))
    return (np.sqrt(-2.0 * np.log(radius_uniform)) * np.sin(angle)).astype(np.float32)


ARITHMETICS = {"exact": box_muller, "a1111-port": box_muller_a1111_port}


DEFAULT_ARITHMETIC = "a1111-port"  # what A1111's "NV" setting computes, bit for bit (module docstring)


class NVGenerator:
    """A seeded NV source: `randn(shape)` gives float32 normals and moves on to the next offset.

    `arithmetic`: "a1111-port" (default: A1111's NV setting bit for bit) or "exact" (the CUDA test
    vector to its printed digits, a few ulps away from A1111's port).
    """

    def __init__(self, seed: int, offset: int = 0, arithmetic: str = DEFAULT_ARITHMETIC) -> None:
        if arithmetic not in ARITHMETICS:
            raise ValueError(f"arithmetic must be one of {', '.join(ARITHMETICS)}, not {arithmetic!r}")
        self._box_muller = ARITHMETICS[arithmetic]
        seed = int(seed) & 0xFFFFFFFFFFFFFFFF
        self.seed = seed
        self.offset = int(offset)
        self._key = np.array([seed & 0xFFFFFFFF, seed >> 32], dtype=np.uint32)

    def randn(self, shape: Sequence[int]) -> np.ndarray:
        """Normals of `shape` (float32), the next call's continue where this one stopped."""
        count = int(np.prod(shape, dtype=np.int64))
        counter = np.zeros((4, count), dtype=np.uint32)
        counter[0] = self.offset & 0xFFFFFFFF
        counter[2] = np.arange(count, dtype=np.uint32)
        key = np.repeat(self._key[:, None], count, axis=1)
        self.offset += 1
        words = philox4x32(counter, key)
        return self._box_muller(words[0], words[1]).reshape(tuple(shape))

    def randn_tensor(self, shape: Sequence[int], device: Any = "cpu", dtype: Any = None) -> Any:
        """`randn` as a torch tensor (float32 unless `dtype` says otherwise)."""
        import torch

        values = torch.from_numpy(self.randn(shape))
        return values.to(device=device, dtype=dtype or torch.float32)
