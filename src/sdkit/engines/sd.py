"""The Stable Diffusion engines `sd15`, `sd2` and `sdxl`: txt2img, img2img and inpaint on diffusers.

One engine object per family. A loaded model keeps one set of components; the txt2img, img2img and
inpaint pipelines are thin views over those same components, so switching task never reloads weights.
Heavy imports (torch, diffusers) happen inside `load` and `run` only.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sdkit import __version__
from sdkit.core.errors import Interrupted, UserInputError
from sdkit.core.params import SEED_MAX, Img2ImgParams, InpaintParams, ParamsBase, Txt2ImgParams
from sdkit.core.tasks import Mode, Task
from sdkit.engines.base import GeneratedImage, LoadOptions, RunEvents, SizeLimits
from sdkit.engines.images import load_image, load_mask

log = logging.getLogger(__name__)

SD_TASKS = frozenset({Task.TXT2IMG, Task.IMG2IMG, Task.INPAINT})

# Few-step distilled models need other steps, guidance and schedules than ordinary ones.
MODE_DEFAULTS: dict[Mode, dict[str, Any]] = {
    Mode.NORMAL: {"steps": 20, "cfg_scale": 7.0, "sampler": "automatic", "schedule": "automatic"},
    Mode.LCM: {"steps": 6, "cfg_scale": 1.5, "sampler": "lcm", "schedule": "automatic"},
    Mode.TURBO: {"steps": 1, "cfg_scale": 0.0, "sampler": "euler_a", "schedule": "sgm_uniform"},
    Mode.LIGHTNING: {"steps": 4, "cfg_scale": 0.0, "sampler": "euler", "schedule": "sgm_uniform"},
}

PIPELINE_CLASSES = {
    ("sd", Task.TXT2IMG): "StableDiffusionPipeline",
    ("sd", Task.IMG2IMG): "StableDiffusionImg2ImgPipeline",
    ("sd", Task.INPAINT): "StableDiffusionInpaintPipeline",
    ("sdxl", Task.TXT2IMG): "StableDiffusionXLPipeline",
    ("sdxl", Task.IMG2IMG): "StableDiffusionXLImg2ImgPipeline",
    ("sdxl", Task.INPAINT): "StableDiffusionXLInpaintPipeline",
}


@dataclass
class LoadedModel:
    """A model's components on their device, and the pipelines built over them so far."""

    ref: Any
    components: dict[str, Any]
    device: str
    dtype: Any
    options: LoadOptions
    scheduler_config: dict[str, Any]
    pipelines: dict[Task, Any] = field(default_factory=dict)


def _native_size(ref: Any, fallback: int) -> int:
    """The size a diffusers folder was trained at: unet.sample_size × the VAE's downscale factor."""
    folder = getattr(ref, "path", None)
    if folder is None or not folder.is_dir():
        return fallback
    try:
        unet = json.loads((folder / "unet" / "config.json").read_text())
        vae = json.loads((folder / "vae" / "config.json").read_text())
        sample_size = unet["sample_size"]
        if isinstance(sample_size, list):
            sample_size = sample_size[0]
        return int(sample_size) * 2 ** (len(vae["block_out_channels"]) - 1)
    except (OSError, KeyError, ValueError, TypeError):
        return fallback


def _quiet_libraries() -> None:
    """diffusers and transformers draw tqdm bars while loading; sdkit draws its own progress instead."""
    import diffusers.utils.logging
    import transformers.utils.logging

    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()
    # Its notes (e.g. "sequence length is longer than 77") speak of internals sdkit already handles.
    transformers.utils.logging.set_verbosity_error()


# Below this many UNet parameters a model's steps are too small to share between threads: the threads
# spend their time waiting on each other, and on a busy machine a 64² demo image took 68 s with 2
# threads against 0.5 s with one.
SINGLE_THREAD_PARAMETERS = 20_000_000


