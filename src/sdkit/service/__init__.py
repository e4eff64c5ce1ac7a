"""sdkit's job service: one queue of generation jobs per process, run on warm models.

The HTTP server (`sdkit serve`, `sdkit.server`) and the web UI (`sdkit.ui`) both drive generation
through this package, so a request, a UI click and `sdkit generate` with the same settings make the
same pixels. Pure standard library over `sdkit.run`: no web framework is imported here.

The contract, in one place:

    from sdkit.service import Service, JobRequest, JobState, QueueFull

    service = Service(output_dir=Path("outputs"), max_loaded=2, max_queue=16)  # once per process
    service.start()                                # the worker thread; `close()` stops it
    job_id = service.submit(JobRequest(flags={"prompt": "a red circle", "steps": 4,
                                              "width": 64, "height": 64, "seed": 1},
                                       preset="txt2img/basic"))
    # raises QueueFull (HTTP 503; `.retry_after` seconds) when `max_queue` jobs wait already, and any
    # SdkitError of planning (UserInputError: bad values, message + hint) at once, before queueing.
    view = service.get(job_id)                     # a JobView snapshot (frozen), or KeyError
    view.state                                     # JobState.QUEUED/RUNNING/DONE/FAILED/CANCELLED/INTERRUPTED
    view.progress, view.step, view.steps           # 0..1 over the whole job; the current image's step/total
    view.image_index, view.image_count, view.eta_seconds
    view.images                                    # [JobImage(path | None, png bytes, infotext, seed, index)]
    view.error, view.hint                          # when FAILED
    view.position                                  # place in the queue (0 = next), None when not queued
    service.wait(job_id, timeout=None)             # blocks until the job ends; returns its JobView
    service.cancel(job_id)                         # queued: never runs; running: stops at the next step
    service.interrupt()                            # the running job stops at the next step, keeps its images
    service.skip()                                 # the running job drops its current batch, goes on
    service.jobs()                                 # every job still remembered, oldest first
    service.current()                              # the running JobView, or None
    service.close()                                # cancels the queue, interrupts the running job, joins

`JobRequest` holds exactly what `sdkit generate` takes: `flags` are its flag names
(`sdkit.run.plan.make_plan(flags=...)`: prompt, negative_prompt, steps, cfg_scale, width, height,
seed, sampler, schedule, batch_size, batch_count, strength, image, mask, clip_skip, loras, ...),
plus `preset`, `task`, `model`, `vae`, `engine`, `mode`. Input images are either file paths in
`flags["image"]`/`flags["mask"]`, or bytes in `input_images={"image": b"...", "mask": b"..."}`,
which the service keeps in a private temporary folder for the job's life. `save=False` keeps the
images in memory only (A1111's `save_images: false`); saved images go to `output_dir` (or
`JobRequest.output_dir`, which must lie inside it) through the usual atomic, never-overwriting writer.

One worker thread per device runs the jobs in arrival order; models stay loaded between jobs (at
most `max_loaded`, least recently used dropped first: `sdkit.run.execute.set_max_loaded`). A stopped
job (cancel, interrupt, shutdown) stops at the engine's next step and leaves no partial file: every
image is written whole or not at all, and the images finished before the stop are kept.
"""

from sdkit.service.jobs import JobImage, JobRequest, JobState, JobView
from sdkit.service.queue import QueueFull, Service

__all__ = ["JobImage", "JobRequest", "JobState", "JobView", "QueueFull", "Service"]
