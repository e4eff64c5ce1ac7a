"""The second pass of A1111's hires fix for the SD engines (shared/reference/a1111-prompts.md §8).

The engine's `draw` runs the first pass (txt2img at width × height) with the output this module asks
for: latents for a latent mode, images for an image upscaler. Here the result is enlarged to the
target size, cropped where `--hires-size` has another aspect ratio, and redrawn by the img2img
pipeline over the same components: A1111's step count at the hires denoising strength, noise from
fresh generators seeded with the images' own seeds, the hires sampler, prompt and CFG scale where
given, prompt-editing steps counted from the end of the first pass.

Images are encoded by sdkit (the latent distribution's mean), not by the pipeline: diffusers would
first draw the encoder's sample from each image's generator, and the second pass's noise would no
longer be the first draw of a fresh generator, as it is in A1111.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from sdkit.plugin import Batch, GeneratedImage, Interrupted, StepEvents, Task, Txt2ImgParams, UserInputError

if TYPE_CHECKING:
    from sdkit.core.hires import HiresPass
    from sdkit.engines.sd.pipelines import LoadedModel

log = logging.getLogger(__name__)


def first_pass_output(hires: HiresPass) -> str:
    """The first pass's `output_type`: latents for a latent upscale, images for the others."""
    return "latent" if hires.latent_mode is not None else "pil"


def draw_second_pass(engine: Any, loaded: LoadedModel, batch: Batch, first: Any, events: StepEvents,
                     first_fields: dict[str, Any], embeddings: Any = None) -> list[GeneratedImage]:
    """Enlarge the first pass's `first` (latents or images) and redraw it; one image per seed.

    `embeddings` is the textual-inversion library the first pass used.
    """
    import torch

    from sdkit.core.hires import second_pass_schedule
    from sdkit.engines.sd.a1111 import runs_a1111
    from sdkit.engines.sd.noise import batch_variation, warn_unused_variation
    from sdkit.engines.sd.pipelines import noise_device, pipeline_for
    from sdkit.engines.sd.prompts import condition
    from sdkit.samplers import a1111_names, make_scheduler, resolve_sampler

    hires, params = batch.hires, batch.params
    assert hires is not None and isinstance(params, Txt2ImgParams)
    if events.should_stop():
        raise Interrupted("stopped by the user before the image was finished",
                          "finished images are kept; rerun with --seed to continue")
    pipeline = pipeline_for(loaded, engine.family, Task.IMG2IMG)
    latents = _enlarged_latents(pipeline, first, hires)
    resolved = resolve_sampler(hires.sampler, hires.schedule)
    sampler_label, schedule_label = a1111_names(resolved, loaded.scheduler_config)
    a1111 = runs_a1111(resolved, Task.IMG2IMG, second_pass=True)
    comfyui = resolved.comfyui_sampling
    own_fields: dict[str, Any] = {}
    if a1111 or comfyui:  # sdkit.sampling: exactly hires.steps steps of an int(steps / denoise)-step schedule
        from sdkit.engines.sd.a1111 import decode, prompt_steps, sample, text_conditions

        conditioning = condition(pipeline, engine.family.dual_text_encoder, hires.prompt, hires.negative_prompt,
                                 params.clip_skip, params.emphasis, prompt_steps(resolved, hires.steps),
                                 loaded.device, embeddings=embeddings, first_pass_steps=params.steps,
                                 composable=not comfyui)
        size = (latents.shape[-1] * pipeline.vae_scale_factor, latents.shape[-2] * pipeline.vae_scale_factor)
        conditions = text_conditions(pipeline, engine.family.dual_text_encoder, conditioning, len(batch.seeds),
                                     size, params.clip_skip, loaded.device)
        if comfyui:  # a second KSampler at the hires denoise, seeded as the first (ComfyUI's hires workflow)
            from sdkit.engines.sd.comfyui import sample as comfyui_sample
            from sdkit.engines.sd.comfyui_batch import comfyui_fields, noise_batch

            sampled = comfyui_sample(
                loaded, pipeline, resolved, conditions, batch=noise_batch(params, batch), cfg_scale=hires.cfg_scale,
                steps=hires.steps, size=size, events=events, init_latents=latents, denoise=hires.denoise,
                before=params.steps)
            own_fields = {f"Hires {key}": value for key, value in comfyui_fields(resolved).items()
                          if first_fields.get(key) != value}
        else:
            sampled = sample(loaded, pipeline, resolved, conditions, seeds=list(batch.seeds), rng=params.rng,
                             cfg_scale=hires.cfg_scale, steps=hires.steps, size=size, events=events,
                             init_latents=latents, strength=hires.denoise, exact_steps=True, before=params.steps,
                             ensd=params.ensd, variation=batch_variation(params, batch, pipeline.vae_scale_factor))
        images = decode(pipeline, sampled)
    else:
        pipeline.scheduler = make_scheduler(resolved, loaded.scheduler_config)
        length, strength = second_pass_schedule(hires.steps, hires.denoise)
        _check_schedule(pipeline.scheduler, hires, length, strength, sampler_label, schedule_label)
        conditioning = condition(pipeline, engine.family.dual_text_encoder, hires.prompt, hires.negative_prompt,
                                 params.clip_skip, params.emphasis, hires.steps, loaded.device,
                                 embeddings=embeddings, first_pass_steps=params.steps)
        generators = [torch.Generator(noise_device(params.rng, loaded)).manual_seed(seed) for seed in batch.seeds]
        warn_unused_variation(params, batch, f"the hires pass on diffusers' {type(pipeline.scheduler).__name__}")
        call: dict[str, Any] = {
            "image": latents, "strength": strength, "num_inference_steps": length,
            "guidance_scale": hires.cfg_scale, "clip_skip": params.clip_skip - 1 if params.clip_skip > 1 else None,
        }
        images = engine.sample(pipeline, call, conditioning, generators, events, hires.steps,
                               before=params.steps).images
    fields = {**first_fields, **conditioning.fields, **own_fields}
    from sdkit.engines.sd.pipelines import DIFFUSERS_HIRES_SCHEDULER_KEY, DIFFUSERS_SCHEDULER_KEY
    from sdkit.samplers.recorded import COMFYUI_SAMPLER_KEY

    hires_class = None if a1111 or comfyui else type(pipeline.scheduler).__name__
    if hires_class != first_fields.get(DIFFUSERS_SCHEDULER_KEY):  # said once when both passes ran on one class
        fields[DIFFUSERS_HIRES_SCHEDULER_KEY] = hires_class or ("none (ComfyUI's sampling)" if comfyui
                                                                else "none (A1111's sampling)")
    # After a ComfyUI first pass, a hires pass named otherwise says so even with the same labels.
    named_apart = not comfyui and COMFYUI_SAMPLER_KEY in first_fields
    if named_apart or sampler_label != first_fields.get("Sampler"):
        fields["Hires sampler"] = sampler_label
    if named_apart or schedule_label != first_fields.get("Schedule type"):
        fields["Hires schedule type"] = schedule_label
    return [GeneratedImage(image, dict(fields)) for image in images]


