"""Comparing what benchmarks made: a pixel hash per batch, PSNR, and the largest pixel difference.

One PSNR formula serves images and model outputs alike (`array_psnr`); they differ only in the peak:
255 for 8-bit images, the reference's own value range for outputs with no fixed scale (a UNet's noise
prediction). numpy is imported only when something is compared.
"""

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


def array_psnr(reference: Any, other: Any, peak: float | None = None) -> float:
    """Peak signal-to-noise ratio in dB of `other` against `reference`: arrays (or CPU tensors) of one shape.

    `peak` is the signal's full range: 255 for 8-bit pixels; None takes the reference's max - min, for
    values without a fixed scale. inf when the two are identical.
    """
    import numpy as np

    expected, actual = np.asarray(reference, dtype=np.float64), np.asarray(other, dtype=np.float64)
    if expected.shape != actual.shape:
        raise ValueError(f"cannot compare arrays of shapes {expected.shape} and {actual.shape}")
    mse = float(((expected - actual) ** 2).mean())
    if mse == 0:
        return math.inf
    if peak is None:
        peak = float(expected.max() - expected.min())
    return 10 * math.log10(peak**2 / mse)


def psnr(reference: Sequence[Any], other: Sequence[Any]) -> float:
    """PSNR in dB of a batch of PIL images against a reference batch (8-bit RGB; inf when identical).

    The squared error is averaged over every pixel channel of the whole batch.
    """
    import numpy as np

    if len(reference) != len(other):
        raise ValueError(f"cannot compare {len(reference)} images with {len(other)}")
    expected, actual = [], []
    for first, second in zip(reference, other, strict=True):
        a, b = _pixels(first), _pixels(second)
        if a.shape != b.shape:
            raise ValueError(f"cannot compare images of shapes {a.shape} and {b.shape}")
        expected.append(a.ravel())
        actual.append(b.ravel())
    return array_psnr(np.concatenate(expected), np.concatenate(actual), peak=255.0)


def max_difference(reference: Any, image: Any) -> int:
    """The largest difference of any pixel channel between two PIL images of one size, in 8-bit levels."""
    import numpy as np

    a, b = _pixels(reference).astype(np.int16), _pixels(image).astype(np.int16)
    if a.shape != b.shape:
        raise ValueError(f"cannot compare images of shapes {a.shape} and {b.shape}")
    return int(np.abs(a - b).max())
