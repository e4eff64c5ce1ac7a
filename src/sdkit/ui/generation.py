"""Generation for the UI: the form becomes a job of the shared `sdkit.service.Service`, followed to its end.

The service plans the job with the run layer (`make_plan`) when it is submitted, so a bad value fails
before anything runs, with `generate`'s message and hint, and runs it on the same worker and warm models
as `sdkit serve`'s API: a UI image is the image `sdkit generate` makes for the same settings. Nothing
here imports gradio.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from sdkit.core.errors import RuntimeFailure
from sdkit.ui.form import form_request

# How often a running job's progress is read (seconds): smooth enough for a progress bar, cheap.
POLL_SECONDS = 0.2
UI_LABEL = "ui"


def png_bytes(image: Any) -> bytes:
    """A PIL image as PNG bytes (the inputs a job takes as `input_images`)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def editor_inputs(editor_value: Mapping[str, Any] | None) -> dict[str, bytes]:
    """An image editor's value as inpaint inputs: the background, and a mask (white where painted)."""
    from PIL import Image

    if not editor_value or editor_value.get("background") is None:
        return {}
    background = editor_value["background"].convert("RGB")
    mask = Image.new("L", background.size, 0)
    for layer in editor_value.get("layers") or []:
        if layer is None:
            continue
        painted = layer.convert("RGBA").getchannel("A").point(lambda alpha: 255 if alpha else 0)
        mask.paste(255, (0, 0), painted.resize(background.size))
    return {"image": png_bytes(background), "mask": png_bytes(mask)}


def submit_form(service: Any, task: str, values: Sequence[Any], *, preset_name: str | None = None,
                upscaler: str | None = None, image_path: str | None = None,
                input_images: Mapping[str, bytes] | None = None) -> str:
    """Queue the form as a job; returns its id. Raises the plan's `SdkitError` (nothing is queued then)."""
    from sdkit.service import JobRequest

    arguments = form_request(task, values, preset_name, upscaler)
    flags = dict(arguments.pop("flags"))
    if image_path:
        flags["image"] = image_path
    return service.submit(JobRequest(flags=flags, input_images=dict(input_images or {}), label=UI_LABEL,
                                     **arguments))


def follow_job(service: Any, job_id: str, poll_seconds: float = POLL_SECONDS) -> Iterator[Any]:
    """The job's `JobView` every `poll_seconds` until it has ended (the last one is the final state)."""
    while True:
        view = service.get(job_id)
        yield view
        if view.state.finished:
            return
        time.sleep(poll_seconds)


def progress_text(view: Any) -> str:
    """One line for the progress bar: queue place, or image, step and ETA, or how it ended."""
    state = view.state.value
    if state == "queued":
        return f"queued: {view.position or 0} job(s) ahead"
    if state == "running":
        eta = f", ETA {view.eta_seconds:.1f} s" if view.eta_seconds is not None else ""
        return (f"image {view.image_index + 1}/{view.image_count}, step {view.step}/{view.steps}"
                f" ({view.progress:.0%}){eta}")
    made = f"{len(view.images)} image(s)"
    seconds = (view.finished_at - view.started_at) if view.started_at and view.finished_at else None
    took = f" in {seconds:.1f} s" if seconds is not None else ""
    if state == "done":
        return f"done: {made}{took}"
    return f"{state}: {view.error or ''} (kept {made})".replace(":  (", ": (")


def interrupt_job(service: Any, job_id: str | None) -> None:
    """Stop this session's job: the running one at its next step (finished images are kept), a queued one never runs."""
    if not job_id:
        return
    current = service.current()
    if current is not None and current.id == job_id:
        service.interrupt()
    else:
        try:
            service.cancel(job_id)
        except KeyError:  # forgotten by the service: nothing left to stop
            pass


def failure_of(view: Any) -> RuntimeFailure | None:
    """A failed job as the error `generate` would have raised (message and hint), else None."""
    if view.state.value != "failed":
        return None
    return RuntimeFailure(view.error or "the job failed", view.hint)
