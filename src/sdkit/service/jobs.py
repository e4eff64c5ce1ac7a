"""A job's values: what was asked (`JobRequest`), what it made (`JobImage`), how far it is (`JobView`),
and the mutable record the queue keeps (`Job`), which is also the job's `RunEvents`."""

from __future__ import annotations

import enum
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class JobState(str, enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"

    @property
    def finished(self) -> bool:
        return self not in (JobState.QUEUED, JobState.RUNNING)


class StopKind(str, enum.Enum):
    """Why the running job was asked to stop; SKIP drops only the current batch."""

    CANCEL = "cancel"
    INTERRUPT = "interrupt"
    SKIP = "skip"


@dataclass(frozen=True)
class JobRequest:
    """Everything `sdkit generate` takes, as `make_plan` takes it (see the package docstring)."""

    flags: dict[str, Any] = field(default_factory=dict)
    preset: str | None = None
    task: str | None = None
    model: str | None = None
    vae: str | None = None
    engine: str | None = None
    mode: str | None = None
    input_images: dict[str, bytes] = field(default_factory=dict)  # {"image": PNG bytes, "mask": ...}
    save: bool = True
    output_dir: Path | None = None  # inside the service's output folder; default: <output>/<task>
    label: str = ""  # who asked, for listings ("sdapi txt2img", "ui", ...)


@dataclass(frozen=True)
class JobImage:
    """One finished image: its PNG (with the A1111 infotext inside) and where it was saved, if it was."""

    png: bytes
    infotext: str
    seed: int | None
    index: int
    path: Path | None = None


@dataclass(frozen=True)
class JobView:
    """A snapshot of a job, safe to hand to another thread."""

    id: str
    state: JobState
    label: str
    task: str
    progress: float  # 0..1 over the whole job
    step: int  # steps done of the current image
    steps: int  # steps of one image (both hires passes together)
    image_index: int  # the current image, 0-based
    image_count: int
    eta_seconds: float | None
    images: tuple[JobImage, ...]
    error: str | None
    hint: str | None
    input_error: bool  # the failure was the request's fault (a UserInputError), not the machine's
    position: int | None  # place in the queue, 0 = next; None when not queued
    submitted_at: float
    started_at: float | None
    finished_at: float | None
    plan: dict[str, Any]  # RunPlan.describe() of the job's plan

    def describe(self) -> dict[str, Any]:
        """Plain JSON-able data (images as their paths, seeds and infotexts, not bytes)."""
        return {
            "id": self.id, "state": self.state.value, "label": self.label, "task": self.task,
            "progress": round(self.progress, 4), "step": self.step, "steps": self.steps,
            "image_index": self.image_index, "image_count": self.image_count,
            "eta_seconds": None if self.eta_seconds is None else round(self.eta_seconds, 2),
            "images": [{"path": str(image.path) if image.path else None, "seed": image.seed,
                        "index": image.index, "infotext": image.infotext} for image in self.images],
            "error": self.error, "hint": self.hint, "input_error": self.input_error, "position": self.position,
            "submitted_at": self.submitted_at, "started_at": self.started_at, "finished_at": self.finished_at,
        }


class Job:
    """The queue's own record of a job. Its progress methods are the run's `RunEvents`."""

    def __init__(self, job_id: str, request: JobRequest, plan: Any, image_count: int, steps: int) -> None:
        self.id = job_id
        self.request = request
        self.plan = plan
        self.plan_description = plan.describe()  # once: views are taken many times a second while clients poll
        self.state = JobState.QUEUED
        self.image_count = image_count
        self.steps = max(1, steps)
        self.image_index = 0
        self.step = 0
        self.images: list[JobImage] = []
        self.error: str | None = None
        self.hint: str | None = None
        self.input_error = False
        self.stop: StopKind | None = None
        self.output_dir: Path | None = None  # where its images are saved
        self.temp_dir: Path | None = None  # its input images sent as bytes, removed when it ends
        self.submitted_at = time.time()
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self._first_step_at: float | None = None
        self._steps_at_first = 0.0
        self.lock = threading.Lock()
        self.ended = threading.Event()

    # -- RunEvents ---------------------------------------------------------------------------------
    def image_started(self, index: int, total: int, steps: int) -> None:
        with self.lock:
            self.image_index, self.step, self.steps = index, 0, max(1, steps)

    def step_finished(self, index: int, step: int, steps: int) -> None:
        with self.lock:
            self.image_index, self.step, self.steps = index, step, max(1, steps)
            if self._first_step_at is None:
                # The ETA is measured from the first finished step, so the model load does not count.
                self._first_step_at, self._steps_at_first = time.perf_counter(), self._done_steps()

    def should_stop(self) -> bool:
        return self.stop is not None

    # -- progress ----------------------------------------------------------------------------------
    def _done_steps(self) -> float:
        # Images of one batch share their steps: the batch's first image stands for all of them.
        batch_size = max(1, int(getattr(self.plan.params, "batch_size", 1) or 1))
        batches_done = self.image_index // batch_size
        return batches_done * self.steps + min(self.step, self.steps)

    def _total_steps(self) -> int:
        batch_size = max(1, int(getattr(self.plan.params, "batch_size", 1) or 1))
        return max(1, -(-self.image_count // batch_size)) * self.steps

    def progress(self) -> float:
        if self.state is JobState.DONE:
            return 1.0
        if self.state is JobState.QUEUED:
            return 0.0
        return min(1.0, self._done_steps() / self._total_steps())

    def eta_seconds(self) -> float | None:
        if self.state is not JobState.RUNNING or self._first_step_at is None:
            return None
        measured = self._done_steps() - self._steps_at_first
        if measured <= 0:
            return None
        per_step = (time.perf_counter() - self._first_step_at) / measured
        return max(0.0, (self._total_steps() - self._done_steps()) * per_step)

    def view(self, position: int | None) -> JobView:
        with self.lock:
            return JobView(
                id=self.id, state=self.state, label=self.request.label, task=self.plan.task.value,
                progress=self.progress(), step=self.step, steps=self.steps, image_index=self.image_index,
                image_count=self.image_count, eta_seconds=self.eta_seconds(), images=tuple(self.images),
                error=self.error, hint=self.hint, input_error=self.input_error, position=position,
                submitted_at=self.submitted_at, started_at=self.started_at, finished_at=self.finished_at,
                plan=self.plan_description)
