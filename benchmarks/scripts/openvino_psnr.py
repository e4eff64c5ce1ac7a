"""PSNR of the OpenVINO backend's images against the torch backend's (fp32), per sampler, through sdkit's run layer.

Usage: .venv/bin/python benchmarks/scripts/openvino_psnr.py [--model MODEL] [--size 64] [--steps 8]
Default model: the bundled demo model. Prints one line per sampler and schedule (docs/performance.md).
"""

from __future__ import annotations

import argparse
import time

from sdkit.bench.quality import max_difference, psnr
from sdkit.run.events import NullEvents
from sdkit.run.execute import load_model, run_images
from sdkit.run.plan import make_plan

# Diffusers' schedulers under ComfyUI names, then sdkit's A1111 sampling under A1111 names.
SAMPLERS = [
    ("euler", "automatic"), ("euler_a", "automatic"), ("dpmpp_2m", "karras"), ("dpmpp_sde", "karras"),
    ("ddim", "automatic"), ("unipc", "automatic"), ("lms", "automatic"), ("heun", "automatic"),
    ("Euler", "automatic"), ("Euler a", "automatic"), ("DPM++ 2M", "karras"), ("DPM++ SDE", "karras"),
    ("DPM++ 2M SDE", "exponential"), ("DPM2 a", "automatic"), ("LMS", "automatic"), ("Heun", "automatic"),
    ("DDIM", "automatic"), ("UniPC", "automatic"),
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=None)
    parser.add_argument("--size", type=int, default=None)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch", type=int, default=2)
    arguments = parser.parse_args()

    def plan(backend: str, sampler: str, schedule: str):  # noqa: ANN202
        flags = {"prompt": "a red circle and a blue square", "negative_prompt": "blurry", "steps": arguments.steps,
                 "seed": 1234, "sampler": sampler, "schedule": schedule, "backend": backend,
                 "batch_size": arguments.batch}
        if arguments.size:
            flags["width"] = flags["height"] = arguments.size
        return make_plan(task="txt2img", model=arguments.model, flags=flags)

    loaded = {backend: load_model(plan(backend, "euler", "automatic")) for backend in ("openvino", "torch")}
    for sampler, schedule in SAMPLERS:
        images = {}
        seconds = {}
        for backend in ("torch", "openvino"):
            started = time.perf_counter()
            images[backend] = [result.image for result in
                               run_images(plan(backend, sampler, schedule), NullEvents(), loaded=loaded[backend])]
            seconds[backend] = time.perf_counter() - started
        worst = max(max_difference(a, b) for a, b in zip(images["torch"], images["openvino"], strict=True))
        print(f"{sampler:14s} {schedule:12s} PSNR {psnr(images['torch'], images['openvino']):6.1f} dB  "
              f"max diff {worst:3d}/255  torch {seconds['torch']:.2f} s  openvino {seconds['openvino']:.2f} s",
              flush=True)


if __name__ == "__main__":
    main()
