"""A diffusers UNet2DConditionModel as the denoiser A1111 samples with (reference §10), and its decode.

`UNetDenoiser(x, σ)` returns the x₀ estimate with classifier-free guidance:
- the UNet sees x / sqrt(σ² + 1) at the fractional timestep t(σ) (`SigmaTable.sigma_to_t`, no rounding);
- ε-models: denoised = x − σ·ε; v-models: denoised = x/(σ² + 1) − v·σ/sqrt(σ² + 1);
- cond and uncond run in one batch, cond images first (A1111's order), or as two calls when their token
  lengths differ; denoised = uncond + (cond − uncond)·scale; at scale 1 only cond runs;
- A1111's composable prompts (`AND`, a `ComposedConditioning` as cond) are guided by `sampling.composed`;
  a prompt without AND never goes there (its arithmetic is the line above);
- SDXL's `added_cond_kwargs` (text_embeds, time_ids) travel with each conditioning;
- `concat` (9-channel inpainting UNets): mask and masked-image latents after the scaled input;
- `conditioning(call_index)` may change per model call: A1111's CFGDenoiser counts model evaluations
  (0-based), not sampler steps, so a prompt schedule for a second-order sampler spans 2 × steps calls.
`predict_eps(x, timestep)` is the same for A1111's timestep samplers, on ε (v turned into ε with the ldm
model's float32 sqrt(ᾱ) and sqrt(1 − ᾱ), `SigmaTable.v_to_eps_coefficients`), with CFG on ε.
`with_schedule(table, prediction_type, output_scaling)`: the same UNet and prompts under another
denoiser wrapper, as A1111's LCM has one (its own σ ↔ t, ε always, a consistency scaling of each
output before CFG: `samplers_extra.lcm_denoiser`).

`decode_truncated(vae, latents)`: clamp((VAE(latents/scaling_factor) + 1)/2, 0, 1), then uint8 by
truncation as A1111 does (diffusers rounds).
Not here: A1111's "skip early cond", s_min_uncond and negative-prompt padding options (all off by default).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from sdkit.sampling.composed import composed_guidance
from sdkit.sampling.sigmas import SigmaTable


@dataclass(frozen=True)
class Conditioning:
    """Text conditioning for a batch: hidden states (B, tokens, width) and SDXL's added conditions."""

    embeddings: torch.Tensor
    added: Mapping[str, torch.Tensor] = field(default_factory=dict)


@dataclass(frozen=True)
class ComposedConditioning:
    """A1111's composable prompt (`AND`): one conditioning per sub-prompt, each for the whole batch, and
    its weight; denoised = uncond + Σᵢ (condᵢ − uncond)·(wᵢ·scale), added in sub-prompt order."""

    parts: tuple[Conditioning, ...]
    weights: tuple[float, ...]


ConditioningPair = tuple[Conditioning | ComposedConditioning, Conditioning | None]  # uncond None: no CFG


