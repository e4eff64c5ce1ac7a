"""A1111 request fields onto `sdkit generate`'s flags, and sdkit's results back into A1111's response.

The rule for every field: what sdkit can do, it does exactly as `sdkit generate` would with the same
values (so the pixels match the CLI); what it cannot do is ignored with a line in the response's
`info["warnings"]`, unless the value sent is the one that changes nothing (A1111 clients send
`restore_faces: false`, `subseed: -1`, ... on every request). docs/server.md has the table.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from sdkit.core.errors import UserInputError
from sdkit.server.a1111_models import Img2ImgRequest, Txt2ImgRequest
from sdkit.server.images import decode_image
from sdkit.server.names import check_prompt_loras, checkpoint_location, hires_upscaler_name, upscalers, vae_location
from sdkit.server.settings import ServerSettings
from sdkit.service import JobRequest, JobView

# Fields sdkit does not act on, with the values that change nothing (no warning for those).
IGNORED_FIELDS: dict[str, tuple[Any, ...]] = {
    "styles": (None, []),
    "restore_faces": (None, False), "tiling": (None, False), "eta": (None,), "s_min_uncond": (None, 0),
    "s_churn": (None, 0), "s_tmax": (None, 0), "s_tmin": (None, 0), "s_noise": (None, 1),
    "refiner_checkpoint": (None, "", "None"), "refiner_switch_at": (None, 0), "firstpass_image": (None, ""),
    "firstphase_width": (None, 0), "firstphase_height": (None, 0),
    "hr_checkpoint_name": (None, "", "Use same checkpoint"), "script_name": (None, ""), "script_args": (None, []),
    "alwayson_scripts": (None, {}), "infotext": (None, ""), "distilled_cfg_scale": (None,),
    "disable_extra_networks": (None, False),
    # img2img
    "resize_mode": (None, 0), "image_cfg_scale": (None,), "mask_blur_x": (None, 4), "mask_blur_y": (None, 4),
    "mask_round": (None, True), "inpainting_fill": (None, 1), "inpaint_full_res": (None, False, 0),
    "inpaint_full_res_padding": (None, 0), "inpainting_mask_invert": (None, 0),
    "initial_noise_multiplier": (None, 1, 1.0), "latent_mask": (None, ""), "include_init_images": (None, False),
}
# Fields that only steer A1111's bookkeeping: accepted and ignored without a word.
QUIET_FIELDS = {"force_task_id", "comments", "do_not_save_grid", "override_settings_restore_afterwards"}
# override_settings / options keys sdkit acts on.
SETTING_FLAGS = {"CLIP_stop_at_last_layers": "clip_skip", "eta_noise_seed_delta": "ensd"}
WHY = {
    "inpainting_fill": "sdkit inpaints from the original picture (A1111's inpainting_fill 1)",
    "inpaint_full_res": "sdkit inpaints the whole picture (A1111's 'Whole picture')",
    "resize_mode": "sdkit stretches the input to the size asked for (A1111's resize_mode 0)",
    "restore_faces": "face restoration is not supported", "tiling": "tiling is not supported",
}


@dataclass
class Mapped:
    """A request as a job, and what sdkit ignored of it."""

    job: JobRequest
    warnings: list[str] = field(default_factory=list)


def _ignored(body: Txt2ImgRequest, warnings: list[str]) -> None:
    given = body.model_fields_set
    for name in sorted(given):
        if name in IGNORED_FIELDS and getattr(body, name) not in IGNORED_FIELDS[name]:
            warnings.append(f"{name}={getattr(body, name)!r} is ignored: {WHY.get(name, 'sdkit does not support it')}")
    for name in sorted(body.model_extra or {}):
        warnings.append(f"{name} is not an A1111 field sdkit knows; ignored")


def _settings(body: Txt2ImgRequest, options: dict[str, Any],
              warnings: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(run values: model, vae; flags) from the server's options with the request's override_settings on top."""
    merged = {**options, **(body.override_settings or {})}
    run = {"model": checkpoint_location(merged.get("sd_model_checkpoint")),
           "vae": vae_location(merged.get("sd_vae"))}
    flags: dict[str, Any] = {}
    for key, flag in SETTING_FLAGS.items():
        if merged.get(key) is not None:
            flags[flag] = int(merged[key])
    for key in sorted(body.override_settings or {}):
        if key not in ("sd_model_checkpoint", "sd_vae", "samples_save", *SETTING_FLAGS):
            warnings.append(f"override_settings.{key} is ignored: sdkit does not have that setting")
    return run, flags


