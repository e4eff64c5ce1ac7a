"""The SD engine's A1111 path: a batch drawn by sdkit.sampling, as A1111 v1.10 samples it.

`engine.draw` and `hires.draw_second_pass` come here when the sampler was named in A1111's vocabulary
and sdkit.sampling implements it (`ResolvedSampler.a1111_sampling`, docs/samplers.md); every other name
stays on diffusers' schedulers. The components are the pipelines' own, so LoRAs made active on the UNet
and text encoders act here too. Per task (shared/reference/a1111-prompts.md §8, §10-11):
- txt2img: each image's noise from its own generator (`--rng`), x = noise × σ₀ (A1111's DDIM: x = noise);
- img2img: the init image's latent (VAE mean × scaling factor) + noise × the first sigma of A1111's
  step rule; the hires fix's second pass runs exactly its steps (`exact_steps`);
- inpaint: the mask as diffusers' inpaint pipeline prepares it (binarised, nearest to the latent
  size); the denoised estimate is held to the init latent outside the mask at every model call and
  the result once more at the end (A1111's init·(1 − mask) + x·mask), for 9-channel inpainting UNets
  too (A1111 sets the mask whatever the model), which also get the mask and the masked image's
  latents after their input, as diffusers does;
- the prompt per model call (A1111 counts calls: 2 × steps for second-order samplers), CFG by
  `sampling.denoiser.UNetDenoiser`; progress after each step, and a stop request ends the batch;
- decode with A1111's uint8 truncation (`decode_truncated`).
A1111's timestep samplers (DDIM, PLMS, UniPC) run for every task too: img2img starts from the init
latent noised to ᾱ of A1111's timestep, and inpaint's mask acts on the model's input (x blended with
the init latent before each call, A1111's `mask_before_denoising` for them), then the final blend.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sdkit.plugin import Interrupted, StepEvents, Task

if TYPE_CHECKING:
    from sdkit.engines.sd.pipelines import LoadedModel
    from sdkit.samplers import ResolvedSampler

log = logging.getLogger(__name__)

TIMESTEP_SAMPLERS = ("ddim", "plms", "uni_pc")  # sampling.timesteps.TIMESTEP_SAMPLERS, without torch


def runs_a1111(resolved: ResolvedSampler, task: Task, second_pass: bool = False) -> bool:
    """Whether this draw goes through sdkit.sampling (else diffusers' scheduler for the same name).

    Every task and pass does when the name is A1111's and sdkit.sampling has the sampler.
    """
    return resolved.a1111_sampling


def prompt_steps(resolved: ResolvedSampler, steps: int) -> int:
    """The step count A1111 builds the prompt schedule over (2 × steps for second-order samplers)."""
    from sdkit.sampling.run import prompt_schedule_steps

    return prompt_schedule_steps(resolved.id, steps)


def sigma_table(loaded: LoadedModel) -> Any:
    """The model's σ table (built once per loaded model)."""
    from sdkit.sampling.sigmas import SigmaTable

    if loaded.sigma_table is None:
        loaded.sigma_table = SigmaTable.from_scheduler_config(loaded.scheduler_config)
    return loaded.sigma_table


def text_conditions(pipeline: Any, dual_encoder: bool, conditioning: Any, images: int, size: tuple[int, int],
                    clip_skip: int, device: Any) -> Callable[[int], Any]:
    """(cond, uncond) for 0-based model call `n`, each repeated for the batch's images.

    A plain prompt (`conditioning.embeddings` empty) is encoded by the pipeline, as on the diffusers path.
    A composable prompt (`conditioning.parts`, A1111's AND) gives a `ComposedConditioning` of its parts'
    conds, each found as for a prompt of its own, and the first part's uncond (all are the same).
    SDXL's added conditions: the pooled embedding and the size ids (original = target = the pass's size,
    no crop), as its pipelines build them.
    """
    import torch

    from sdkit.engines.sd.prompts import step_index_for_model_call
    from sdkit.sampling.denoiser import ComposedConditioning, Conditioning

    if conditioning.parts:  # A1111's AND: each sub-prompt's own (cond, uncond) per call, one uncond
        each = {id(part): text_conditions(pipeline, dual_encoder, part, images, size, clip_skip, device)
                for part, _ in conditioning.parts}
        weights = tuple(weight for _, weight in conditioning.parts)

        def composed_for_call(call: int) -> Any:
            pairs = [each[id(part)](call) for part, _ in conditioning.parts]
            return ComposedConditioning(tuple(cond for cond, _ in pairs), weights), pairs[0][1]

        return composed_for_call
    if not conditioning.embeddings:
        with torch.inference_mode():
            encoded = pipeline.encode_prompt(
                prompt=conditioning.prompt_text, negative_prompt=conditioning.negative_text, device=device,
                num_images_per_prompt=1, do_classifier_free_guidance=True,
                clip_skip=clip_skip - 1 if clip_skip > 1 else None)
        options = [tuple(encoded) if dual_encoder else (*encoded, None, None)]
        per_step = [0]
    else:
        options = [(item.prompt, item.negative, item.pooled, item.negative_pooled) for item in conditioning.embeddings]
        per_step = conditioning.per_step
    width, height = size
    time_ids = torch.tensor([[height, width, 0, 0, height, width]], dtype=torch.float32).repeat(images, 1)

    def batched(hidden: Any, pooled: Any) -> Conditioning:
        added = {"text_embeds": pooled.repeat(images, 1), "time_ids": time_ids} if dual_encoder else {}
        return Conditioning(hidden.repeat(images, 1, 1), added)

    pairs = [(batched(prompt, pooled), batched(negative, negative_pooled))
             for prompt, negative, pooled, negative_pooled in options]

    def for_call(call: int) -> Any:
        return pairs[per_step[step_index_for_model_call(call, len(per_step))]]

    return for_call


class MaskedDenoiser:
    """A1111's CFG denoiser with an inpaint mask: outside the mask the estimate is the init latent."""

    def __init__(self, inner: Any, init_latents: Any, mask: Any) -> None:
        self.inner, self.init_latents, self.mask = inner, init_latents, mask

    def __call__(self, x: Any, sigma: Any) -> Any:
        return self.init_latents * (1 - self.mask) + self.inner(x, sigma) * self.mask

    def predict_eps(self, x: Any, timestep: float) -> Any:
        """A1111's timestep samplers blend before the model instead: its input x is the init latent outside."""
        return self.inner.predict_eps(self.init_latents * (1 - self.mask) + x * self.mask, timestep)


def step_progress(events: StepEvents, before: int, after: int) -> Callable[[int, int], bool]:
    def callback(step: int, total: int) -> bool:
        events.step_finished(before + step, before + total + after)
        return events.should_stop()

    return callback


def stopped_by_user() -> Interrupted:
    return Interrupted("stopped by the user before the image was finished",
                       "finished images are kept; rerun with --seed to continue")


def inpaint_inputs(pipeline: Any, image: Any, mask_image: Any, images: int, size: tuple[int, int]
                    ) -> tuple[Any, Any, Any]:
    """(init latents, latent mask, 9-channel extras or None) from the init image and the mask."""
    import torch

    from sdkit.engines.sd.latents import encode_pixels

    width, height = size
    pixels = pipeline.image_processor.preprocess(image, height=height, width=width)
    mask = pipeline.mask_processor.preprocess(mask_image, height=height, width=width).to(torch.float32)
    init_latents = encode_pixels(pipeline, pixels).to(torch.float32)
    factor = pipeline.vae_scale_factor
    latent_mask = torch.nn.functional.interpolate(mask, size=(height // factor, width // factor))
    extras = None
    if int(pipeline.unet.config.in_channels) == 9:
        masked = encode_pixels(pipeline, pixels * (mask < 0.5)).to(torch.float32)
        extras = torch.cat([latent_mask, masked], dim=1).repeat(images, 1, 1, 1)
    return init_latents.repeat(images, 1, 1, 1), latent_mask.repeat(images, 1, 1, 1), extras


def sample(loaded: LoadedModel, pipeline: Any, resolved: ResolvedSampler, conditions: Callable[[int], Any], *,
           seeds: list[int], rng: str, cfg_scale: float, steps: int, size: tuple[int, int], events: StepEvents,
           init_latents: Any = None, strength: float | None = None, inpaint: tuple[Any, Any] | None = None,
           exact_steps: bool = False, before: int = 0, after: int = 0, ensd: int = 0, variation: Any = None) -> Any:
    """The sampled latents (B, C, H/8, W/8), float32: txt2img, or img2img from `init_latents`.

    `inpaint` is (init image, mask image) at the output size; then the init latents come from it.
    """
    import torch

    from sdkit.sampling.denoiser import UNetDenoiser
    from sdkit.sampling.run import img2img_latents, sampler_denoiser, txt2img_latents

    table = sigma_table(loaded)
    prediction = loaded.scheduler_config.get("prediction_type") or "epsilon"
    denoiser = UNetDenoiser(pipeline.unet, table, conditions, cfg_scale=cfg_scale, prediction_type=prediction)
    denoiser = sampler_denoiser(resolved.id, denoiser, table)  # LCM's own wrapper, before any inpaint mask
    callback = step_progress(events, before, after)
    width, height = size
    factor = pipeline.vae_scale_factor
    noise_device = loaded.device if rng == "device" else "cpu"
    arguments: dict[str, Any] = dict(table=table, steps=steps, seeds=seeds, schedule=resolved.schedule, rng=rng,
                                     callback=callback, noise_device=noise_device, ensd=ensd, variation=variation)
    mask = None
    with torch.inference_mode():
        if inpaint is not None:
            init_latents, mask, extras = inpaint_inputs(pipeline, *inpaint, len(seeds), size)
            denoiser.concat = extras
            # A1111 sets the latent mask whatever the UNet, so 9-channel inpainting models are blended too.
            model = MaskedDenoiser(denoiser, init_latents, mask)
            latents = img2img_latents(model, resolved.id, init_latents, strength=strength or 1.0, **arguments)
            latents = init_latents * (1 - mask) + latents * mask
        elif init_latents is not None:
            latents = img2img_latents(denoiser, resolved.id, init_latents.to(torch.float32), strength=strength or 1.0,
                                      exact_steps=exact_steps, **arguments)
        else:
            shape = (int(pipeline.vae.config.latent_channels), height // factor, width // factor)
            latents = txt2img_latents(denoiser, resolved.id, latent_shape=shape, **arguments)
    if events.should_stop():
        raise stopped_by_user()
    return latents


def decode(pipeline: Any, latents: Any) -> list[Any]:
    """PIL images of the latents, decoded as A1111 does (uint8 by truncation)."""
    from PIL import Image

    from sdkit.sampling.denoiser import decode_truncated

    return [Image.fromarray(array) for array in decode_truncated(pipeline.vae, latents)]
