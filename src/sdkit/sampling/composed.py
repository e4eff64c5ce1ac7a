"""Classifier-free guidance over A1111's composable prompts (`AND`), as its CFGDenoiser computes it.

Facts from A1111 v1.10's sd_samplers_cfg_denoiser.CFGDenoiser.forward and prompt_parser's
reconstruct_multicond_batch (checked by running them in a scratch harness; docs/samplers.md):
- one UNet batch holds, for image 0 then image 1 …, a row per sub-prompt, then the uncond row of every
  image; each row is the image's x at the image's σ (or timestep);
- sub-prompts of different token lengths are padded to the longest by repeating their last vector;
- when that length equals the negative prompt's, everything is one model call; otherwise the sub-prompt
  rows run in calls of 2 × images rows and the uncond rows in one more (A1111's batch_cond_uncond default);
- the outputs are combined per image in sub-prompt order, starting from a copy of the uncond output:
  result += (part − uncond)·(weight·scale), the product weight·scale taken first (in Python floats);
- uncond runs at every scale (A1111 has no scale-1 shortcut; its skip options are off by default).
`combine(sample, output)` turns a model output into what is guided (x₀ for k-diffusion samplers, ε for
DDIM/PLMS/UniPC: A1111 guides each in its own denoiser wrapper through the same CFGDenoiser).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import torch


def _padded(embeddings: torch.Tensor, tokens: int) -> torch.Tensor:
    missing = tokens - embeddings.shape[1]
    if missing <= 0:
        return embeddings
    return torch.cat([embeddings, embeddings[:, -1:].repeat(1, missing, 1)], dim=1)


def _rows(tensors: list[torch.Tensor], order: list[tuple[int, int]]) -> torch.Tensor:
    """Row `image` of tensor `part` for each (image, part) of `order`, stacked."""
    return torch.stack([tensors[part][image] for image, part in order])


def composed_guidance(unet: Callable[[torch.Tensor, torch.Tensor, Any], torch.Tensor], sample: torch.Tensor,
                      timesteps: torch.Tensor, combine: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                      composed: Any, uncond: Any, scale: float) -> torch.Tensor:
    """The guided result for `sample` (B images) under `composed` (a ComposedConditioning) and `uncond`."""
    parts = composed.parts
    images, count = sample.shape[0], len(parts)
    order = [(image, part) for image in range(images) for part in range(count)]
    tokens = max(part.embeddings.shape[1] for part in parts)
    hidden = _rows([_padded(part.embeddings, tokens) for part in parts], order)
    added = {key: _rows([part.added[key] for part in parts], order) for key in parts[0].added}
    cond = dataclasses.replace(parts[0], embeddings=hidden, added=added)
    x_rows = _rows([sample] * count, order)
    t_rows = _rows([timesteps] * count, order)
    if tokens == uncond.embeddings.shape[1]:
        both = dataclasses.replace(cond, embeddings=torch.cat([hidden, uncond.embeddings]),
                                   added={key: torch.cat([added[key], uncond.added[key]]) for key in added})
        outputs = unet(torch.cat([x_rows, sample]), torch.cat([t_rows, timesteps]), both)
    else:  # different lengths: the sub-prompt rows in calls of 2 × images, then uncond on its own
        size = 2 * images
        pieces = [unet(x_rows[start:start + size], t_rows[start:start + size],
                       dataclasses.replace(cond, embeddings=hidden[start:start + size],
                                           added={key: value[start:start + size] for key, value in added.items()}))
                  for start in range(0, len(order), size)]
        outputs = torch.cat([*pieces, unet(sample, timesteps, uncond)])
    guided_uncond = combine(sample, outputs[len(order):])
    result = guided_uncond.clone()
    for part, weight in enumerate(composed.weights):
        rows = [image * count + part for image in range(images)]
        result += (combine(sample, outputs[rows]) - guided_uncond) * (weight * scale)
    return result
