"""Under A1111's names DDIM, PLMS and UniPC run A1111's timestep samplers in every task, on the demo model.

The demo model is a v-prediction model (the ε conversion at integer and fractional timesteps is on the
path). Each reference is the run layer's latents (`txt2img_latents`, `img2img_latents`) decoded with
`decode_truncated`; the CLI's PNG must equal it pixel for pixel.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from test_a1111_sampling import PROMPT, demo_pipeline, generate, sdkit_sampling_images  # noqa: F401

from sdkit.demo import DEMO_MODEL_DIR
from sdkit.engines.sd import a1111
from sdkit.run.events import NullEvents

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # numpy 2 notes from inside diffusers


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("timestep_inputs")
    init = Image.new("RGB", (64, 64), (200, 40, 40))
    init.paste((30, 30, 220), (16, 16, 48, 48))
    init.save(folder / "init.png")
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (24, 24, 64, 64))
    mask.save(folder / "mask.png")
    return {"image": folder / "init.png", "mask": folder / "mask.png", "init": init, "mask_image": mask}


def reference_denoiser(pipeline):
    from sdkit.sampling.denoiser import Conditioning, UNetDenoiser
    from sdkit.sampling.sigmas import SigmaTable

    with torch.inference_mode():
        cond, uncond = pipeline.encode_prompt(PROMPT, "cpu", 1, True, "")
    table = SigmaTable.from_scheduler_config(pipeline.scheduler.config)
    denoiser = UNetDenoiser(pipeline.unet, table, (Conditioning(cond), Conditioning(uncond)), cfg_scale=3.0,
                            prediction_type=pipeline.scheduler.config.prediction_type)
    return denoiser, table


def img2img_reference(pipeline, sampler_id: str, init: Image.Image, steps: int, strength: float, seed: int):
    from sdkit.engines.sd.latents import encode_images
    from sdkit.sampling.denoiser import decode_truncated
    from sdkit.sampling.run import img2img_latents

    denoiser, table = reference_denoiser(pipeline)
    with torch.inference_mode():
        init_latents = encode_images(pipeline, [init]).to(torch.float32)
        latents = img2img_latents(denoiser, sampler_id, init_latents, table=table, steps=steps, strength=strength,
                                  seeds=[seed])
    return decode_truncated(pipeline.vae, latents)[0]


@pytest.mark.parametrize("name,sampler_id", [("PLMS", "plms"), ("UniPC", "uni_pc")])
def test_txt2img_draws_the_run_layers_image(capsys, tmp_path, demo_pipeline, name, sampler_id):  # noqa: F811
    [image] = generate(capsys, tmp_path, "--sampler", name, "--steps", "5", "--seed", "7")
    [expected] = sdkit_sampling_images(demo_pipeline, sampler_id, [7], 5)
    assert np.array_equal(image, expected)


@pytest.mark.parametrize("name,sampler_id", [("DDIM", "ddim"), ("PLMS", "plms"), ("UniPC", "uni_pc")])
def test_img2img_draws_the_run_layers_image(capsys, tmp_path, demo_pipeline, inputs, name, sampler_id):  # noqa: F811
    [image] = generate(capsys, tmp_path, "--task", "img2img", "--image", str(inputs["image"]), "--strength", "0.6",
                       "--sampler", name, "--steps", "6", "--seed", "2")
    expected = img2img_reference(demo_pipeline, sampler_id, inputs["init"], 6, 0.6, 2)
    assert np.array_equal(image, expected)


def test_ddim_inpaint_draws_the_run_layers_masked_image(capsys, tmp_path, demo_pipeline, inputs):  # noqa: F811
    from sdkit.sampling.denoiser import decode_truncated
    from sdkit.sampling.run import img2img_latents

    [image] = generate(capsys, tmp_path, "--task", "inpaint", "--image", str(inputs["image"]), "--mask",
                       str(inputs["mask"]), "--mask-blur", "0", "--sampler", "DDIM", "--steps", "5", "--seed", "2")
    [diffusers] = generate(capsys, tmp_path, "--task", "inpaint", "--image", str(inputs["image"]), "--mask",
                           str(inputs["mask"]), "--mask-blur", "0", "--sampler", "diffusers:ddim", "--steps", "5",
                           "--seed", "2")
    from diffusers import StableDiffusionInpaintPipeline

    denoiser, table = reference_denoiser(demo_pipeline)
    inpaint_pipeline = StableDiffusionInpaintPipeline(**demo_pipeline.components)
    with torch.inference_mode():
        init_latents, mask, _ = a1111.inpaint_inputs(inpaint_pipeline, inputs["init"], inputs["mask_image"], 1,
                                                      (64, 64))
        latents = img2img_latents(a1111.MaskedDenoiser(denoiser, init_latents, mask), "ddim", init_latents,
                                  table=table, steps=5, strength=1.0, seeds=[2])
        latents = init_latents * (1 - mask) + latents * mask
    assert np.array_equal(image, decode_truncated(demo_pipeline.vae, latents)[0])
    assert not np.array_equal(image, diffusers)  # diffusers' DDIM is another computation


def test_masked_denoiser_gives_timestep_samplers_the_init_latent_outside_the_mask():
    seen = []

    class Inner:
        def predict_eps(self, x, timestep):
            seen.append((x.clone(), timestep))
            return torch.zeros_like(x)

    init, mask = torch.full((1, 1, 1, 2), 5.0), torch.tensor([[[[0.0, 1.0]]]])
    eps = a1111.MaskedDenoiser(Inner(), init, mask).predict_eps(torch.tensor([[[[1.0, 2.0]]]]), 401)
    assert torch.equal(seen[0][0], torch.tensor([[[[5.0, 2.0]]]])) and seen[0][1] == 401
    assert torch.equal(eps, torch.zeros((1, 1, 1, 2)))


class RecordSteps(NullEvents):
    """The run's events, keeping each finished (step, steps)."""

    def __init__(self) -> None:
        self.steps: list[tuple[int, int]] = []

    def step_finished(self, index: int, step: int, steps: int) -> None:
        self.steps.append((step, steps))


def test_ddim_hires_pass_runs_a1111s_ddim(tmp_path):
    """Hires 3 steps at 0.5 after 3: A1111's 6-step list, t_enc = 2, so one DDIM step (diffusers' would run 3)."""
    from sdkit.run.execute import execute
    from sdkit.run.plan import make_plan

    plan = make_plan(model=str(DEMO_MODEL_DIR), flags={
        "prompt": PROMPT, "sampler": "DDIM", "steps": 3, "seed": 1, "width": 64, "height": 64, "hires_scale": 2,
        "hires_steps": 3, "hires_denoise": 0.5})
    events, saved = RecordSteps(), []
    execute(plan, events, output_dir=tmp_path / "out", on_saved=saved.append)
    # First pass: 3 DDIM steps (1000 // 3 = 333: a 4-entry list); second pass: one step.
    assert events.steps == [(1, 6), (2, 6), (3, 6), (4, 4)]
    assert len(saved) == 1
