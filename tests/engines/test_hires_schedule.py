"""The hires fix's arithmetic against A1111's: the target size and crop, and the second pass's steps.

The step rule is checked twice: as a formula over many step counts and strengths, and on the real
img2img pipeline of a tiny model, whose scheduler must run exactly the last N timesteps of A1111's
longer schedule.
"""

from __future__ import annotations

import pytest

from sdkit.core.hires import builtin_upscaler, hires_size, second_pass_schedule


@pytest.mark.parametrize("first, scale, resize, upscale_to, size", [
    ((512, 512), 2, (0, 0), (1024, 1024), (1024, 1024)),
    ((512, 512), 1.7, (0, 0), (870, 870), (864, 864)),  # int(512 × 1.7), then whole latent cells
    ((512, 768), None, (1024, 1024), (1024, 1536), (1024, 1024)),  # covers the target, crops rows
    ((768, 512), None, (1024, 1024), (1536, 1024), (1024, 1024)),  # ... or columns
    ((512, 768), None, (1024, 0), (1024, 1536), (1024, 1536)),  # 0 keeps the aspect ratio
    ((512, 768), None, (0, 1152), (768, 1152), (768, 1152)),
])
def test_target_size_as_a1111_calculates_it(first, scale, resize, upscale_to, size):
    target = hires_size(*first, scale, *resize)
    assert target.upscale_to == upscale_to and target.size() == size


def test_the_crop_is_split_between_both_sides_in_latent_cells():
    target = hires_size(512, 768, None, 1024, 1000)  # covers at 1024x1536: 536 px too tall, 67 cells
    assert target.crop() == (0, 67) and target.size() == (1024, (192 - 67) * 8)
    assert target.crop(4) == (0, 134)  # a VAE with another factor counts its own cells


def test_upscaler_names_are_read_in_any_case_and_written_in_a1111s():
    assert builtin_upscaler("latent (BICUBIC  antialiased)") == "Latent (bicubic antialiased)"
    assert builtin_upscaler("lanczos") == "Lanczos" and builtin_upscaler("none") == "None"
    assert builtin_upscaler("RealESRGAN_x4plus") is None


def test_the_second_pass_runs_exactly_its_steps_at_every_strength():
    for steps in range(1, 151):
        for denoise in (0.01, 0.05, 0.1, 0.2, 0.3, 0.33, 0.45, 0.5, 0.55, 0.7, 0.75, 0.9, 0.999, 1.0):
            length, strength = second_pass_schedule(steps, denoise)
            assert length == max(steps, int(steps / min(denoise, 0.999)))  # A1111's setup_img2img_steps
            assert 0 < strength <= 1
            assert min(int(length * strength), length) == steps, (steps, denoise)  # what diffusers runs


@pytest.mark.parametrize("steps, denoise", [(3, 0.7), (5, 0.3), (4, 1.0)])
def test_the_img2img_pipeline_runs_the_last_steps_of_a1111s_schedule(tiny_pipeline_dir, steps, denoise):
    import torch
    from diffusers import EulerDiscreteScheduler, StableDiffusionImg2ImgPipeline

    pipeline = StableDiffusionImg2ImgPipeline.from_pretrained(tiny_pipeline_dir("sd1"), safety_checker=None)
    pipeline.scheduler = EulerDiscreteScheduler.from_config(pipeline.scheduler.config)
    pipeline.set_progress_bar_config(disable=True)
    length, strength = second_pass_schedule(steps, denoise)
    seen = []

    def record(pipe, step, timestep, tensors):
        seen.append(float(timestep))
        return tensors

    pipeline(prompt="x", image=torch.zeros(1, 4, 8, 8), strength=strength, num_inference_steps=length,
             output_type="latent", callback_on_step_end=record)
    reference = EulerDiscreteScheduler.from_config(pipeline.scheduler.config)
    reference.set_timesteps(length)
    # A1111 runs sigmas[length - steps:] of the length-step schedule: these timesteps, then the final zero.
    assert seen == [float(t) for t in reference.timesteps[length - steps:]]
