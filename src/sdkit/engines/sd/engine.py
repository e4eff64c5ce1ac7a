"""`StableDiffusionEngine`: txt2img, img2img and inpaint for one Stable Diffusion family on diffusers.

A loaded model keeps one set of components; the pipelines of the three tasks are thin views over
those same components (`pipelines.py`), so switching task never reloads weights. The engine only
draws a batch: sdkit's run layer resolved the seeds, opened the inputs and writes the files and the
common infotext. Heavy imports (torch, diffusers) happen inside `load` and `draw` only.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sdkit.engines.sd.families import SdFamily
from sdkit.engines.sd.pipelines import LoadedModel
from sdkit.plugin import (
    Batch,
    GeneratedImage,
    Img2ImgParams,
    InpaintParams,
    LoadOptions,
    Mode,
    ModelRef,
    SizeLimits,
    StepEvents,
    Task,
    Txt2ImgParams,
    UserInputError,
)

log = logging.getLogger(__name__)

BACKEND_KEY = "Backend"  # infotext: the UNet and VAE ran on OpenVINO (absent: torch)
SD_TASKS = frozenset({Task.TXT2IMG, Task.IMG2IMG, Task.INPAINT})

# Few-step distilled models need other steps, guidance and schedules than ordinary ones.
MODE_DEFAULTS: dict[Mode, dict[str, Any]] = {
    Mode.NORMAL: {"steps": 20, "cfg_scale": 7.0, "sampler": "automatic", "schedule": "automatic"},
    Mode.LCM: {"steps": 6, "cfg_scale": 1.5, "sampler": "lcm", "schedule": "sgm_uniform"},  # ComfyUI's LCM recipe
    Mode.TURBO: {"steps": 1, "cfg_scale": 0.0, "sampler": "euler_a", "schedule": "sgm_uniform"},
    Mode.LIGHTNING: {"steps": 4, "cfg_scale": 0.0, "sampler": "euler", "schedule": "sgm_uniform"},
}


class StableDiffusionEngine:
    """txt2img, img2img and inpaint for one Stable Diffusion family through diffusers."""

    tasks = SD_TASKS
    hires_fix = True  # draw() does A1111's two-pass hires fix for a Batch.hires (`hires.py`)

    def __init__(self, name: str, family: SdFamily, description: str, default_model: str | None = None) -> None:
        self.name = name
        self.family = family
        self.families = frozenset({family.key})
        self.description = description
        self.modes = family.modes
        self.default_model = default_model

    # -- description (no torch) ---------------------------------------------------------------
    def defaults(self, task: Task, mode: Mode) -> Mapping[str, Any]:
        size = self.family.default_size
        values: dict[str, Any] = {"width": size, "height": size, **MODE_DEFAULTS[mode]}
        if task is Task.IMG2IMG:
            values["strength"] = 0.75 if mode is Mode.NORMAL else 0.5
        if task is Task.INPAINT:
            values["strength"] = 1.0
        return values

    def model_defaults(self, ref: ModelRef, task: Task, mode: Mode) -> Mapping[str, Any]:
        """The model's own native size beats the family's (SD 2.x 512 vs 768, the tiny demo model)."""
        from sdkit.models.detect import native_size

        fallback = self.family.default_size
        if self.family.key == "sd2" and ref.prediction_type == "epsilon":
            fallback = 512  # SD 2.x base models (epsilon) are 512² models; the 768² ones predict v
        folder = ref.path
        size = native_size(folder) if folder is not None and folder.is_dir() else None
        return {"width": size or fallback, "height": size or fallback}

    def size_limits(self, task: Task) -> SizeLimits:
        return self.family.limits

    def batch_shares_seed(self, params: Any) -> bool:
        """ComfyUI's sampler names draw a batch's noise from the batch's one seed (docs/samplers.md)."""
        from sdkit.core.errors import SdkitError
        from sdkit.samplers import resolve_sampler

        try:
            return resolve_sampler(params.sampler, params.schedule).comfyui_sampling
        except SdkitError:  # reported with its hint when the batch is drawn
            return False

    def check_run(self, model: ModelRef | None, params: Any, sampler: Any) -> None:
        """What `draw` would refuse on this model, checked from its config files when the run is planned.

        Only diffusers' schedulers have these limits: sdkit.sampling (A1111's or ComfyUI's method) takes
        any step count and always runs at least one img2img step.
        """
        from sdkit.engines.sd.limits import check_strength, planned_step_limit, refuse_steps

        own_sampling = getattr(sampler, "a1111_sampling", False) or getattr(sampler, "comfyui_sampling", False)
        if sampler is None or own_sampling or not isinstance(params, Txt2ImgParams):
            return
        maximum, reason, model_scheduler = planned_step_limit(model.path if model is not None else None, sampler.id)
        if params.steps > maximum:
            scheduler_name = sampler.spec.scheduler_class if sampler.spec is not None else model_scheduler
            refuse_steps(params.steps, maximum, reason, scheduler_name or None)
        if isinstance(params, Img2ImgParams):
            check_strength(params.steps, params.strength, params.task.value, maximum)

    # -- loading ------------------------------------------------------------------------------
    def load(self, model: ModelRef | None, options: LoadOptions) -> LoadedModel:
        from sdkit.models import load_components
        from sdkit.runtime.device import choose_device, choose_dtype, dtype_label
        from sdkit.runtime.logs import quiet_ml_libraries
        from sdkit.runtime.placement import place_components

        if model is None:
            raise UserInputError(f"engine {self.name!r} needs a model", "pass --model")
        quiet_ml_libraries()
        from sdkit.engines.openvino import apply_backend, openvino_load_dtype

        device_name, dtype_name = openvino_load_dtype(options.backend, options.device, options.dtype)
        device = choose_device(device_name)
        dtype = choose_dtype(dtype_name, device)
        log.info("loading %s (%s, %s) on %s as %s", model.name, model.format, model.family, device, dtype_label(dtype))
        components = load_components(model, torch_dtype=dtype, vae=options.vae)
        place_components(components, device, dtype, cpu_offload=options.cpu_offload)
        backend = apply_backend(components, model, options, device, dtype)  # torch, or OpenVINO stand-ins
        scheduler_config = dict(components["scheduler"].config)
        return LoadedModel(model, components, device, dtype, options, scheduler_config, backend=backend)

    # -- drawing ------------------------------------------------------------------------------
    def draw(self, loaded: LoadedModel, batch: Batch, events: StepEvents) -> list[GeneratedImage]:
        images = self._draw_batch(loaded, batch, events)
        if loaded.backend.ran_openvino():
            # The image equals the torch backend's within fp32 rounding, not bit for bit: say which made it.
            for image in images:
                image.infotext[BACKEND_KEY] = "OpenVINO"
        return images

    def _draw_batch(self, loaded: LoadedModel, batch: Batch, events: StepEvents) -> list[GeneratedImage]:
        import torch

        from sdkit.engines.sd.a1111 import runs_a1111
        from sdkit.engines.sd.limits import check_clip_skip, check_steps, check_strength, check_timesteps
        from sdkit.engines.sd.noise import initial_noise, warn_unused_variation
        from sdkit.engines.sd.pipelines import DIFFUSERS_SCHEDULER_KEY, noise_device, pipeline_for
        from sdkit.engines.sd.prompts import condition
        from sdkit.samplers import a1111_names, make_scheduler, resolve_sampler

        params = batch.params
        assert isinstance(params, Txt2ImgParams)
        task = params.task
        if task is not Task.INPAINT and loaded.ref.inpainting:
            raise UserInputError(f"{loaded.ref.name} is an inpainting model; it can only inpaint",
                                 "use --task inpaint with --image and --mask, or another model for txt2img/img2img")
        pipeline = pipeline_for(loaded, self.family, task)
        resolved = resolve_sampler(params.sampler, params.schedule)
        sampler_label, schedule_label = a1111_names(resolved, loaded.scheduler_config)
        a1111 = runs_a1111(resolved, task)
        comfyui = resolved.comfyui_sampling
        if comfyui:
            from sdkit.engines.sd.comfyui_batch import check_comfyui_params

            check_comfyui_params(params, batch)
        elif not a1111:  # diffusers' scheduler; A1111's own sampling (`a1111.py`) needs none of these limits
            pipeline.scheduler = make_scheduler(resolved, loaded.scheduler_config)
            # Values the run layer could only check in general, against this model's real limits.
            max_steps = check_steps(pipeline.scheduler, params.steps)
            strength = params.strength if isinstance(params, Img2ImgParams) else None
            if strength is not None:
                check_strength(params.steps, strength, task.value, max_steps)
            check_timesteps(pipeline.scheduler, params.steps, sampler_label, schedule_label, strength)
            if params.ensd and batch.first_index == 0:
                log.warning("ENSD %d is not used: it acts under A1111's sampler names (sdkit.sampling), not on "
                            "diffusers' %s", params.ensd, type(pipeline.scheduler).__name__)
            if params.rng == "nv" and (resolved.spec is None or resolved.spec.stochastic or task is not Task.TXT2IMG):
                log.info("--rng nv gives the initial noise only; diffusers' %s draws its other noise from CPU "
                         "generators (A1111's sampler names run A1111's sampling, NV throughout)", sampler_label)
        check_clip_skip(pipeline, params.clip_skip, self.family.dual_text_encoder)
        lora_fields = _apply_loras(loaded, pipeline, params)
        if a1111 or comfyui:
            return self._draw_own_sampling(loaded, pipeline, batch, resolved, events,
                                           {"Sampler": sampler_label, "Schedule type": schedule_label, **lora_fields})

        call = self._task_arguments(params, batch)
        # A1111's prompt language (weights, BREAK, chunks, prompt editing) is read by sdkit; a prompt
        # without any of it is encoded by the pipeline itself, exactly as plain diffusers does.
        embeddings = _embedding_library()  # one folder listing per batch, for both hires passes
        conditioning = condition(pipeline, self.family.dual_text_encoder, params.prompt, params.negative_prompt,
                                 params.clip_skip, params.emphasis, params.steps, loaded.device,
                                 embeddings=embeddings)

        if task is Task.TXT2IMG:
            call["latents"], generators = initial_noise(pipeline, params, batch, loaded)
        else:
            generators = [torch.Generator(noise_device(params.rng, loaded)).manual_seed(seed) for seed in batch.seeds]
            warn_unused_variation(params, batch, f"{task.value} on diffusers' {type(pipeline.scheduler).__name__}")
        hires = batch.hires
        if hires is not None:  # the first pass of A1111's hires fix; `hires.py` draws the second
            from sdkit.engines.sd.hires import draw_second_pass, first_pass_output

            call["output_type"] = first_pass_output(hires)
        result = self.sample(pipeline, call, conditioning, generators, events, params.steps,
                             after=hires.steps if hires is not None else 0)
        # Which diffusers class computed it: A1111's sampler labels alone would mean A1111's sampling to a
        # reader (and to --from-image, which then names the sampler by its sdkit id).
        fields = {"Sampler": sampler_label, "Schedule type": schedule_label,
                  DIFFUSERS_SCHEDULER_KEY: type(pipeline.scheduler).__name__, **lora_fields, **conditioning.fields}
        if hires is not None:
            return draw_second_pass(self, loaded, batch, result.images, events, fields, embeddings)
        return [GeneratedImage(image, dict(fields)) for image in result.images]

    def _draw_own_sampling(self, loaded: LoadedModel, pipeline: Any, batch: Batch, resolved: Any,
                           events: StepEvents, fields: dict[str, Any]) -> list[GeneratedImage]:
        """The batch through sdkit.sampling: A1111's (`a1111.py`) or ComfyUI's (`comfyui.py`) steps, noise,
        CFG, with A1111's decode (ComfyUI's VAEDecode + SaveImage truncate the same way)."""
        from sdkit.engines.sd.a1111 import decode, prompt_steps, sample, text_conditions
        from sdkit.engines.sd.inputs import init_image, inpaint_mask
        from sdkit.engines.sd.noise import batch_variation
        from sdkit.engines.sd.prompts import condition

        params = batch.params
        assert isinstance(params, Txt2ImgParams)
        size = (params.width, params.height)
        embeddings = _embedding_library()
        conditioning = condition(pipeline, self.family.dual_text_encoder, params.prompt, params.negative_prompt,
                                 params.clip_skip, params.emphasis, prompt_steps(resolved, params.steps),
                                 loaded.device, embeddings=embeddings, composable=not resolved.comfyui_sampling)
        conditions = text_conditions(pipeline, self.family.dual_text_encoder, conditioning, len(batch.seeds),
                                     size, params.clip_skip, loaded.device)
        task_inputs: dict[str, Any] = {}
        if isinstance(params, InpaintParams):
            mask = inpaint_mask(batch.images["mask"], size, params.mask_blur, params.mask,
                                announce=batch.first_index == 0)
            task_inputs = {"inpaint": (init_image(batch.images["image"], size), mask), "strength": params.strength}
        elif isinstance(params, Img2ImgParams):
            from sdkit.engines.sd.latents import encode_images

            image = init_image(batch.images["image"], size)
            task_inputs = {"init_latents": encode_images(pipeline, [image] * len(batch.seeds)),
                           "strength": params.strength}
        hires = batch.hires
        after = hires.steps if hires is not None else 0
        per_image: list[dict[str, Any]] = [{} for _ in batch.seeds]
        if resolved.comfyui_sampling:
            from sdkit.engines.sd.comfyui import sample as comfyui_sample
            from sdkit.engines.sd.comfyui_batch import batch_fields, comfyui_fields, noise_batch

            if "strength" in task_inputs:  # ComfyUI's KSampler calls it denoise
                task_inputs["denoise"] = task_inputs.pop("strength")
            noise = noise_batch(params, batch)
            latents = comfyui_sample(loaded, pipeline, resolved, conditions, batch=noise, cfg_scale=params.cfg_scale,
                                     steps=params.steps, size=size, events=events, after=after, **task_inputs)
            fields = {**fields, **conditioning.fields, **comfyui_fields(resolved)}
            per_image = [batch_fields(noise, place) for place in range(len(batch.seeds))]
        else:
            from sdkit.sampling.run import uses_ensd

            latents = sample(loaded, pipeline, resolved, conditions, seeds=list(batch.seeds), rng=params.rng,
                             cfg_scale=params.cfg_scale, steps=params.steps, size=size, events=events, after=after,
                             ensd=params.ensd, variation=batch_variation(params, batch, pipeline.vae_scale_factor),
                             **task_inputs)
            ensd = params.ensd if params.ensd and uses_ensd(resolved.id) else None  # A1111 records it for these only
            fields = {**fields, **conditioning.fields, "ENSD": ensd}
        if hires is not None:
            from sdkit.engines.sd.hires import draw_second_pass

            first = latents if hires.latent_mode is not None else decode(pipeline, latents)
            images = draw_second_pass(self, loaded, batch, first, events, fields, embeddings)
        else:
            images = [GeneratedImage(image, dict(fields)) for image in decode(pipeline, latents)]
        for image, extra in zip(images, per_image, strict=True):
            image.infotext.update(extra)
        return images

    def sample(self, pipeline: Any, call: dict[str, Any], conditioning: Any, generators: list[Any],
               events: StepEvents, steps: int, before: int = 0, after: int = 0) -> Any:
        """Run `pipeline` with the prompt's conditioning (swapped per step when scheduled) and step events.

        `before` and `after` are the steps of the other pass of the same images (the hires fix), so
        that progress counts through both.
        """
        import torch

        call["generator"] = generators
        images = len(generators)
        if not conditioning.embeddings:
            call.update(prompt=[conditioning.prompt_text] * images,
                        negative_prompt=[conditioning.negative_text] * images)
        else:
            call.update(conditioning.embeddings_for_step(1).pipeline_arguments(images), clip_skip=None)
        scheduled = len(set(conditioning.per_step)) > 1
        tensor_inputs = ["latents"]
        if scheduled:
            tensor_inputs += ["prompt_embeds"] + (["add_text_embeds"] if self.family.dual_text_encoder else [])

        def on_step_end(pipe: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
            done = getattr(pipe, "_num_timesteps", None) or steps
            events.step_finished(before + step + 1, before + done + after)
            if events.should_stop():
                pipe._interrupt = True  # diffusers' own way to end the loop after this step
            if scheduled:  # the next step's text (A1111 numbers steps from 1; `step` is 0-based and done)
                tensors.update(conditioning.embeddings_for_step(step + 2).step_tensors(
                    images, bool(pipe.do_classifier_free_guidance)))
            return tensors

        with torch.inference_mode():
            return pipeline(**call, callback_on_step_end=on_step_end,
                            callback_on_step_end_tensor_inputs=tensor_inputs)

    @staticmethod
    def _task_arguments(params: Txt2ImgParams, batch: Batch) -> dict[str, Any]:
        """The pipeline arguments of this task, inputs prepared at the output size."""
        from sdkit.engines.sd.inputs import init_image, inpaint_mask

        call: dict[str, Any] = {
            "num_inference_steps": params.steps,
            "guidance_scale": params.cfg_scale,
            "clip_skip": params.clip_skip - 1 if params.clip_skip > 1 else None,
        }
        size = (params.width, params.height)
        if isinstance(params, Img2ImgParams):
            call["image"] = init_image(batch.images["image"], size)
            call["strength"] = params.strength
        if isinstance(params, InpaintParams):
            call["mask_image"] = inpaint_mask(batch.images["mask"], size, params.mask_blur, params.mask,
                                              announce=batch.first_index == 0)
        if isinstance(params, InpaintParams) or not isinstance(params, Img2ImgParams):
            # img2img takes its size from the (already resized) input image; the others are told it.
            call.update(height=params.height, width=params.width)
        return call


def _embedding_library() -> Any:
    """The textual-inversion embeddings in `<models folder>/embeddings` (listed only; read when a prompt uses one)."""
    from sdkit.networks.embeddings import EmbeddingLibrary, embeddings_folder
    from sdkit.runtime.config import models_dir

    return EmbeddingLibrary.scan(embeddings_folder(models_dir()))


def _apply_loras(loaded: LoadedModel, pipeline: Any, params: Txt2ImgParams) -> dict[str, Any]:
    """Make the prompt's and `--lora`'s LoRAs (and no others) act on the model; their infotext field."""
    from sdkit.engines.sd.loras import activate
    from sdkit.networks.lora_use import LORA_HASHES_KEY, hashes_field, resolve_loras

    uses = resolve_loras(params.prompt, params.loras)
    activate(loaded, pipeline, uses)
    return {LORA_HASHES_KEY: hashes_field(uses)} if uses else {}