class UNetDenoiser:
    """Call as `denoise(x, sigma)`; `calls` counts model evaluations (A1111's step counter)."""

    def __init__(self, unet: Any, table: SigmaTable, conditioning: ConditioningPair | Callable[[int], ConditioningPair],
                 *, cfg_scale: float = 7.0, prediction_type: str | None = None) -> None:
        self.unet = unet
        self.table = table
        self.cfg_scale = float(cfg_scale)
        self.prediction_type = prediction_type or "epsilon"
        if self.prediction_type not in ("epsilon", "v_prediction"):
            raise ValueError(f"prediction_type {self.prediction_type!r}: A1111 samples epsilon and v_prediction")
        self._conditioning = conditioning
        self.calls = 0
        # A 9-channel inpainting UNet's extra input (mask, masked-image latents; B images), put after the
        # scaled x of every call, as diffusers' inpaint pipeline does. None for ordinary UNets.
        self.concat: torch.Tensor | None = None
        # The UNet's device and dtype, read once: diffusers' `ModelMixin.device` walks every submodule
        # (its group-offload check) and `.dtype` every parameter, ~5-10 ms a call on CPU, which was most
        # of the A1111 path's per-step cost outside the model (docs/performance.md).
        self._placement: tuple[Any, torch.dtype] | None = None
        # The last (cond, uncond) pair and their joined batch, so a constant prompt is concatenated once.
        self._joined: tuple[ConditioningPair, Conditioning] | None = None
        # (σ, denoised, x) -> denoised, applied to each model output before CFG (A1111's LCM wrapper).
        self.output_scaling: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor] | None = None

    def with_schedule(self, table: Any, *, prediction_type: str | None = None,
                      output_scaling: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor] | None = None
                      ) -> UNetDenoiser:
        """A copy on another σ table (anything with `sigma_to_t`), prediction type and output scaling."""
        variant = copy.copy(self)
        variant.table = table
        variant.prediction_type = prediction_type or self.prediction_type
        variant.output_scaling = output_scaling
        return variant

    def _unet_placement(self) -> tuple[Any, torch.dtype]:
        if self._placement is None:
            self._placement = (self.unet.device, self.unet.dtype)
        return self._placement

    def _joined_conditioning(self, cond: Conditioning, uncond: Conditioning) -> Conditioning:
        if self._joined is None or self._joined[0][0] is not cond or self._joined[0][1] is not uncond:
            joined = Conditioning(torch.cat([cond.embeddings, uncond.embeddings]),
                                  {key: torch.cat([cond.added[key], uncond.added[key]]) for key in cond.added})
            self._joined = ((cond, uncond), joined)
        return self._joined[1]

    def _pair(self) -> ConditioningPair:
        pair = self._conditioning(self.calls) if callable(self._conditioning) else self._conditioning
        cond, uncond = pair
        if isinstance(cond, ComposedConditioning):  # A1111 runs uncond for AND whatever the scale
            return cond, uncond
        return (cond, None) if self.cfg_scale == 1.0 else (cond, uncond)

    def _unet(self, sample: torch.Tensor, timesteps: torch.Tensor, conditioning: Conditioning) -> torch.Tensor:
        device, dtype = self._unet_placement()
        if self.concat is not None:  # cond and uncond halves each get the same extra channels
            extra = self.concat.to(sample.device, sample.dtype)
            sample = torch.cat([sample, extra.repeat(sample.shape[0] // extra.shape[0], 1, 1, 1)], dim=1)
        added = {key: value.to(device, dtype) for key, value in conditioning.added.items()}
        output = self.unet(sample.to(device, dtype), timesteps.to(device),
                           encoder_hidden_states=conditioning.embeddings.to(device, dtype),
                           added_cond_kwargs=added or None, return_dict=False)[0]
        return output.to(sample.device, torch.float32)

    def _guided_outputs(self, sample: torch.Tensor, timesteps: torch.Tensor,
                        combine: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """Run cond (and uncond) and combine each model output into the result with `combine`."""
        cond, uncond = self._pair()
        self.calls += 1
        images = sample.shape[0]
        if isinstance(cond, ComposedConditioning):
            return composed_guidance(self._unet, sample, timesteps, combine, cond, uncond, self.cfg_scale)
        if uncond is None:
            return combine(sample, self._unet(sample, timesteps, cond))
        if cond.embeddings.shape[1:] == uncond.embeddings.shape[1:]:
            joined = self._joined_conditioning(cond, uncond)
            both = self._unet(torch.cat([sample, sample]), torch.cat([timesteps, timesteps]), joined)
            cond_out, uncond_out = combine(sample, both[:images]), combine(sample, both[images:])
        else:  # different token lengths: two passes, no padding (A1111's default)
            cond_out = combine(sample, self._unet(sample, timesteps, cond))
            uncond_out = combine(sample, self._unet(sample, timesteps, uncond))
        return uncond_out + (cond_out - uncond_out) * self.cfg_scale

    def model_outputs(self, sample: torch.Tensor, timesteps: torch.Tensor, *, uncond_first: bool = False
                      ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The UNet's raw (cond, uncond) outputs for `sample`, uncond None when CFG is off; one model call.

        Cond and uncond share one batch when their token lengths match: cond images first (A1111's order)
        or, with `uncond_first`, uncond first (ComfyUI's `calc_cond_batch` order).
        """
        cond, uncond = self._pair()
        self.calls += 1
        images = sample.shape[0]
        if uncond is None:
            return self._unet(sample, timesteps, cond), None
        if cond.embeddings.shape[1:] != uncond.embeddings.shape[1:]:
            return self._unet(sample, timesteps, cond), self._unet(sample, timesteps, uncond)
        first, second = (uncond, cond) if uncond_first else (cond, uncond)
        both = self._unet(torch.cat([sample, sample]), torch.cat([timesteps, timesteps]),
                          self._joined_conditioning(first, second))
        if uncond_first:
            return both[images:], both[:images]
        return both[:images], both[images:]

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        sigma = torch.as_tensor(sigma, dtype=torch.float32)
        c_in = 1 / (sigma**2 + 1) ** 0.5
        timesteps = self.table.sigma_to_t(sigma).reshape(1).expand(x.shape[0]).contiguous()

        def denoised_from(x_unscaled: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
            if self.prediction_type == "v_prediction":
                denoised = x_unscaled * (1 / (sigma**2 + 1)) + output * (-sigma / (sigma**2 + 1) ** 0.5)
            else:
                denoised = x_unscaled + output * -sigma
            if self.output_scaling is not None:
                return self.output_scaling(sigma, denoised, x_unscaled)
            return denoised

        scaled = x * c_in
        return self._guided_outputs(scaled, timesteps, lambda _sample, output: denoised_from(x, output))

    def predict_eps(self, x: torch.Tensor, timestep: int) -> torch.Tensor:
        """ε at integer `timestep` (A1111's DDIM), CFG applied to ε."""
        timesteps = torch.full((x.shape[0],), float(timestep), dtype=torch.float32)
        # A fractional timestep (UniPC's) reads the coefficients at its integer part, as A1111 indexes them.
        alpha_root, one_minus_alpha_root = self.table.v_to_eps_coefficients(int(timestep))

        def eps_from(sample: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
            if self.prediction_type == "v_prediction":
                return alpha_root * output + one_minus_alpha_root * sample
            return output

        return self._guided_outputs(x, timesteps, eps_from)


def decode_truncated(vae: Any, latents: torch.Tensor) -> list[np.ndarray]:
    """Decode latents to uint8 HWC images the way A1111 does: clamp, ×255, cast down (truncation)."""
    scaling = float(vae.config.scaling_factor)
    shift = getattr(vae.config, "shift_factor", None)
    latents = latents.to(vae.device, vae.dtype) / scaling
    if shift:  # SD 3/Flux-style VAEs; SD 1.x/2.x/XL have none
        latents = latents + shift
    with torch.inference_mode():
        decoded = vae.decode(latents, return_dict=False)[0].float()
    pixels = torch.clamp((decoded + 1.0) / 2.0, min=0.0, max=1.0)
    arrays = (255.0 * pixels.permute(0, 2, 3, 1)).cpu().numpy()
    return [image.astype(np.uint8) for image in arrays]
