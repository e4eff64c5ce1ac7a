"""The `Service`: plans jobs as they arrive, queues them, and runs them one at a time on a worker thread.

Planning happens in `submit`, on the caller's thread, so a request that cannot run fails at once with
sdkit's message and hint, and never takes a place in the queue. The worker runs one job at a time in
arrival order (a device runs one model at a time; two jobs at once would only share its cores).
Finished jobs are remembered (the newest `keep_finished`) so clients can fetch their results later.
"""

from __future__ import annotations

import collections
import logging
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sdkit.core.errors import Interrupted, SdkitError, UserInputError
from sdkit.core.params import Txt2ImgParams
from sdkit.service.jobs import Job, JobRequest, JobState, JobView, StopKind
from sdkit.service.runner import run_job

log = logging.getLogger(__name__)


class QueueFull(SdkitError):
    """`max_queue` jobs are waiting already; try again after `retry_after` seconds (HTTP 503)."""

    def __init__(self, waiting: int, retry_after: int) -> None:
        super().__init__(f"the queue is full: {waiting} job(s) are waiting",
                         f"try again in about {retry_after} s, or start the server with a larger --max-queue")
        self.retry_after = retry_after


class Service:
    """One per process: the job queue, its worker thread and the warm models (see `sdkit.service`)."""

    def __init__(self, output_dir: Path, *, max_loaded: int = 1, max_queue: int = 16,
                 keep_finished: int = 200, plan_check: Callable[[Any], None] | None = None) -> None:
        """`plan_check(plan)` may refuse a planned job by raising an SdkitError (a server's size limits)."""
        self.plan_check = plan_check
        self.output_dir = Path(output_dir).expanduser().resolve()
        self.max_loaded = max_loaded
        self.max_queue = max_queue
        self.keep_finished = keep_finished
        self._jobs: dict[str, Job] = {}  # every remembered job, in arrival order
        self._waiting: collections.deque[Job] = collections.deque()
        self._running: Job | None = None
        self._condition = threading.Condition()
        self._planning = threading.Lock()  # registries and presets load lazily: one plan at a time
        self._closing = False
        self._worker: threading.Thread | None = None
        self._temp_root = Path(tempfile.mkdtemp(prefix="sdkit-service-"))
        self._recent_job_seconds: collections.deque[float] = collections.deque(maxlen=10)
        self._limit_before = 0

    # -- life --------------------------------------------------------------------------------------
    def start(self) -> Service:
        from sdkit.run.execute import max_loaded, set_max_loaded

        if self._worker is None:
            self._limit_before = max_loaded()  # the process's own limit, given back by `close`
            set_max_loaded(self.max_loaded)
            self._worker = threading.Thread(target=self._work, name="sdkit-service-worker", daemon=True)
            self._worker.start()
        return self

    def close(self, timeout: float | None = 60) -> None:
        """Cancel every waiting job, stop the running one at its next step, and wait for the worker."""
        self.begin_shutdown()
        if self._worker is not None:
            self._worker.join(timeout)
            from sdkit.run.execute import set_max_loaded

            set_max_loaded(self._limit_before)
        shutil.rmtree(self._temp_root, ignore_errors=True)

    def begin_shutdown(self) -> None:
        """What `close` does without waiting (safe from a signal handler): no new jobs, none waiting,
        the running one stopped at its next step."""
        with self._condition:
            self._closing = True
            while self._waiting:
                self._end(self._waiting.popleft(), JobState.CANCELLED, "the server shut down", None)
            if self._running is not None:
                self._running.stop = StopKind.INTERRUPT
            self._condition.notify_all()

    # -- submitting --------------------------------------------------------------------------------
    def submit(self, request: JobRequest) -> str:
        """Plan the request and queue it; returns the job id. Raises QueueFull or the plan's SdkitError."""
        self._refuse_when_full()
        job_id = uuid.uuid4().hex
        temp_dir = self._temp_root / job_id
        try:
            flags = dict(request.flags)
            for name, content in request.input_images.items():
                temp_dir.mkdir(exist_ok=True)
                path = temp_dir / f"{name}.png"
                path.write_bytes(content)
                flags[name] = str(path)
            plan = self._plan(request, flags)
        except BaseException:
            shutil.rmtree(temp_dir, ignore_errors=True)
            raise
        params = plan.params
        image_count = params.image_count if isinstance(params, Txt2ImgParams) else 1
        job = Job(job_id, request, plan, image_count, int(getattr(params, "steps", 1) or 1))
        job.output_dir = self._job_folder(request, plan)
        job.temp_dir = temp_dir
        with self._condition:
            if self._closing:
                raise UserInputError("the server is shutting down", "send the request again once it is back")
            self._refuse_when_full()
            self._jobs[job_id] = job
            self._waiting.append(job)
            self._condition.notify_all()
        log.info("job %s queued (%s, %s)", job_id, request.label or "request", plan.task.value)
        return job_id

    def _plan(self, request: JobRequest, flags: dict[str, Any]) -> Any:
        from sdkit.run.inputs import open_inputs
        from sdkit.run.plan import make_plan

        with self._planning:
            plan = make_plan(preset_name=request.preset, task=request.task, engine=request.engine,
                             mode=request.mode, model=request.model, vae=request.vae, flags=flags)
            if self.plan_check is not None:
                self.plan_check(plan)
            open_inputs(plan.params)  # an input that is not an image fails now, not in the queue
        return plan

    def _job_folder(self, request: JobRequest, plan: Any) -> Path:
        if request.output_dir is None:
            return self.output_dir / plan.task.value
        folder = (self.output_dir / request.output_dir).resolve()
        if not folder.is_relative_to(self.output_dir):
            raise UserInputError(f"the output folder {request.output_dir} lies outside the server's output folder",
                                 f"give a folder inside {self.output_dir}, or none")
        return folder

    def _refuse_when_full(self) -> None:
        waiting = len(self._waiting)
        if self.max_queue and waiting >= self.max_queue:
            average = sum(self._recent_job_seconds) / len(self._recent_job_seconds) if self._recent_job_seconds else 5
            raise QueueFull(waiting, max(1, round(average)))

    # -- looking -----------------------------------------------------------------------------------
    def get(self, job_id: str) -> JobView:
        """The job's snapshot; KeyError for an id this service does not know (or has forgotten)."""
        with self._condition:
            job = self._jobs[job_id]
            return job.view(self._position(job))

    def jobs(self) -> list[JobView]:
        with self._condition:
            return [job.view(self._position(job)) for job in self._jobs.values()]

    def current(self) -> JobView | None:
        with self._condition:
            return self._running.view(None) if self._running is not None else None

    def queued_count(self) -> int:
        with self._condition:
            return len(self._waiting)

    def wait(self, job_id: str, timeout: float | None = None) -> JobView:
        """Block until the job has ended (or `timeout` passed); returns its snapshot."""
        with self._condition:
            job = self._jobs[job_id]
        job.ended.wait(timeout)
        return job.view(None)

    def _position(self, job: Job) -> int | None:
        if job.state is not JobState.QUEUED:
            return None
        return next((place for place, waiting in enumerate(self._waiting) if waiting is job), None)

    # -- stopping ----------------------------------------------------------------------------------
    def cancel(self, job_id: str) -> JobView:
        """A waiting job never runs; the running one stops at its next step. KeyError for unknown ids."""
        with self._condition:
            job = self._jobs[job_id]
            if job.state is JobState.QUEUED:
                self._waiting.remove(job)
                self._end(job, JobState.CANCELLED, None, None)
            elif job.state is JobState.RUNNING:
                job.stop = StopKind.CANCEL
            return job.view(None)

    def interrupt(self) -> JobView | None:
        """Stop the running job at its next step; the images it finished are kept."""
        return self._stop_running(StopKind.INTERRUPT)

    def skip(self) -> JobView | None:
        """Drop the running job's current batch and go on with its next one."""
        return self._stop_running(StopKind.SKIP)

    def _stop_running(self, kind: StopKind) -> JobView | None:
        with self._condition:
            job = self._running
            if job is None:
                return None
            if job.stop is None or kind is not StopKind.SKIP:
                job.stop = kind
            return job.view(None)

    # -- the worker --------------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self._condition:
                while not self._waiting and not self._closing:
                    self._condition.wait()
                if self._closing:
                    return
                job = self._waiting.popleft()
                self._running = job
                with job.lock:
                    job.state, job.started_at = JobState.RUNNING, time.time()
            self._run(job)
            with self._condition:
                self._running = None
                self._forget_old()

    def _run(self, job: Job) -> None:
        started = time.perf_counter()
        try:
            run_job(job, job.output_dir)
        except Interrupted as stopped:
            state = JobState.CANCELLED if job.stop is StopKind.CANCEL else JobState.INTERRUPTED
            self._end(job, state, stopped.message, None)
        except SdkitError as error:
            log.warning("job %s failed: %s", job.id, error.message)
            job.input_error = isinstance(error, UserInputError)
            self._end(job, JobState.FAILED, error.message, error.hint)
        except Exception as error:  # a bug or a crashing plugin: the job fails, the service goes on
            log.exception("job %s failed", job.id)
            self._end(job, JobState.FAILED, f"{type(error).__name__}: {error}", "details are in sdkit's log")
        else:
            self._end(job, JobState.DONE, None, None)
            self._recent_job_seconds.append(time.perf_counter() - started)

    def _end(self, job: Job, state: JobState, error: str | None, hint: str | None) -> None:
        with job.lock:
            job.state, job.finished_at = state, time.time()
            if state is not JobState.DONE:
                job.error, job.hint = error, hint
        if job.temp_dir is not None:
            shutil.rmtree(job.temp_dir, ignore_errors=True)
        log.info("job %s %s", job.id, state.value)
        job.ended.set()

    def _forget_old(self) -> None:
        finished = [job_id for job_id, job in self._jobs.items() if job.state.finished]
        for job_id in finished[:max(0, len(finished) - self.keep_finished)]:
            del self._jobs[job_id]
