"""Measure the demo model with the pixel evaluator: txt2img, samplers, CFG, img2img, inpaint and speed.

Usage (from the repository root):
    python training/evaluate_demo_model.py [--model FOLDER] [--json OUT.json] [--seen 24] [--quick]
Prints a Markdown report (the numbers in docs/demo-model.md come from it) and writes the raw numbers as JSON.
Every run is seeded, so the same model gives the same numbers.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np
import torch

from sdkit.demo import DEMO_MODEL_DIR
from sdkit.demo.evaluate import palette_labels, read_image, score_images
from sdkit.demo.shapes import COLOURS, HELD_OUT, IMAGE_SIZE, Combo, draw, draw_at, seen_combos

DEFAULT_STEPS = 20
DEFAULT_CFG = 7.0  # the engine's; main() replaces it with the model's recommended scale (what basic runs)
SEEDS = (0, 1)
# Distilled-model samplers: meaningless on a model that was not distilled for them.
SKIPPED_SAMPLERS = {"lcm"}


def recommended_cfg(model: Path) -> float:
    """What the basic preset runs with: the model's recommended guidance scale, else the engine's 7."""
    from sdkit.models.recommended import recommended_params

    return float(recommended_params(model).get("cfg_scale", DEFAULT_CFG))


def load_pipelines(model: Path):
    from diffusers import StableDiffusionImg2ImgPipeline, StableDiffusionInpaintPipeline, StableDiffusionPipeline

    txt2img = StableDiffusionPipeline.from_pretrained(model, local_files_only=True)
    txt2img.set_progress_bar_config(disable=True)
    img2img = StableDiffusionImg2ImgPipeline(**txt2img.components)
    inpaint = StableDiffusionInpaintPipeline(**txt2img.components)
    for pipeline in (img2img, inpaint):
        pipeline.set_progress_bar_config(disable=True)
    return txt2img, img2img, inpaint


def generators(seeds: list[int]) -> list[torch.Generator]:
    return [torch.Generator("cpu").manual_seed(seed) for seed in seeds]


def txt2img(pipeline, combos: list[Combo], steps: int = DEFAULT_STEPS, cfg: float = DEFAULT_CFG,
            batch: int = 24, seeds: tuple[int, ...] = SEEDS) -> tuple[list, list[Combo]]:
    """Every combo at every seed; returns the images and the combo each was prompted with."""
    jobs = [(combo, seed) for combo in combos for seed in seeds]
    images = []
    for start in range(0, len(jobs), batch):
        chunk = jobs[start : start + batch]
        images += pipeline(prompt=[combo.caption for combo, _ in chunk], generator=generators([s for _, s in chunk]),
                           num_inference_steps=steps, guidance_scale=cfg).images
    return images, [combo for combo, _ in jobs]


def percent(scores: dict[str, float]) -> dict[str, float]:
    return {key: round(100 * value, 1) for key, value in scores.items()}


def seen_sample(count: int) -> list[Combo]:
    return random.Random(1234).sample(seen_combos(), count)


def evaluate_txt2img(pipeline, seen: list[Combo], scales: list[float]) -> dict:
    results = {}
    for label, combos in (("held_out", list(HELD_OUT)), ("seen", seen)):
        for cfg in sorted({DEFAULT_CFG, *scales}, reverse=True):
            images, expected = txt2img(pipeline, combos, cfg=cfg)
            results[f"{label} cfg {cfg:g}"] = percent(score_images(images, expected))
    return results


def evaluate_samplers(pipeline, seen: list[Combo]) -> dict:
    """Every supported sampler of sdkit's table, at the basic preset's 20 steps, on 12 prompts x 1 seed."""
    from sdkit.samplers import make_scheduler, resolve_sampler, sampler_table

    original = pipeline.scheduler
    combos = list(HELD_OUT[:6]) + seen[:6]
    results = {}
    for sampler_id, spec in sampler_table().samplers.items():
        if not spec.supported or sampler_id in SKIPPED_SAMPLERS:
            continue
        steps = DEFAULT_STEPS
        try:
            pipeline.scheduler = make_scheduler(resolve_sampler(sampler_id), original.config)
        except Exception as error:  # a sampler whose optional package is missing: report, do not stop
            results[sampler_id] = {"steps": steps, "error": str(error)}
            continue
        images, expected = txt2img(pipeline, combos, steps=steps, cfg=DEFAULT_CFG, seeds=(0,))
        scores = score_images(images, expected)
        results[sampler_id] = {"steps": steps, **percent(scores)}
    pipeline.scheduler = original
    return results


def colour_share(image, colour: str, region: np.ndarray) -> float:
    """Share of the region's pixels whose nearest palette colour is `colour`."""
    return float((palette_labels(image)[region] == list(COLOURS).index(colour)).mean())


def evaluate_img2img(img2img, combos: list[Combo]) -> dict:
    rng = random.Random(5)
    low, high = [], []
    for index, combo in enumerate(combos):
        source = draw(combo, rng)
        kept = img2img(prompt=combo.caption, image=source, strength=0.3, num_inference_steps=DEFAULT_STEPS,
                       guidance_scale=DEFAULT_CFG, generator=generators([index])[0]).images[0]
        low.append(read_image(kept).scores(combo))
        other = next(c for c in COLOURS if c not in (combo.colour, combo.background))
        target = Combo(other, combo.shape, combo.background)
        changed = img2img(prompt=target.caption, image=source, strength=0.9, num_inference_steps=DEFAULT_STEPS,
                          guidance_scale=DEFAULT_CFG, generator=generators([index])[0]).images[0]
        high.append(read_image(changed).colour == other)
    return {
        "low strength 0.3 keeps background %": round(100 * np.mean([s["background"] for s in low]), 1),
        "low strength 0.3 keeps shape colour %": round(100 * np.mean([s["colour"] for s in low]), 1),
        "low strength 0.3 keeps shape class %": round(100 * np.mean([s["shape"] for s in low]), 1),
        "high strength 0.9 takes the prompted colour %": round(100 * np.mean(high), 1),
    }