def _fit_cpu_threads(unet: Any) -> None:
    """Run tiny models on one CPU thread, unless the user chose a thread count (OMP_NUM_THREADS)."""
    import os

    import torch

    if "OMP_NUM_THREADS" in os.environ:
        return
    parameters = sum(parameter.numel() for parameter in unet.parameters())
    if parameters < SINGLE_THREAD_PARAMETERS and torch.get_num_threads() != 1:
        log.info("small model (%.1f M UNet parameters): running on one CPU thread", parameters / 1e6)
        torch.set_num_threads(1)


class StableDiffusionEngine:
    """txt2img, img2img and inpaint for one Stable Diffusion family through diffusers."""

    tasks = SD_TASKS

    def __init__(self, name: str, family: str, description: str, modes: frozenset[Mode],
                 default_size: int, limits: SizeLimits) -> None:
        self.name = name
        self.family = family
        self.description = description
        self.modes = modes
        self._default_size = default_size
        self._limits = limits

    # -- description (no torch) ---------------------------------------------------------------
    def defaults(self, task: Task, mode: Mode) -> Mapping[str, Any]:
        values: dict[str, Any] = {"width": self._default_size, "height": self._default_size,
                                  **MODE_DEFAULTS[mode]}
        if task is Task.IMG2IMG:
            values["strength"] = 0.75 if mode is Mode.NORMAL else 0.5
        if task is Task.INPAINT:
            values["strength"] = 1.0
        return values

    def model_defaults(self, ref: Any, task: Task, mode: Mode) -> Mapping[str, Any]:
        """The model's own native size beats the family's (SD 2.x 512 vs 768, the tiny demo model)."""
        fallback = self._default_size
        if self.family == "sd2" and getattr(ref, "prediction_type", "") == "epsilon":
            fallback = 512
        size = _native_size(ref, fallback)
        return {"width": size, "height": size}

    def size_limits(self, task: Task) -> SizeLimits:
        return self._limits

    # -- loading ------------------------------------------------------------------------------
    def load(self, model: Any, options: LoadOptions) -> LoadedModel:
        from sdkit.models import load_components, resolve_model
        from sdkit.runtime.device import choose_device, choose_dtype, dtype_label

        ref = model if hasattr(model, "family") else resolve_model(model)
        family = getattr(ref.family, "value", ref.family)
        if family != self.family:
            from sdkit.run.plan import ENGINE_FOR_FAMILY

            raise UserInputError(
                f"{ref.name} is a {family} model, but engine {self.name!r} runs {self.family} models",
                f"use --engine {ENGINE_FOR_FAMILY.get(family, '?')} or drop --engine to choose it from the model",
            )
        _quiet_libraries()
        device = choose_device(options.device)
        dtype = choose_dtype(options.dtype, device)
        log.info("loading %s (%s, %s) on %s as %s", ref.name, ref.format, family, device, dtype_label(dtype))
        components = load_components(ref, torch_dtype=dtype, vae=options.vae)
        if not options.cpu_offload:
            for component in components.values():
                if hasattr(component, "to") and hasattr(component, "parameters"):
                    component.to(device)
        elif not device.startswith("cuda"):
            log.warning("--cpu-offload only helps on a GPU; ignored on %s", device)
        if str(dtype) == "torch.bfloat16" and device == "cpu":
            # Benchmark owner's edit (issue 7): bf16 UNet and text encoder on the CPU, VAE kept in fp32 for
            # clean images at a small time cost; docs/performance.md has the measurements.
            from sdkit.runtime.device import keep_vae_fp32

            keep_vae_fp32(components["vae"], dtype)
        if device == "cpu":
            _fit_cpu_threads(components["unet"])
        scheduler_config = dict(components["scheduler"].config)
        return LoadedModel(ref, components, device, dtype, options, scheduler_config)

    def _pipeline(self, loaded: LoadedModel, task: Task) -> Any:
        if task in loaded.pipelines:
            return loaded.pipelines[task]
        import diffusers

        kind = "sdxl" if self.family == "sdxl" else "sd"
        pipeline_class = getattr(diffusers, PIPELINE_CLASSES[(kind, task)])
        parts = dict(loaded.components)
        if kind == "sd":
            parts.update(safety_checker=None, feature_extractor=None, requires_safety_checker=False)
        else:
            parts.setdefault("image_encoder", None)
            parts.setdefault("feature_extractor", None)
        pipeline = pipeline_class(**parts)
        pipeline.set_progress_bar_config(disable=True)
        if loaded.options.attention_slicing:
            pipeline.enable_attention_slicing()
        if loaded.options.vae_tiling:
            pipeline.vae.enable_tiling()
        if loaded.options.cpu_offload and loaded.device.startswith("cuda"):
            pipeline.enable_model_cpu_offload()
        loaded.pipelines[task] = pipeline
        return pipeline

    # -- running ------------------------------------------------------------------------------
    def run(self, loaded: LoadedModel, params: ParamsBase, events: RunEvents) -> Iterator[GeneratedImage]:
        import torch

        from sdkit.engines.prompts import encode_in_chunks, encode_sdxl_in_chunks
        from sdkit.samplers import a1111_names, make_scheduler, resolve_sampler

        assert isinstance(params, Txt2ImgParams)
        task = params.task
        if task is not Task.INPAINT and loaded.ref.inpainting:
            raise UserInputError(f"{loaded.ref.name} is an inpainting model; it can only inpaint",
                                 "use --task inpaint with --image and --mask, or another model for txt2img/img2img")
        pipeline = self._pipeline(loaded, task)
        resolved = resolve_sampler(params.sampler, params.schedule)
        pipeline.scheduler = make_scheduler(resolved, loaded.scheduler_config)
        sampler_label, schedule_label = a1111_names(resolved, loaded.scheduler_config)

        call = self._task_arguments(params)
        # Long prompts are encoded in chunks by sdkit (and CLIP skip on SD 1.x/2.x, where diffusers' own
        # fails with transformers 5); otherwise the pipeline encodes the prompt as plain diffusers does.
        encode = encode_sdxl_in_chunks if self.family == "sdxl" else encode_in_chunks
        embeddings = encode(pipeline, params.prompt, params.negative_prompt, params.clip_skip, loaded.device)

        first_seed = params.seed if params.seed >= 0 else random.randrange(SEED_MAX)
        noise_device = "cpu" if params.rng == "cpu" else loaded.device
        fields = self._infotext_fields(loaded, params, sampler_label, schedule_label)
        total = params.image_count

        for batch_index in range(params.batch_count):
            start = batch_index * params.batch_size
            seeds = [(first_seed + start + offset) % (SEED_MAX + 1) for offset in range(params.batch_size)]
            generators = [torch.Generator(noise_device).manual_seed(seed) for seed in seeds]
            batch_call = dict(call, generator=generators)
            if embeddings is None:
                batch_call.update(prompt=[params.prompt] * len(seeds),
                                  negative_prompt=[params.negative_prompt] * len(seeds))
            else:
                batch_call.update(embeddings.pipeline_arguments(len(seeds)), clip_skip=None)
            if task is Task.TXT2IMG:
                batch_call["latents"] = self._initial_noise(pipeline, params, generators, loaded)
            events.image_started(start, total, params.steps)

            def on_step_end(pipe: Any, step: int, timestep: Any, tensors: dict[str, Any],
                            first: int = start) -> dict[str, Any]:
                events.step_finished(first, step + 1, getattr(pipe, "_num_timesteps", None) or params.steps)
                if events.should_stop():
                    pipe._interrupt = True
                return tensors

            with torch.inference_mode():
                result = pipeline(**batch_call, callback_on_step_end=on_step_end)
            if events.should_stop():
                raise Interrupted("stopped by the user before the image was finished",
                                  "finished images are kept; rerun with --seed to continue")
            for offset, image in enumerate(result.images):
                yield GeneratedImage(
                    image=image, index=start + offset, seed=seeds[offset],
                    infotext={**fields, "Seed": seeds[offset]},
                    prompt=params.prompt, negative_prompt=params.negative_prompt,
                )

    @staticmethod
    def _task_arguments(params: Txt2ImgParams) -> dict[str, Any]:
        """The pipeline arguments every batch of this run shares (inputs are read once, here)."""
        call: dict[str, Any] = {
            "num_inference_steps": params.steps,
            "guidance_scale": params.cfg_scale,
            "clip_skip": params.clip_skip - 1 if params.clip_skip > 1 else None,
        }
        if isinstance(params, Img2ImgParams):
            call["image"] = load_image(params.image, (params.width, params.height))
            call["strength"] = params.strength
        if isinstance(params, InpaintParams):
            call["mask_image"] = load_mask(params.mask, (params.width, params.height), params.mask_blur)
        if isinstance(params, InpaintParams) or not isinstance(params, Img2ImgParams):
            # img2img takes its size from the (already resized) input image; the others are told it.
            call.update(height=params.height, width=params.width)
        return call

    @staticmethod
    def _initial_noise(pipeline: Any, params: Txt2ImgParams, generators: list[Any], loaded: LoadedModel) -> Any:
        """One unit-noise tensor per image from that image's own generator (A1111's rule), in fp32.

        Drawing per image makes an image independent of batch size and position in the batch.
        """
        import torch

        channels = pipeline.vae.config.latent_channels
        factor = pipeline.vae_scale_factor
        shape = (channels, params.height // factor, params.width // factor)
        noise = [torch.randn(shape, generator=generator, device=generator.device, dtype=torch.float32)
                 for generator in generators]
        return torch.stack(noise).to(device=loaded.device, dtype=loaded.dtype)

    def _infotext_fields(self, loaded: LoadedModel, params: Txt2ImgParams, sampler: str,
                         schedule: str) -> dict[str, Any]:
        """A1111's parameter line, in A1111's key order; None values are left out by the writer."""
        ref = loaded.ref
        fields: dict[str, Any] = {
            "Steps": params.steps,
            "Sampler": sampler,
            "Schedule type": schedule,
            "CFG scale": params.cfg_scale,
            "Seed": None,
            "Size": f"{params.width}x{params.height}",
            "Model hash": ref.short_hash(),
            "Model": ref.name,
            "VAE": loaded.options.vae and str(loaded.options.vae).replace("\\", "/").rsplit("/", 1)[-1],
            "Denoising strength": params.strength if isinstance(params, Img2ImgParams) else None,
            "Clip skip": params.clip_skip if params.clip_skip > 1 else None,
            "RNG": "CPU" if params.rng == "cpu" else None,
            "Mode": params.mode.value if params.mode is not Mode.NORMAL else None,
            "Version": f"sdkit {__version__}",
        }
        return fields


sd15 = StableDiffusionEngine(
    "sd15", "sd1", "Stable Diffusion 1.x (512²) through diffusers",
    frozenset({Mode.NORMAL, Mode.LCM}), 512, SizeLimits(64, 2048, 8),
)
sd2 = StableDiffusionEngine(
    "sd2", "sd2", "Stable Diffusion 2.x (768² v-prediction or 512² epsilon) through diffusers",
    frozenset({Mode.NORMAL, Mode.TURBO}), 768, SizeLimits(64, 2048, 8),
)
sdxl = StableDiffusionEngine(
    "sdxl", "sdxl", "Stable Diffusion XL (1024²) through diffusers",
    frozenset({Mode.NORMAL, Mode.LCM, Mode.TURBO, Mode.LIGHTNING}), 1024, SizeLimits(64, 4096, 8),
)
