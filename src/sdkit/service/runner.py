"""Run one job of the queue on the run layer: batch by batch, so `skip` can drop the current batch.

A txt2img-like job of N batches runs as N one-batch plans whose seeds are exactly those of the whole
run (image i gets seed first + i), so a job makes the same pixels and infotext as `sdkit generate`.
Saved images go through `sdkit.run.execute.execute` (atomic, never overwriting); unsaved ones are
encoded here the same way, with the same infotext chunk.
"""

from __future__ import annotations

import dataclasses
import io
import logging
from pathlib import Path
from typing import Any

from sdkit.core.errors import Interrupted
from sdkit.core.params import SEED_MAX, Txt2ImgParams
from sdkit.service.jobs import Job, JobImage, StopKind

log = logging.getLogger(__name__)


class _BatchEvents:
    """A one-batch run's events reported against the whole job (its image indexes shifted by `start`)."""

    def __init__(self, job: Job, start: int) -> None:
        self._job, self._start = job, start

    def image_started(self, index: int, total: int, steps: int) -> None:
        self._job.image_started(self._start + index, self._job.image_count, steps)

    def step_finished(self, index: int, step: int, steps: int) -> None:
        self._job.step_finished(self._start + index, step, steps)

    def should_stop(self) -> bool:
        return self._job.should_stop()


def batch_plans(plan: Any) -> list[tuple[int, Any]]:
    """(index of the first image, one-batch plan) for each batch of the plan; the seed -1 drawn once."""
    from sdkit.run.execute import resolve_seed

    params = plan.params
    if not isinstance(params, Txt2ImgParams) or params.batch_count == 1 and params.seed >= 0:
        return [(0, plan)]
    first_seed, drawn = resolve_seed(params.seed)
    if drawn:
        log.info("seed -1: drew seed %d", first_seed)
    plans = []
    for batch_index in range(params.batch_count):
        start = batch_index * params.batch_size
        seed = (first_seed + start) % (SEED_MAX + 1)
        batch_params = params.model_copy(update={"seed": seed, "batch_count": 1})
        plans.append((start, dataclasses.replace(plan, params=batch_params)))
    return plans


def _encoded(run_image: Any) -> JobImage:
    from sdkit.outputs.infotext import format_infotext, png_info

    text = format_infotext(run_image.prompt, run_image.negative_prompt, run_image.infotext)
    buffer = io.BytesIO()
    run_image.image.save(buffer, format="PNG", pnginfo=png_info(text))
    return JobImage(buffer.getvalue(), text, run_image.seed, run_image.index)


def _saved(saved: Any, start: int) -> JobImage:
    from sdkit.outputs.infotext import read_png_parameters

    return JobImage(saved.path.read_bytes(), read_png_parameters(saved.path), saved.seed, start + saved.index,
                    saved.path)


def run_job(job: Job, output_dir: Path) -> None:
    """Draw every batch of the job into `job.images`; raises `Interrupted` when stopped (not skipped)."""
    from sdkit.run.execute import execute, run_images

    for start, plan in batch_plans(job.plan):
        events = _BatchEvents(job, start)
        try:
            if job.request.save:
                def keep(saved: Any, start: int = start) -> None:
                    image = _saved(saved, start)
                    with job.lock:
                        job.images.append(image)

                execute(plan, events, output_dir=output_dir, on_saved=keep)
            else:
                for run_image in run_images(plan, events):
                    image = dataclasses.replace(_encoded(run_image), index=start + run_image.index)
                    with job.lock:
                        job.images.append(image)
        except Interrupted:
            if job.stop is not StopKind.SKIP:
                raise
            log.info("job %s: skipped the batch starting at image %d", job.id, start)
            job.stop = None  # a skip drops one batch only