def _check_schedule(scheduler: Any, hires: HiresPass, length: int, strength: float, sampler: str,
                    schedule: str) -> None:
    """The model's limits on the second pass's schedule, named in the hires options' terms."""
    from sdkit.engines.sd.limits import check_steps, check_timesteps

    try:
        check_steps(scheduler, length)
        check_timesteps(scheduler, length, sampler, schedule, strength)
    except UserInputError as error:
        raise UserInputError(
            f"the hires pass runs {hires.steps} steps at denoising strength {hires.denoise:g}, from a schedule "
            f"of {length} steps (A1111's rule: steps / strength), which this model cannot run: {error.message}",
            "lower --hires-steps or raise --hires-denoise") from None


def _enlarged_latents(pipeline: Any, first: Any, hires: HiresPass) -> Any:
    """The first pass at the target size, as latents (cropped to `--hires-size`'s aspect ratio)."""
    import torch

    factor = pipeline.vae_scale_factor
    columns, rows = hires.size.latent_size(factor)
    if hires.latent_mode is not None:
        mode, antialias = hires.latent_mode
        # In fp32: CPU half precision lacks some modes, and the latents are small.
        latents = torch.nn.functional.interpolate(first.float(), size=(rows, columns), mode=mode,
                                                  antialias=antialias).to(first.dtype)
    else:
        size = (columns * factor, rows * factor)
        from sdkit.engines.sd.latents import encode_images

        latents = encode_images(pipeline, [_enlarged_image(image, size, hires) for image in first])
    crop_columns, crop_rows = hires.size.crop(factor)
    if crop_columns or crop_rows:  # A1111 cuts the excess from both sides, the odd cell from the end
        latents = latents[:, :, crop_rows // 2:rows - (crop_rows + 1) // 2,
                          crop_columns // 2:columns - (crop_columns + 1) // 2]
    return latents


def _enlarged_image(image: Any, size: tuple[int, int], hires: HiresPass) -> Any:
    from PIL import Image

    if hires.upscale_image is not None:
        enlarged = hires.upscale_image(image, size)
        if enlarged.size != size:  # the run layer's callable promises the size; a plugin's may not
            enlarged = enlarged.resize(size, Image.Resampling.LANCZOS)
        return enlarged.convert("RGB")
    resample = Image.Resampling.NEAREST if hires.resize == "nearest" else Image.Resampling.LANCZOS
    return image.convert("RGB").resize(size, resample)
