"""Comparing the images a benchmark made: a pixel hash per batch, and PSNR between two batches."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import Any


def _pixels(image: Any) -> Any:
    import numpy as np

    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def pixels_hash(images: Sequence[Any]) -> str:
    """SHA-256 over the RGB pixels (and sizes) of a batch of PIL images: equal hashes, equal pixels."""
    digest = hashlib.sha256()
    for image in images:
        pixels = _pixels(image)
        digest.update(repr(pixels.shape).encode())
        digest.update(pixels.tobytes())
    return digest.hexdigest()


def psnr(reference: Sequence[Any], other: Sequence[Any]) -> float:
    """Peak signal-to-noise ratio in dB of `other` against `reference` (8-bit images; inf when identical)."""
    import numpy as np

    if len(reference) != len(other):
        raise ValueError(f"cannot compare {len(reference)} images with {len(other)}")
    errors = []
    for first, second in zip(reference, other, strict=True):
        a, b = _pixels(first).astype(np.float64), _pixels(second).astype(np.float64)
        if a.shape != b.shape:
            raise ValueError(f"cannot compare images of shapes {a.shape} and {b.shape}")
        errors.append(((a - b) ** 2).mean())
    mse = float(np.mean(errors))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)