def evaluate_inpaint(inpaint, combos: list[Combo]) -> dict:
    """Mask the shape's box, prompt another shape colour: inside turns to it, outside (beyond 6 px) stays."""
    from PIL import Image

    inside_changed, outside_diff = [], []
    for index, combo in enumerate(combos):
        left, top, side = 14, 14, 36
        source = draw_at(combo, left, top, side)
        mask = Image.new("L", (IMAGE_SIZE, IMAGE_SIZE), 0)
        mask.paste(255, (left - 2, top - 2, left + side + 2, top + side + 2))
        other = next(c for c in COLOURS if c not in (combo.colour, combo.background))
        target = Combo(other, combo.shape, combo.background)
        result = inpaint(prompt=target.caption, image=source, mask_image=mask, height=IMAGE_SIZE, width=IMAGE_SIZE,
                         strength=1.0, num_inference_steps=DEFAULT_STEPS, guidance_scale=DEFAULT_CFG,
                         generator=generators([index])[0]).images[0]
        inside_changed.append(read_image(result).colour == other)
        far = np.ones((IMAGE_SIZE, IMAGE_SIZE), dtype=bool)
        far[top - 8 : top + side + 8, left - 8 : left + side + 8] = False
        difference = np.abs(np.asarray(result, np.float32) - np.asarray(source, np.float32)).mean(axis=-1)
        outside_diff.append(float(difference[far].mean()))
    return {"inside takes the prompted colour %": round(100 * np.mean(inside_changed), 1),
            "mean abs change outside the mask border (0-255)": round(float(np.mean(outside_diff)), 2)}


def measure_speed(pipeline, repeats: int = 5) -> dict:
    kwargs = dict(prompt="a red circle on a blue background", num_inference_steps=DEFAULT_STEPS,
                  guidance_scale=DEFAULT_CFG)
    pipeline(**kwargs, generator=generators([0])[0])  # warm-up
    timings = []
    for repeat in range(repeats):
        started = time.perf_counter()
        pipeline(**kwargs, generator=generators([repeat])[0])
        timings.append(time.perf_counter() - started)
    label = f"txt2img 64x64, {DEFAULT_STEPS} steps, CFG {DEFAULT_CFG:g}, one image: median s"
    return {label: round(float(np.median(timings)), 3), "threads": torch.get_num_threads()}


def main() -> None:
    global DEFAULT_CFG
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEMO_MODEL_DIR)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--seen", type=int, default=24, help="how many seen combinations to sample")
    parser.add_argument("--quick", action="store_true", help="txt2img and speed only")
    parser.add_argument("--cfg", type=float, default=None,
                        help="guidance for the sampler, img2img, inpaint and speed checks "
                             "(default: the model's recommended scale from sdkit.json, else 7)")
    parser.add_argument("--txt2img-cfgs", default="7,1", help="further guidance scales for the txt2img table")
    args = parser.parse_args()
    # The one knob the helpers share; set once, before any of them runs.
    DEFAULT_CFG = args.cfg if args.cfg is not None else recommended_cfg(args.model)
    started = time.time()
    txt2img_pipeline, img2img_pipeline, inpaint_pipeline = load_pipelines(args.model)
    seen = seen_sample(args.seen)
    report: dict = {"model": str(args.model), "steps": DEFAULT_STEPS,
                    "cfg (samplers, img2img, inpaint, speed)": DEFAULT_CFG, "seeds": list(SEEDS),
                    "scheduler": txt2img_pipeline.scheduler.__class__.__name__,
                    "held_out_combinations": len(HELD_OUT), "seen_combinations": len(seen)}
    report["speed"] = measure_speed(txt2img_pipeline)
    report["txt2img"] = evaluate_txt2img(txt2img_pipeline, seen, [float(s) for s in args.txt2img_cfgs.split(",")])
    if not args.quick:
        report["samplers"] = evaluate_samplers(txt2img_pipeline, seen)
        probe = list(HELD_OUT[:6]) + seen[:6]
        report["img2img"] = evaluate_img2img(img2img_pipeline, probe)
        report["inpaint"] = evaluate_inpaint(inpaint_pipeline, probe)
    report["seconds"] = round(time.time() - started)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(render_markdown(report))


def render_markdown(report: dict) -> str:
    lines = [f"model {report['model']}: {report['scheduler']}, {report['steps']} steps, seeds {report['seeds']}",
             "", "| txt2img | background | shape colour | shape class |", "|---|---|---|---|"]
    for label, scores in report["txt2img"].items():
        lines.append(f"| {label} | {scores['background']} % | {scores['colour']} % | {scores['shape']} % |")
    if "samplers" in report:
        lines += ["", "| sampler | steps | background | shape colour | shape class |", "|---|---|---|---|---|"]
        for sampler_id, scores in report["samplers"].items():
            if "error" in scores:
                lines.append(f"| {sampler_id} | {scores['steps']} | {scores['error']} | | |")
                continue
            lines.append(f"| {sampler_id} | {scores['steps']} | {scores['background']} % | {scores['colour']} % "
                         f"| {scores['shape']} % |")
    for section in ("img2img", "inpaint", "speed"):
        if section in report:
            lines += ["", f"{section}:"] + [f"- {key}: {value}" for key, value in report[section].items()]
    lines.append(f"\nevaluation took {report['seconds']} s")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
