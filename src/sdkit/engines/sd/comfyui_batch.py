"""ComfyUI's batches in the SD engine: the noise an image of a ComfyUI-named batch draws, and its infotext.

Under ComfyUI's sampler names (`ResolvedSampler.comfyui_sampling`, docs/samplers.md) a batch is drawn as
ComfyUI's KSampler draws one: its noise comes from one CPU generator seeded with the batch's seed, so
image i depends on its place in the batch. The run layer gives every image of such a batch the batch's
seed (`StableDiffusionEngine.batch_shares_seed`); here the places are chosen, and recorded, so that
`--from-image` can draw one image of a batch of four alone and get the same image:
- `noise_batch`: the batch sdkit.sampling draws its noise for (`sampling.comfyui.ComfyBatch`);
- `comfyui_fields`: the ComfyUI sampler and scheduler names that computed the image (the A1111 labels
  in "Sampler" and "Schedule type" stay, for the readers that know only those);
- `batch_fields`: the image's place in its ComfyUI batch, written when the batch holds more than one.
The keys are `samplers.recorded`'s, which `--from-image` reads.
"""

from __future__ import annotations

import logging
from typing import Any

from sdkit.core.errors import UserInputError
from sdkit.samplers.recorded import (
    COMFYUI_BATCH_INDEX_KEY,
    COMFYUI_BATCH_SIZE_KEY,
    COMFYUI_SAMPLER_KEY,
    COMFYUI_SCHEDULER_KEY,
)

log = logging.getLogger(__name__)


def noise_batch(params: Any, batch: Any) -> Any:
    """The ComfyUI batch this sdkit batch draws: its seed, size, and the places of the images drawn.

    Normally the batch itself (places 0..n-1); with `comfyui_batch_size` set (by `--from-image`), the
    images are places `comfyui_batch_index`.. of a batch of that size.
    """
    from sdkit.sampling.comfyui import ComfyBatch

    count = len(batch.seeds)
    size = params.comfyui_batch_size or count
    first = params.comfyui_batch_index if params.comfyui_batch_size else 0
    return ComfyBatch(seed=int(batch.seeds[0]), size=size, positions=tuple(range(first, first + count)))


def comfyui_fields(resolved: Any) -> dict[str, Any]:
    """The ComfyUI names of the sampler and scheduler (sdkit's ids are ComfyUI's names)."""
    return {COMFYUI_SAMPLER_KEY: resolved.id, COMFYUI_SCHEDULER_KEY: resolved.schedule}


def batch_fields(noise: Any, place: int) -> dict[str, Any]:
    """Image `place` of the sdkit batch: its place in the ComfyUI batch, when that batch has several."""
    if noise.size <= 1:
        return {}
    return {COMFYUI_BATCH_INDEX_KEY: noise.positions[place], COMFYUI_BATCH_SIZE_KEY: noise.size}


def check_comfyui_params(params: Any, batch: Any) -> None:
    """Refuse what ComfyUI's computation cannot do, and say what it leaves out.

    ComfyUI draws its noise on the CPU (NV is A1111's imitation of CUDA's randn), and has no ENSD,
    variation seeds or seed resize: those are A1111's, and are left out with a warning, as on diffusers.
    """
    if params.rng == "nv":
        raise UserInputError(
            f"--rng nv is A1111's noise source, but {params.sampler!r} is ComfyUI's sampler name, and ComfyUI "
            "draws its noise on the CPU",
            "drop --rng (or pass --rng cpu), or name the sampler as A1111 does to use NV noise")
    if batch.first_index != 0:
        return
    unused = [name for name, on in (("ENSD", params.ensd), ("variation seeds", params.variation_strength),
                                    ("seed resize", params.seed_resize_from_width or params.seed_resize_from_height))
              if on]
    if unused:
        log.warning("%s not used: A1111's, and %r is ComfyUI's sampler name (name it as A1111 does for them)",
                    " and ".join(unused) + (" are" if len(unused) > 1 else " is"), params.sampler)
    if params.rng == "device":
        log.info("--rng device: ComfyUI's initial noise is drawn on the CPU; sdkit draws all of it there")
