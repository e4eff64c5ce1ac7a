"""A Ray worker of a distributed batch: plans and draws the images it is sent, keeps its models loaded.

It writes no file: each image goes back to the driver as a `RunImage` (the PIL image, its seed, prompt
and infotext), and the driver saves it with the local executor's own writer, so the files are the
same byte for byte. The worker plans each image itself with the driver's planner (`plan_item`) and
checks that its plan agrees with the driver's, so a node with another model, preset or sdkit version
fails loudly instead of drawing something else. Loaded models stay in the process (the run layer's
cache), which is why the driver sends a worker the images of models it already has.

This module imports no Ray: the executor wraps `BatchWorker` with `ray.remote` when it starts workers.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from typing import Any

from sdkit.batch.expand import Item
from sdkit.batch.plans import plan_fingerprint, plan_item, with_seed
from sdkit.batch.record import failure_message

log = logging.getLogger(__name__)


class BatchWorker:
    """One worker process; its methods run one at a time, in the order they were sent."""

    def __init__(self) -> None:
        from sdkit.runtime.logs import quiet_ml_libraries, setup_logging

        setup_logging()  # warnings to the node's sdkit log file; the driver gets failures as values
        quiet_ml_libraries()
        self._plans: dict[str, Any] = {}

    def describe(self) -> dict[str, Any]:
        """Where this worker runs; answering it also says the worker has started."""
        import ray

        return {"pid": os.getpid(), "node": ray.util.get_node_ip_address(), "host": socket.gethostname(),
                "gpus": [str(gpu) for gpu in ray.get_gpu_ids()]}

    def draw(self, item: Item, fingerprint: dict[str, Any]) -> dict[str, Any]:
        """Draw one item: `{"status": "done", "images": [RunImage], "seconds"}` or `{"status": "failed", ...}`."""
        from sdkit.run.events import NullEvents
        from sdkit.run.execute import run_images

        started = time.perf_counter()
        try:
            plan = self._plan(item)
            mismatch = _differences(fingerprint, plan_fingerprint(plan))
            if mismatch:
                return {"status": "failed", "input_error": False,
                        "error": f"the worker on {socket.gethostname()} plans this image differently from the driver "
                                 f"({mismatch}): install the same sdkit, models and presets on every node"}
            images = list(run_images(plan, NullEvents()))
        except Exception as error:  # sent back as a value: the driver records it, as the local executor does
            message, input_error = failure_message(error)
            log.warning("%s failed: %s", item.job, message, exc_info=True)
            return {"status": "failed", "error": message, "input_error": input_error}
        return {"status": "done", "images": images, "seconds": time.perf_counter() - started}

    def _plan(self, item: Item) -> Any:
        key = item.plan_key()
        if key not in self._plans:
            self._plans[key] = plan_item(item)
        return with_seed(self._plans[key], item.seed)


def _differences(expected: dict[str, Any], planned: dict[str, Any]) -> str:
    """The fields where the worker's plan differs from the driver's, as `name: driver's vs worker's`."""
    different = []
    for name in sorted(set(expected) | set(planned)):
        if name == "params":
            theirs, mine = expected.get(name) or {}, planned.get(name) or {}
            different += [f"{key}: {theirs.get(key)!r} vs {mine.get(key)!r}"
                          for key in sorted(set(theirs) | set(mine)) if theirs.get(key) != mine.get(key)]
        elif expected.get(name) != planned.get(name):
            different.append(f"{name}: {expected.get(name)!r} vs {planned.get(name)!r}")
    return "; ".join(different[:5])
