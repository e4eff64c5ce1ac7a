"""`sdkit generate`: make images from a preset and flags (or from an image's metadata).

Ctrl-C and SIGTERM are handled from the start of the command (`sdkit.cli.progress.StopFlag`): before
the first image starts, a stop ends the run at once; while images are drawn, at the engine's next step.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from sdkit.cli.console import err, out, print_json
from sdkit.core.errors import Interrupted, UserInputError
from sdkit.runtime.logs import set_context

if TYPE_CHECKING:
    from sdkit.cli.progress import StopFlag


def generate(
    prompt_text: str = typer.Argument(None, metavar="PROMPT", show_default=False,
                                      help="What to draw (the same as --prompt)."),
    preset: str = typer.Option(None, "--preset", "-P", help="Preset name (txt2img/basic) or YAML file."),
    prompt: str = typer.Option(None, "--prompt", "-p", help="What to draw."),
    negative_prompt: str = typer.Option(None, "--negative-prompt", "-n", help="What to avoid."),
    model: str = typer.Option(None, "--model", "-m", help="Model: file, diffusers folder, name in the models folder, or hub id."),
    vae: str = typer.Option(None, "--vae", help="A VAE file or folder that replaces the model's own."),
    prediction_type: str = typer.Option(None, "--prediction-type", help="epsilon or v_prediction, for single files that do not say (SD 2.x)."),
    engine: str = typer.Option(None, "--engine", "-e", help="Engine (sd15, sd2, sdxl, realesrgan, ...); default: from the model."),
    task: str = typer.Option(None, "--task", "-t", help="txt2img, img2img, inpaint or upscale; default: from preset or inputs."),
    mode: str = typer.Option(None, "--mode", help="normal, lcm, turbo or lightning (few-step models)."),
    steps: int = typer.Option(None, "--steps", "-s", help="Sampling steps."),
    cfg_scale: float = typer.Option(None, "--cfg-scale", "--cfg", help="Classifier-free guidance scale."),
    width: int = typer.Option(None, "--width", "-W", help="Image width (multiple of 8)."),
    height: int = typer.Option(None, "--height", "-H", help="Image height (multiple of 8)."),
    batch_size: int = typer.Option(None, "--batch-size", "-b", help="Images made together."),
    batch_count: int = typer.Option(None, "--batch-count", "-c", help="Batches made one after another."),
    seed: int = typer.Option(None, "--seed", help="Seed of the first image; -1 draws one. Image i uses seed + i."),
    sampler: str = typer.Option(None, "--sampler", help="Sampler in A1111, ComfyUI or diffusers names ('DPM++ 2M', dpmpp_2m)."),
    schedule: str = typer.Option(None, "--schedule", "--scheduler", help="Schedule type: automatic, karras, exponential, ...; a diffusers scheduler class name picks that sampler."),
    strength: float = typer.Option(None, "--strength", help="img2img/inpaint denoising strength in (0, 1]."),
    image: str = typer.Option(None, "--image", "-i", help="Input image (img2img, inpaint, upscale)."),
    mask: str = typer.Option(None, "--mask", help="Inpaint mask: white is repainted."),
    mask_blur: int = typer.Option(None, "--mask-blur", help="Feather the mask edge by this many pixels."),
    clip_skip: int = typer.Option(None, "--clip-skip", help="Text-encoder layers to skip from the end (A1111 numbering)."),
    emphasis: str = typer.Option(None, "--emphasis", help="How (word:1.2) weights act: original (A1111's default), no-norm, ignore, none."),
    lora: list[str] = typer.Option(None, "--lora", help="NAME[:WEIGHT]: a LoRA from the models folder's Lora/ (or a path), as <lora:NAME:WEIGHT> in the prompt; repeatable."),
    rng: str = typer.Option(None, "--rng", help="cpu: the same noise on every device (default); nv: A1111's NV source, CUDA's randn computed on the CPU (the noise of A1111 images made on NVIDIA GPUs); device: noise from the GPU."),
    variation_seed: int = typer.Option(None, "--variation-seed", help="A1111's variation seed (-1 draws one); image i blends in the noise of variation seed + i."),
    variation_strength: float = typer.Option(None, "--variation-strength", help="How much of the variation seed's noise to blend in, 0 (off) to 1; with it on, every image keeps --seed."),
    seed_resize_from: str = typer.Option(None, "--seed-resize-from", help="WxH: make the seed's noise at this size and paste it centred (A1111's 'Resize seed from')."),
    ensd: int = typer.Option(None, "--ensd", help="A1111's eta noise seed delta: the ancestral samplers' per-step noise comes from seed + ENSD (31337 in many A1111 images); 0: off."),
    device: str = typer.Option(None, "--device", help="auto, cpu, cuda, cuda:N or mps."),
    dtype: str = typer.Option(None, "--dtype", help="auto, fp32, fp16 or bf16."),
    backend: str = typer.Option(None, "--backend", help="Where the UNet and VAE run: auto, torch or openvino (OpenVINO on the CPU: docs/openvino.md)."),
    attention_slicing: bool = typer.Option(None, "--attention-slicing/--no-attention-slicing", help="Save memory in attention."),
    vae_tiling: bool = typer.Option(None, "--vae-tiling/--no-vae-tiling", help="Decode large images tile by tile."),
    cpu_offload: bool = typer.Option(None, "--cpu-offload/--no-cpu-offload", help="Keep idle model parts in RAM (GPU only)."),
    upscale: str = typer.Option(None, "--upscale", help="Upscaler model applied to each image before saving."),
    upscale_engine: str = typer.Option(None, "--upscale-engine", help="Engine for --upscale (default: the upscale task's, realesrgan)."),
    scale: float = typer.Option(None, "--scale", help="upscale (or --upscale): output scale (default: the model's own)."),
    tile: int = typer.Option(None, "--tile", help="upscale (or --upscale): tile size in pixels, 0 for no tiling."),
    tile_overlap: int = typer.Option(None, "--tile-overlap", help="upscale (or --upscale): overlap between tiles in pixels."),
    hires_scale: float = typer.Option(None, "--hires-scale", help="Hires fix (txt2img): draw, enlarge by this factor and redraw with img2img (A1111's two passes); 0 turns it off."),
    hires_size: str = typer.Option(None, "--hires-size", help="Hires fix: the second pass's size WxH instead of a scale (0 for one side keeps the aspect ratio)."),
    hires_upscaler: str = typer.Option(None, "--hires-upscaler", help="Hires fix: Latent (default), 'Latent (bicubic)', ... as A1111 names them, Lanczos, Nearest, None, or an upscaler model."),
    hires_steps: int = typer.Option(None, "--hires-steps", help="Hires fix: steps of the second pass (0, the default: as many as the first)."),
    hires_denoise: float = typer.Option(None, "--hires-denoise", help="Hires fix: denoising strength of the second pass in (0, 1] (default 0.7)."),
    hires_sampler: str = typer.Option(None, "--hires-sampler", help="Hires fix: the second pass's sampler (default: the first's)."),
    hires_schedule: str = typer.Option(None, "--hires-schedule", help="Hires fix: the second pass's schedule type (default: the first's)."),
    hires_prompt: str = typer.Option(None, "--hires-prompt", help="Hires fix: the second pass's prompt (default: the prompt)."),
    hires_negative_prompt: str = typer.Option(None, "--hires-negative-prompt", help="Hires fix: the second pass's negative prompt."),
    hires_cfg_scale: float = typer.Option(None, "--hires-cfg-scale", help="Hires fix: the second pass's CFG scale (default: the first's)."),
    from_image: Path = typer.Option(None, "--from-image", help="Regenerate from a PNG's parameters (flags override)."),
    output_dir: str = typer.Option(None, "--output-dir", "-o", help="Where images go (default ./outputs/<task>/)."),
    sidecar: bool = typer.Option(False, "--sidecar", help="Also write a JSON file of the full parameters per image."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Resolve and validate everything, then stop."),
    as_json: bool = typer.Option(False, "--json", help="Print a machine-readable result instead of the summary."),
) -> None:
    """Make images: txt2img, img2img, inpaint or upscale."""
    from sdkit.cli.progress import StopFlag

    if prompt_text is not None and prompt is not None:
        raise UserInputError("the prompt is given twice: as an argument and with --prompt",
                             "give it once: `sdkit generate \"a fox\"` or `sdkit generate --prompt \"a fox\"`")
    if output_dir is not None and not output_dir.strip():
        # '' (an unset shell variable) would otherwise mean the current folder
        raise UserInputError("the output folder is empty (--output-dir '')",
                             "pass --output-dir FOLDER (. for the current folder), or leave it out for "
                             "./outputs/<task>/")
    flags: dict[str, Any] = {
        "prompt": prompt_text if prompt_text is not None else prompt, "negative_prompt": negative_prompt,
        "steps": steps, "cfg_scale": cfg_scale,
        "width": width, "height": height, "batch_size": batch_size, "batch_count": batch_count, "seed": seed,
        "sampler": sampler, "schedule": schedule, "strength": strength, "image": image, "mask": mask,
        "mask_blur": mask_blur, "clip_skip": clip_skip, "emphasis": emphasis, "loras": list(lora) if lora else None,
        "rng": rng, "ensd": ensd, "variation_seed": variation_seed, "variation_strength": variation_strength,
        "device": device, "dtype": dtype, "backend": backend,
        "attention_slicing": attention_slicing, "vae_tiling": vae_tiling, "cpu_offload": cpu_offload,
        "upscale": upscale, "upscale_engine": upscale_engine, "scale": scale, "tile": tile, "tile_overlap": tile_overlap,
        "hires_scale": hires_scale, "hires_upscaler": hires_upscaler, "hires_steps": hires_steps,
        "hires_denoise": hires_denoise, "hires_sampler": hires_sampler, "hires_schedule": hires_schedule,
        "hires_prompt": hires_prompt, "hires_negative_prompt": hires_negative_prompt, "hires_cfg_scale": hires_cfg_scale,
    }
    if hires_size is not None:
        from sdkit.core.hires import parse_hires_size

        flags["hires_width"], flags["hires_height"] = parse_hires_size(hires_size)
    if seed_resize_from is not None:
        flags["seed_resize_from_width"], flags["seed_resize_from_height"] = parse_seed_resize(seed_resize_from)
    stop = StopFlag()
    with stop.installed(), _stop_reported():
        _generate(stop, preset=preset, task=task, engine=engine, mode=mode, model=model, vae=vae,
                  prediction_type=prediction_type, from_image=from_image, dry_run=dry_run,
                  output_dir=Path(output_dir) if output_dir is not None else None, sidecar=sidecar,
                  as_json=as_json, flags=flags)


def parse_seed_resize(text: str) -> tuple[int, int]:
    """`--seed-resize-from WxH` as (width, height), both multiples of 8 above 0."""
    parts = text.strip().lower().replace(" ", "").split("x")
    if len(parts) == 2 and all(part.isdigit() and int(part) > 0 for part in parts):
        return int(parts[0]), int(parts[1])
    raise UserInputError(f"--seed-resize-from {text!r} is not a size WxH",
                         "write the size the seed's image was made at, e.g. 512x512")


@contextmanager
def _stop_reported() -> Iterator[None]:
    """A stop that could not wait (before the first image, or a second Ctrl-C) as `Interrupted`: exit
    130, with a message and a log entry like every other way a run ends."""
    from sdkit.cli.progress import StopRequested

    try:
        yield
    except StopRequested as request:
        if request.drawing:
            raise Interrupted(f"stopped at once by a second {request.signal_name} while drawing an image; "
                              "the unfinished image is discarded",
                              "finished images are kept; rerun with --seed to continue") from None
        raise Interrupted(f"stopped by {request.signal_name} while {request.doing}; nothing was made",
                          "run the command again to start over") from None


def _generate(stop: StopFlag, *, preset: str | None, task: str | None, engine: str | None, mode: str | None,
              model: str | None, vae: str | None, prediction_type: str | None, from_image: Path | None,
              dry_run: bool, output_dir: Path | None, sidecar: bool, as_json: bool, flags: dict[str, Any]) -> None:
    from sdkit.run.plan import make_plan

    plan = make_plan(preset_name=preset, task=task, engine=engine, mode=mode, model=model, vae=vae,
                     prediction_type=prediction_type, flags=flags, from_image=from_image)
    if preset:
        from sdkit.runtime.state import remember_preset

        remember_preset(plan.preset.name, plan.preset.source, plan.describe())
    if dry_run:
        from sdkit.run.inputs import open_inputs

        open_inputs(plan.params)  # a broken input image or mask fails the dry run as it would fail the run
        _show_plan(plan.describe(), as_json)
        return
    stop.doing = "loading the model"
    _run(plan, stop, output_dir, sidecar, as_json)


def _show_plan(description: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(description)
        return
    table = Table(title="generate --dry-run: everything resolved and valid", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for key in ("task", "engine", "engine_source", "mode", "model", "vae"):
        table.add_row(key, str(description[key]))
    preset = description["preset"]
    table.add_row("preset", f"{preset['name']} ({preset['source']})" if preset else "-")
    sampler = description.get("sampler")
    if sampler:
        label = "the model's own scheduler" if sampler["model_default"] else f"{sampler['id']} ({sampler['schedule']})"
        table.add_row("sampler", label)
    hires = description.get("hires")
    if hires:
        table.add_row("hires fix", f"second pass at {hires['size']}, upscaler {hires['upscaler']} ({hires['kind']})")
    for key, value in description["params"].items():
        if key.startswith("hires_") and not hires:
            continue  # the hires fix is off: its defaults say nothing about this run
        table.add_row(f"  {key}", repr(value))
    out.print(table)


def _run(plan: Any, stop: StopFlag, output_dir: Path | None, sidecar: bool, as_json: bool) -> None:
    from sdkit.cli.progress import ProgressEvents, make_progress
    from sdkit.demo import DEMO_MODEL_DIR
    from sdkit.run.execute import execute

    ref = plan.model_ref
    if ref is not None and ref.path == DEMO_MODEL_DIR:
        err.print("using the bundled demo model (coloured shapes only); for real images pass "
                  "--model FILE_OR_FOLDER or put models in the models folder (sdkit models list)")
    elif ref is not None and plan.model_is_default:
        err.print(f"no --model given: using engine {plan.engine_name}'s default model, {ref.name}")
    set_context(output_dir=str(output_dir) if output_dir else None)
    saved_paths: list[str] = []
    progress = make_progress(enabled=not as_json and err.is_terminal)
    events = ProgressEvents(progress, stop)
    if progress is not None:
        progress.start()
    try:
        result = execute(plan, events, output_dir=output_dir, sidecar=sidecar,
                         on_saved=lambda saved: saved_paths.append(str(saved.path)))
    finally:
        if progress is not None:
            progress.stop()
        if saved_paths and stop.requested:
            err.print("kept: " + ", ".join(saved_paths))
    if as_json:
        print_json(result.describe())
        return
    seeds = [saved.seed for saved in result.images if saved.seed is not None]
    seed_text = f", seeds {seeds[0]}..{seeds[-1]}" if len(seeds) > 1 else (f", seed {seeds[0]}" if seeds else "")
    if result.seed_drawn and seeds:
        seed_text += " (drawn for --seed -1)"
    err.print(f"made {len(result.images)} image(s) in {result.run_seconds:.1f}s "
              f"(model loaded in {result.load_seconds:.1f}s){seed_text}")
    for saved in result.images:
        out.print(str(saved.path))


def register(app: typer.Typer) -> None:
    app.command(name="generate")(generate)
