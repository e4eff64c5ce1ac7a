"""sdkit's own API under `/v1`: jobs that return at once (any `generate` parameters or a preset),
their state and results, cancelling, presets and health."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from sdkit.core.errors import UserInputError
from sdkit.server.names import (
    check_lora_name,
    check_prompt_loras,
    checkpoint_location,
    hires_upscaler_name,
    vae_location,
)
from sdkit.server.settings import ServerSettings
from sdkit.service import JobRequest, Service


class JobBody(BaseModel):
    """A job: `sdkit generate`'s flags by their long names (`steps`, `cfg_scale`, `hires_scale`, ...)."""

    model_config = ConfigDict(extra="forbid")
    preset: str | None = Field(None, description="a preset name, e.g. txt2img/basic")
    task: str | None = None
    model: str | None = Field(None, description="a checkpoint the server lists (GET /sdapi/v1/sd-models)")
    vae: str | None = None
    mode: str | None = None
    params: dict[str, Any] = Field(default_factory=dict, description="generate's flags, e.g. {\"steps\": 4}")
    save: bool | None = Field(None, description="save the images in the output folder (default: the server's)")


# Flags that name files: a job may not (its inputs come as base64 through the A1111 img2img endpoint).
PATH_FLAGS = ("image", "mask", "upscale")


def v1_router(service: Service, settings: ServerSettings) -> APIRouter:
    router = APIRouter(tags=["sdkit API"])

    @router.post("/jobs", status_code=202)
    async def submit(body: JobBody) -> dict[str, Any]:
        named = [name for name in PATH_FLAGS if body.params.get(name)]
        if named:
            raise UserInputError(f"{', '.join(named)}: /v1/jobs takes no file paths",
                                 "send input images to /sdapi/v1/img2img as base64")
        check_prompt_loras(*(body.params.get(name) for name in ("prompt", "negative_prompt", "hires_prompt",
                                                                  "hires_negative_prompt")))
        for lora in body.params.get("loras") or ():
            check_lora_name(str(lora).rsplit(":", 1)[0])
        hires_upscaler_name(body.params.get("hires_upscaler"))
        if body.preset is not None:
            _check_preset(body.preset)
        request = JobRequest(flags=dict(body.params), preset=body.preset, task=body.task,
                             model=checkpoint_location(body.model), vae=vae_location(body.vae), mode=body.mode,
                             save=settings.save_images if body.save is None else body.save, label="v1 job")
        job_id = await run_in_threadpool(service.submit, request)
        return service.get(job_id).describe()

    @router.get("/jobs")
    def jobs() -> list[dict[str, Any]]:
        return [view.describe() for view in service.jobs()]

    @router.get("/jobs/{job_id}")
    def job(job_id: str) -> dict[str, Any]:
        return _view(service, job_id).describe()

    @router.get("/jobs/{job_id}/images/{index}", response_class=Response,
                responses={200: {"content": {"image/png": {}}}})
    def job_image(job_id: str, index: int) -> Response:
        images = _view(service, job_id).images
        if not 0 <= index < len(images):
            raise HTTPException(404, f"job {job_id} has no image {index} (it has {len(images)})")
        return Response(images[index].png, media_type="image/png")

    @router.delete("/jobs/{job_id}")
    def cancel(job_id: str) -> dict[str, Any]:
        try:
            return service.cancel(job_id).describe()
        except KeyError:
            raise HTTPException(404, f"no job {job_id}") from None

    @router.get("/presets")
    def presets() -> list[dict[str, Any]]:
        from sdkit.presets import list_presets

        return [{"name": preset.name, "task": preset.task.value if preset.task else None, "source": preset.source,
                 "description": preset.description, "error": preset.error} for preset in list_presets()]

    @router.get("/health")
    def health() -> dict[str, Any]:
        from sdkit import __version__
        from sdkit.run.execute import loaded_model_count

        current = service.current()
        return {"status": "ok", "version": f"sdkit {__version__}", "queued": service.queued_count(),
                "running": current.id if current is not None else None, "loaded_models": loaded_model_count(),
                "max_loaded": service.max_loaded, "max_queue": service.max_queue,
                "output_dir": str(service.output_dir)}

    return router


def _check_preset(name: str) -> None:
    """A preset the server lists, never a YAML file named by path."""
    from sdkit.core.errors import UnknownKeyError
    from sdkit.presets import is_file_reference, list_presets

    known = [preset.name for preset in list_presets()]
    if is_file_reference(name) or name not in known:
        raise UnknownKeyError("preset", name, known, "GET /v1/presets lists them; a request cannot name a file")


def _view(service: Service, job_id: str) -> Any:
    try:
        return service.get(job_id)
    except KeyError:
        raise HTTPException(404, f"no job {job_id}") from None