def _variation_flags(body: Txt2ImgRequest) -> dict[str, Any]:
    """A1111's variation seed fields as `generate`'s flags; its "off" values (-1, 0) leave them out."""
    flags: dict[str, Any] = {}
    if body.subseed_strength:
        flags["variation_strength"] = body.subseed_strength
        flags["variation_seed"] = body.subseed if body.subseed is not None else -1
    if (body.seed_resize_from_w or 0) > 0 and (body.seed_resize_from_h or 0) > 0:
        flags["seed_resize_from_width"] = body.seed_resize_from_w
        flags["seed_resize_from_height"] = body.seed_resize_from_h
    return flags


def _hires_flags(body: Txt2ImgRequest) -> dict[str, Any]:
    if not body.enable_hr:
        return {}
    flags: dict[str, Any] = {
        "hires_upscaler": hires_upscaler_name(body.hr_upscaler), "hires_steps": body.hr_second_pass_steps or None,
        "hires_denoise": body.denoising_strength, "hires_sampler": body.hr_sampler_name or None,
        "hires_schedule": body.hr_scheduler or None, "hires_prompt": body.hr_prompt or None,
        "hires_negative_prompt": body.hr_negative_prompt or None, "hires_cfg_scale": body.hr_cfg,
    }
    if body.hr_resize_x or body.hr_resize_y:
        flags["hires_width"], flags["hires_height"] = body.hr_resize_x or 0, body.hr_resize_y or 0
    else:
        flags["hires_scale"] = body.hr_scale if body.hr_scale is not None else 2.0
    return flags


def _common(body: Txt2ImgRequest, options: dict[str, Any], settings: ServerSettings,
            label: str) -> tuple[dict[str, Any], dict[str, Any], list[str], bool]:
    warnings: list[str] = []
    _ignored(body, warnings)
    run, setting_flags = _settings(body, options, warnings)
    check_prompt_loras(body.prompt, body.negative_prompt, body.hr_prompt, body.hr_negative_prompt)
    sampler = body.sampler_name or body.sampler_index or None
    flags = {
        "prompt": body.prompt or "", "negative_prompt": body.negative_prompt or "",
        "seed": body.seed, "sampler": sampler, "schedule": body.scheduler or None,
        "batch_size": body.batch_size, "batch_count": body.n_iter, "steps": body.steps,
        "cfg_scale": body.cfg_scale, "width": body.width, "height": body.height,
        **_variation_flags(body), **setting_flags,
    }
    save = settings.save_images
    overrides = body.override_settings or {}
    if "samples_save" in overrides:
        save = bool(overrides["samples_save"])
    if body.save_images is not None:
        save = bool(body.save_images)
    if body.do_not_save_samples:
        save = False
    return run, flags, warnings, save


def txt2img_job(body: Txt2ImgRequest, options: dict[str, Any], settings: ServerSettings) -> Mapped:
    run, flags, warnings, save = _common(body, options, settings, "sdapi txt2img")
    flags.update(_hires_flags(body))
    return Mapped(JobRequest(flags=flags, task="txt2img", save=save, label="sdapi txt2img", **run), warnings)


def img2img_job(body: Img2ImgRequest, options: dict[str, Any], settings: ServerSettings) -> Mapped:
    run, flags, warnings, save = _common(body, options, settings, "sdapi img2img")
    if body.enable_hr:
        warnings.append("enable_hr is ignored: the hires fix is for txt2img")
    images = body.init_images or []
    if not images:
        raise UserInputError("init_images is empty",
                             "send the picture to start from as init_images: [\"<base64 PNG>\"]")
    if len(images) > 1:
        warnings.append(f"init_images has {len(images)} images; sdkit uses the first")
    inputs = {"image": decode_image(images[0], "init_images[0]", settings.max_pixels)}
    flags["strength"] = body.denoising_strength
    task = "img2img"
    if body.mask:
        inputs["mask"] = decode_image(body.mask, "mask", settings.max_pixels)
        task = "inpaint"
        flags["mask_blur"] = body.mask_blur
    return Mapped(JobRequest(flags=flags, task=task, save=save, input_images=inputs, label=f"sdapi {task}", **run),
                  warnings)


