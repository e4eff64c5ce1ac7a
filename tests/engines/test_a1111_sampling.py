"""Under A1111's sampler names the SD engine draws what sdkit.sampling computes; other names stay diffusers'.

Each reference is built here from the demo model's components with sdkit.sampling's own functions
(`txt2img_latents`, `decode_truncated`) or with a plain diffusers pipeline, and the engine's PNG must
equal it pixel for pixel: that proves the wiring (noise, σ₀ start, CFG, schedule, decode) end to end.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import run_sdkit
from PIL import Image

from sdkit.demo import DEMO_MODEL_DIR

PROMPT = "a red circle on a blue background"
SIZE = ["--width", "64", "--height", "64"]


def generate(capsys, tmp_path: Path, *args: str) -> list[np.ndarray]:
    out = tmp_path / f"run{len(list(tmp_path.glob('run*')))}"
    result = run_sdkit(capsys, "generate", "--prompt", PROMPT, *SIZE, "--cfg-scale", "3", "--output-dir", str(out),
                       *args, "--json")
    assert result.exit_code == 0, result.output
    paths = [Path(image["path"]) for image in json.loads(result.stdout)["images"]]
    return [np.asarray(Image.open(path).convert("RGB")) for path in paths]


@pytest.fixture(scope="module")
def demo_pipeline():
    from diffusers import StableDiffusionPipeline

    pipeline = StableDiffusionPipeline.from_pretrained(DEMO_MODEL_DIR, local_files_only=True, safety_checker=None,
                                                       requires_safety_checker=False)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def sdkit_sampling_images(pipeline, sampler_id: str, seeds: list[int], steps: int, *, rng: str = "cpu",
                          schedule: str = "automatic", cfg: float = 3.0, conditioning=None) -> list[np.ndarray]:
    """The reference: sdkit.sampling alone, on the demo model's UNet and VAE."""
    import torch

    from sdkit.sampling.denoiser import Conditioning, UNetDenoiser, decode_truncated
    from sdkit.sampling.run import txt2img_latents
    from sdkit.sampling.sigmas import SigmaTable

    if conditioning is None:
        with torch.inference_mode():
            cond, uncond = pipeline.encode_prompt(PROMPT, "cpu", 1, True, "")
        pair = (Conditioning(cond.repeat(len(seeds), 1, 1)), Conditioning(uncond.repeat(len(seeds), 1, 1)))
        conditioning = pair
    table = SigmaTable.from_scheduler_config(pipeline.scheduler.config)
    factor = pipeline.vae_scale_factor
    denoiser = UNetDenoiser(pipeline.unet, table, conditioning, cfg_scale=cfg,
                            prediction_type=pipeline.scheduler.config.prediction_type)
    with torch.inference_mode():
        latents = txt2img_latents(denoiser, sampler_id, table=table, steps=steps, seeds=seeds,
                                  latent_shape=(4, 64 // factor, 64 // factor), schedule=schedule, rng=rng)
    return decode_truncated(pipeline.vae, latents)


@pytest.mark.parametrize("name,sampler_id", [
    ("DPM++ 2M", "dpmpp_2m"), ("Euler a", "euler_ancestral"), ("Heun", "heun"), ("DPM++ SDE", "dpmpp_sde"),
    ("DPM++ 2M SDE Karras", "dpmpp_2m_sde"), ("k_dpmpp_2s_a", "dpmpp_2s_ancestral"), ("DDIM", "ddim"),
])
def test_a1111_name_draws_sdkit_samplings_image(capsys, tmp_path, demo_pipeline, name, sampler_id):
    [image] = generate(capsys, tmp_path, "--sampler", name, "--steps", "5", "--seed", "7")
    schedule = "karras" if name.endswith("Karras") else "automatic"
    [expected] = sdkit_sampling_images(demo_pipeline, sampler_id, [7], 5, schedule=schedule)
    assert np.array_equal(image, expected)


def test_diffusers_class_name_still_draws_diffusers_image(capsys, tmp_path, demo_pipeline):
    import torch

    from sdkit.samplers import make_scheduler, resolve_sampler

    [image] = generate(capsys, tmp_path, "--sampler", "DPMSolverMultistepScheduler", "--steps", "5", "--seed", "7")
    [a1111] = generate(capsys, tmp_path, "--sampler", "DPM++ 2M", "--schedule", "uniform", "--steps", "5",
                       "--seed", "7")
    demo_pipeline.scheduler = make_scheduler(resolve_sampler("DPMSolverMultistepScheduler"),
                                             demo_pipeline.scheduler.config)
    generator = torch.Generator("cpu").manual_seed(7)
    side = 64 // demo_pipeline.vae_scale_factor
    latents = torch.randn((1, 4, side, side), generator=generator)
    expected = demo_pipeline(PROMPT, negative_prompt="", num_inference_steps=5, guidance_scale=3.0, height=64,
                             width=64, latents=latents, generator=[generator]).images[0]
    assert np.array_equal(image, np.asarray(expected))
    assert not np.array_equal(image, a1111)


def test_batch_image_equals_its_seed_alone(capsys, tmp_path):
    batch = generate(capsys, tmp_path, "--sampler", "Euler a", "--steps", "4", "--seed", "20", "--batch-size", "2")
    [alone] = generate(capsys, tmp_path, "--sampler", "Euler a", "--steps", "4", "--seed", "21")
    # The UNet's batched arithmetic moves latents by ~1e-6 (docs/samplers.md): at most one level after decode.
    assert np.abs(batch[1].astype(int) - alone.astype(int)).max() <= 1
    assert not np.array_equal(batch[0], batch[1])


def test_rng_nv_is_sdkit_samplings_nv_source_reproducible_and_not_cpus(capsys, tmp_path, demo_pipeline):
    first = generate(capsys, tmp_path, "--sampler", "Euler a", "--steps", "4", "--seed", "3", "--rng", "nv")[0]
    again = generate(capsys, tmp_path, "--sampler", "Euler a", "--steps", "4", "--seed", "3", "--rng", "nv")[0]
    cpu = generate(capsys, tmp_path, "--sampler", "Euler a", "--steps", "4", "--seed", "3", "--rng", "cpu")[0]
    [expected] = sdkit_sampling_images(demo_pipeline, "euler_ancestral", [3], 4, rng="nv")
    assert np.array_equal(first, again) and np.array_equal(first, expected)
    assert not np.array_equal(first, cpu)


def test_rng_nv_on_a_diffusers_scheduler_changes_the_initial_noise(capsys, tmp_path):
    nv = generate(capsys, tmp_path, "--sampler", "diffusers:dpmpp_2m", "--steps", "4", "--seed", "3", "--rng", "nv")[0]
    cpu = generate(capsys, tmp_path, "--sampler", "diffusers:dpmpp_2m", "--steps", "4", "--seed", "3")[0]
    assert not np.array_equal(nv, cpu)


def test_prompt_schedule_switches_at_a1111s_model_call(capsys, tmp_path, demo_pipeline):
    """[red:blue:0.5] with Heun over 3 steps: A1111 schedules over 6 calls, [(3, red), (6, blue)], and its
    denoiser, counting calls from 0, takes the first entry whose end is at least the call: calls 0-3 see red,
    4-5 blue (`prompts.step_index_for_model_call`, observed on A1111 v1.10's own code)."""
    import torch

    from sdkit.sampling.denoiser import Conditioning

    [image] = generate(capsys, tmp_path, "--prompt", "a [red:blue:0.5] circle", "--sampler", "Heun", "--steps", "3",
                       "--seed", "4")
    with torch.inference_mode():
        red, uncond = demo_pipeline.encode_prompt("a red circle", "cpu", 1, True, "")
        blue, _ = demo_pipeline.encode_prompt("a blue circle", "cpu", 1, True, "")
    pairs = [(Conditioning(text), Conditioning(uncond)) for text in (red, blue)]
    [expected] = sdkit_sampling_images(demo_pipeline, "heun", [4], 3, conditioning=lambda call: pairs[call >= 4])
    [only_red] = sdkit_sampling_images(demo_pipeline, "heun", [4], 3, conditioning=pairs[0])
    # sdkit encodes scheduled prompts itself (prompts.encode), a float ulp from the pipeline's encoder.
    assert np.abs(image.astype(int) - expected.astype(int)).max() <= 1
    assert np.abs(image.astype(int) - only_red.astype(int)).max() > 1


def test_lora_acts_under_an_a1111_sampler_and_leaves_no_trace(capsys, tmp_path, monkeypatch):
    from lora_files import write_lora

    models = tmp_path / "models"
    write_lora(DEMO_MODEL_DIR, models / "Lora" / "detail.safetensors", scale=0.5)
    monkeypatch.setenv("SDKIT_MODELS_DIR", str(models))
    plain = generate(capsys, tmp_path, "--sampler", "DPM++ 2M", "--steps", "4", "--seed", "9")[0]
    run = generate(capsys, tmp_path, "--prompt", PROMPT + " <lora:detail:1>", "--sampler", "DPM++ 2M", "--steps", "4",
                   "--seed", "9")[0]
    after = generate(capsys, tmp_path, "--sampler", "DPM++ 2M", "--steps", "4", "--seed", "9")[0]
    assert not np.array_equal(plain, run)
    assert np.array_equal(plain, after)


def test_hires_fix_under_a1111_names(capsys, tmp_path):
    args = ["--sampler", "Euler", "--steps", "3", "--seed", "5", "--hires-scale", "2", "--hires-steps", "2",
            "--hires-denoise", "0.5"]
    first, again = generate(capsys, tmp_path, *args)[0], generate(capsys, tmp_path, *args)[0]
    lanczos = generate(capsys, tmp_path, *args, "--hires-upscaler", "Lanczos")[0]  # the default is Latent
    diffusers = generate(capsys, tmp_path, *[arg if arg != "Euler" else "euler" for arg in args])[0]
    assert first.shape == (128, 128, 3) and lanczos.shape == (128, 128, 3)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, diffusers) and not np.array_equal(first, lanczos)


@pytest.fixture(scope="module")
def init_files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("inputs")
    init = Image.new("RGB", (64, 64), (200, 40, 40))
    init.paste((30, 30, 220), (16, 16, 48, 48))
    init.save(folder / "init.png")
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (24, 24, 64, 64))
    mask.save(folder / "mask.png")
    return {"image": folder / "init.png", "mask": folder / "mask.png"}


