"""A1111's `/sdapi/v1` endpoints on the shared service (see docs/server.md for each field)."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from sdkit.core.errors import RuntimeFailure, UserInputError
from sdkit.server import listing
from sdkit.server.a1111_map import generation_response, img2img_job, txt2img_job
from sdkit.server.a1111_models import (
    ExtraSingleImageRequest,
    ExtraSingleImageResponse,
    GenerationResponse,
    Img2ImgRequest,
    PngInfoRequest,
    PngInfoResponse,
    ProgressResponse,
    Txt2ImgRequest,
)
from sdkit.server.images import decode_image, encode_png
from sdkit.server.options import Options
from sdkit.server.settings import ServerSettings
from sdkit.service import JobRequest, JobState, JobView, Service

POLL_SECONDS = 0.05
UPSCALE_FACTOR_LIMIT = 16  # an upscaled image may have 16x the pixels a request may ask for (4x each side)


async def finished(service: Service, job_id: str) -> JobView:
    """The job once it has ended, waited for without holding a thread."""
    while True:
        view = service.get(job_id)
        if view.state.finished:
            return view
        await asyncio.sleep(POLL_SECONDS)


def raise_failure(view: JobView) -> None:
    """A job that failed after it was queued, as the error sdkit would have printed."""
    if view.state is JobState.FAILED:
        error_type = UserInputError if view.input_error else RuntimeFailure
        raise error_type(view.error or "the job failed", view.hint)


def a1111_router(service: Service, settings: ServerSettings, options: Options) -> APIRouter:
    router = APIRouter(tags=["A1111 API"])

    async def generate(mapped: Any, body: Txt2ImgRequest) -> dict[str, Any]:
        job_id = await run_in_threadpool(service.submit, mapped.job)
        view = await finished(service, job_id)
        raise_failure(view)
        return generation_response(view, body, mapped.warnings)

    @router.post("/txt2img", response_model=GenerationResponse)
    async def txt2img(body: Txt2ImgRequest) -> dict[str, Any]:
        return await generate(txt2img_job(body, options.values(), settings), body)

    @router.post("/img2img", response_model=GenerationResponse)
    async def img2img(body: Img2ImgRequest) -> dict[str, Any]:
        mapped = await run_in_threadpool(img2img_job, body, options.values(), settings)
        return await generate(mapped, body)

    @router.post("/extra-single-image", response_model=ExtraSingleImageResponse)
    async def extra_single_image(body: ExtraSingleImageRequest) -> dict[str, Any]:
        return await _upscale(service, settings, body)

    @router.post("/png-info", response_model=PngInfoResponse)
    def png_info(body: PngInfoRequest) -> dict[str, Any]:
        return _png_info(decode_image(body.image, "image", settings.max_pixels))

    @router.get("/progress", response_model=ProgressResponse)
    def progress(skip_current_image: bool = False) -> dict[str, Any]:
        current = service.current()
        waiting = service.queued_count()
        if current is None:
            return {"progress": 0.0, "eta_relative": 0.0, "current_image": None, "textinfo": None,
                    "state": {"skipped": False, "interrupted": False, "job": "", "job_count": waiting,
                              "job_timestamp": "0", "job_no": 0, "sampling_step": 0, "sampling_steps": 0}}
        return {"progress": round(current.progress, 4), "eta_relative": round(current.eta_seconds or 0.0, 2),
                "current_image": None, "textinfo": f"{current.label}: image {current.image_index + 1} of "
                                                   f"{current.image_count}, step {current.step} of {current.steps}",
                "state": {"skipped": False, "interrupted": False, "job": current.id, "job_count": waiting + 1,
                          "job_timestamp": str(int(current.submitted_at)), "job_no": current.image_index,
                          "sampling_step": current.step, "sampling_steps": current.steps}}

    @router.post("/interrupt")
    def interrupt() -> dict[str, Any]:
        stopped = service.interrupt()
        return {"interrupted": stopped.id if stopped is not None else None}

    @router.post("/skip")
    def skip() -> dict[str, Any]:
        skipped = service.skip()
        return {"skipped": skipped.id if skipped is not None else None}

    @router.get("/options")
    def get_options() -> dict[str, Any]:
        return options.shown()

    @router.post("/options")
    def set_options(changes: dict[str, Any]) -> dict[str, Any]:
        return options.update(changes)

    router.get("/sd-models")(listing.sd_models)
    router.get("/sd-vae")(listing.sd_vaes)
    router.get("/samplers")(listing.samplers)
    router.get("/schedulers")(listing.schedulers)
    router.get("/upscalers")(listing.upscaler_list)
    router.get("/embeddings")(listing.embeddings)
    router.get("/loras")(listing.loras)
    router.get("/memory")(listing.memory)

    @router.post("/refresh-checkpoints")
    @router.post("/refresh-vae")
    @router.post("/refresh-loras")
    def refresh() -> dict[str, Any]:
        return {}  # every listing is read from the folders when asked: nothing to refresh

    return router


async def _upscale(service: Service, settings: ServerSettings, body: ExtraSingleImageRequest) -> dict[str, Any]:
    from sdkit.server.names import upscaler_location

    image = decode_image(body.image, "image", settings.max_pixels)
    warnings = []
    for name in ("gfpgan_visibility", "codeformer_visibility", "extras_upscaler_2_visibility"):
        if getattr(body, name):
            warnings.append(f"{name} is ignored: sdkit runs one upscaler")
    upscaler = body.upscaler_1 or "None"
    if upscaler in ("None", "Lanczos", "Nearest"):
        png = await run_in_threadpool(_resized, image, body, upscaler, settings.max_pixels * UPSCALE_FACTOR_LIMIT)
        return {"html_info": "; ".join(warnings), "image": encode_png(png)}
    flags = {"scale": body.upscaling_resize if body.resize_mode in (None, 0) else None}
    request = JobRequest(flags=flags, task="upscale", model=upscaler_location(upscaler), input_images={"image": image},
                         save=False, label="sdapi extra-single-image")
    job_id = await run_in_threadpool(service.submit, request)
    view = await finished(service, job_id)
    raise_failure(view)
    if not view.images:
        raise RuntimeFailure(f"the upscale was {view.state.value} before it finished", "send the request again")
    return {"html_info": "; ".join([view.images[0].infotext, *warnings]), "image": encode_png(view.images[0].png)}


def _resized(image_bytes: bytes, body: ExtraSingleImageRequest, upscaler: str, max_pixels: int) -> bytes:
    """A1111's model-free upscalers: a plain resize (by scale, or to upscaling_resize_w x _h)."""
    import io

    from PIL import Image

    with Image.open(io.BytesIO(image_bytes)) as opened:
        image = opened.convert("RGB")
    if body.resize_mode == 1:
        size = (int(body.upscaling_resize_w or image.width), int(body.upscaling_resize_h or image.height))
    else:
        factor = float(body.upscaling_resize or 1)
        size = (round(image.width * factor), round(image.height * factor))
    if size[0] < 1 or size[1] < 1 or size[0] * size[1] > max_pixels:
        raise UserInputError(f"the upscaled size {size[0]}x{size[1]} is out of range (at most {max_pixels:,} pixels)",
                             "ask for a smaller scale or size")
    resample = Image.Resampling.NEAREST if upscaler == "Nearest" else Image.Resampling.LANCZOS
    buffer = io.BytesIO()
    image.resize(size, resample).save(buffer, format="PNG")
    return buffer.getvalue()


def _png_info(png: bytes) -> dict[str, Any]:
    """The infotext of an image, read by the reader behind `sdkit inspect`; an image without one gives ''."""
    from sdkit.outputs.infotext import parse_infotext, read_png_parameters

    with tempfile.TemporaryDirectory(prefix="sdkit-png-info-") as folder:
        path = Path(folder) / "image.png"
        path.write_bytes(png)
        try:
            text = read_png_parameters(path)
        except UserInputError:
            return {"info": "", "items": {}, "parameters": {}}
    return {"info": text, "items": {"parameters": text}, "parameters": parse_infotext(text).a1111_dict()}