def check_limits(plan: Any, settings: ServerSettings) -> None:
    """The server's limits on one request, checked on its plan (so defaults from presets count too)."""
    params = plan.params
    batch = int(getattr(params, "batch_size", 1) or 1)
    images = batch * int(getattr(params, "batch_count", 1) or 1)
    if images > settings.max_images:
        raise UserInputError(f"the request asks for {images} images; this server makes at most {settings.max_images} "
                             "per request", "lower batch_size or n_iter, or send several requests")
    sizes = [(getattr(params, "width", 0) or 0, getattr(params, "height", 0) or 0)]
    if plan.hires is not None:
        sizes.append(plan.hires.size.size())
    for width, height in sizes:
        if width * height * batch > settings.max_pixels:
            raise UserInputError(
                f"width x height x batch_size = {width}x{height}x{batch} is over this server's limit of "
                f"{settings.max_pixels:,} pixels", "ask for a smaller size or batch (the server's --max-pixels)")
    steps = int(getattr(params, "steps", 0) or 0)
    if plan.hires is not None:
        steps += int(params.hires_steps or steps)  # 0: as many as the first pass
    if steps > settings.max_steps:
        raise UserInputError(f"{steps} steps is over this server's limit of {settings.max_steps}",
                             "ask for fewer steps (the server's --max-steps)")


def generation_response(view: JobView, body: Txt2ImgRequest, warnings: list[str]) -> dict[str, Any]:
    """A1111's txt2img/img2img response: images, the request's parameters, and `info` as a JSON string."""
    from sdkit.server.images import encode_png

    parameters = body.model_dump()
    if isinstance(body, Img2ImgRequest) and not body.include_init_images:
        parameters["init_images"], parameters["mask"] = None, None
    images = [encode_png(image.png) for image in view.images] if body.send_images is not False else []
    return {"images": images, "parameters": parameters, "info": json.dumps(_info(view, warnings))}


def _info(view: JobView, warnings: list[str]) -> dict[str, Any]:
    from sdkit.outputs.infotext import parse_infotext

    params = view.plan.get("params", {})
    parsed = [parse_infotext(image.infotext) for image in view.images]
    first = parsed[0].fields if parsed else {}
    seeds = [image.seed for image in view.images]
    prompt, negative = params.get("prompt", ""), params.get("negative_prompt", "")
    if view.state.value in ("interrupted", "cancelled"):
        warnings = [*warnings, f"the job was {view.state.value}: {view.error}; {len(view.images)} image(s) finished"]
    return {
        "prompt": prompt, "all_prompts": [item.prompt for item in parsed], "negative_prompt": negative,
        "all_negative_prompts": [item.negative_prompt for item in parsed],
        "seed": seeds[0] if seeds else params.get("seed"), "all_seeds": seeds,
        **_variation_info(parsed, params),
        "width": params.get("width"), "height": params.get("height"),
        "sampler_name": first.get("Sampler"), "scheduler": first.get("Schedule type"),
        "cfg_scale": params.get("cfg_scale"), "steps": params.get("steps"),
        "batch_size": params.get("batch_size", 1), "restore_faces": False, "face_restoration_model": None,
        "sd_model_name": first.get("Model"), "sd_model_hash": first.get("Model hash"),
        "sd_vae_name": first.get("VAE"), "sd_vae_hash": None,
        "seed_resize_from_w": params.get("seed_resize_from_width") or -1,
        "seed_resize_from_h": params.get("seed_resize_from_height") or -1,
        "denoising_strength": params.get("strength", params.get("hires_denoise") if view.plan.get("hires") else None),
        "extra_generation_params": {}, "index_of_first_image": 0,
        "infotexts": [image.infotext for image in view.images], "styles": [],
        "job_timestamp": time.strftime("%Y%m%d%H%M%S", time.localtime(view.submitted_at)),
        "clip_skip": params.get("clip_skip", 1), "is_using_inpainting_conditioning": False,
        "version": first.get("Version"), "warnings": warnings, "sdkit_job": view.id, "sdkit_state": view.state.value,
        "images_saved": [str(image.path) for image in view.images if image.path is not None],
    }


def _variation_info(parsed: list[Any], params: dict[str, Any]) -> dict[str, Any]:
    """info's subseed keys: each image's recorded variation seed (A1111's -1 when they were off)."""
    subseeds = [int(item.fields["Variation seed"]) if "Variation seed" in item.fields else -1 for item in parsed]
    return {"subseed": subseeds[0] if subseeds else -1, "all_subseeds": subseeds,
            "subseed_strength": params.get("variation_strength", 0)}


def available_upscaler_names() -> list[str]:
    return list(upscalers())