def test_img2img_strength_under_an_a1111_name(capsys, tmp_path, init_files):
    init = np.asarray(Image.open(init_files["image"])).astype(int)
    made = {strength: generate(capsys, tmp_path, "--task", "img2img", "--image", str(init_files["image"]),
                               "--strength", strength, "--sampler", "DPM++ 2M", "--steps", "6", "--seed", "2")[0]
            for strength in ("0.2", "0.9")}
    assert all(image.shape == (64, 64, 3) for image in made.values())
    # A low strength keeps the picture; a high one repaints it.
    assert np.abs(made["0.2"] - init).mean() < np.abs(made["0.9"] - init).mean()


def test_inpaint_keeps_the_unmasked_part_under_an_a1111_name(capsys, tmp_path, init_files):
    init = np.asarray(Image.open(init_files["image"])).astype(int)
    [inpainted] = generate(capsys, tmp_path, "--task", "inpaint", "--image", str(init_files["image"]), "--mask",
                           str(init_files["mask"]), "--sampler", "Euler a", "--steps", "4", "--seed", "2")
    [img2img] = generate(capsys, tmp_path, "--task", "img2img", "--image", str(init_files["image"]),
                         "--strength", "1", "--sampler", "Euler a", "--steps", "4", "--seed", "2")
    assert inpainted.shape == (64, 64, 3)
    kept = (slice(0, 12), slice(0, 12))  # far from the mask (24.., 24..): the init latent's pixels
    assert np.abs(inpainted[kept] - init[kept]).mean() < np.abs(img2img[kept].astype(int) - init[kept]).mean()


class StopAfterFirstStep:
    def __init__(self) -> None:
        self.steps: list[tuple[int, int]] = []

    def image_started(self, index: int, total: int, steps: int) -> None:
        pass

    def step_finished(self, index: int, step: int, steps: int) -> None:
        self.steps.append((step, steps))

    def should_stop(self) -> bool:
        return bool(self.steps)


def test_progress_and_stop_under_an_a1111_name(tmp_path):
    from sdkit.core.errors import Interrupted
    from sdkit.run.execute import execute
    from sdkit.run.plan import make_plan

    plan = make_plan(model=str(DEMO_MODEL_DIR), flags={"prompt": PROMPT, "sampler": "DPM++ 2M", "steps": 6,
                                                       "seed": 1, "width": 64, "height": 64})
    events = StopAfterFirstStep()
    with pytest.raises(Interrupted):
        execute(plan, events, output_dir=tmp_path / "out", on_saved=lambda image: None)
    assert events.steps == [(1, 6)]
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
