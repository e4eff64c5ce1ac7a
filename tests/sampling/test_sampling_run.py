"""txt2img/img2img latents A1111's way, on the demo model's UNet (v-prediction, 64² images, 8² latents)."""

from __future__ import annotations

import pytest
import torch

from sdkit.sampling import run
from sdkit.sampling.denoiser import Conditioning, UNetDenoiser
from sdkit.sampling.noise import ImageGenerators
from sdkit.sampling.nv_rng import NVGenerator
from sdkit.sampling.sigmas import SigmaTable, karras_sigmas

TABLE = SigmaTable.from_scheduler_config({"beta_start": 0.00085, "beta_end": 0.012,
                                          "beta_schedule": "scaled_linear", "num_train_timesteps": 1000})
SHAPE = (4, 8, 8)


def demo_denoiser(unet, images: int) -> UNetDenoiser:
    embeddings = torch.randn(1, 77, 64, generator=torch.Generator().manual_seed(0))
    negative = torch.randn(1, 77, 64, generator=torch.Generator().manual_seed(1))
    return UNetDenoiser(unet, TABLE, (Conditioning(embeddings.repeat(images, 1, 1)),
                                      Conditioning(negative.repeat(images, 1, 1))),
                        cfg_scale=3.0, prediction_type="v_prediction")


class Recording:
    """A denoiser that records its inputs and returns a fixed fraction of x (cheap and deterministic)."""

    def __init__(self):
        self.inputs = []

    def __call__(self, x, sigma):
        self.inputs.append((x.clone(), float(sigma)))
        return x * 0.5


def test_start_is_noise_times_first_sigma_from_each_images_generator():
    recording = Recording()
    run.txt2img_latents(recording, "euler", table=TABLE, steps=5, seeds=[10, 11], latent_shape=SHAPE)
    first_x, first_sigma = recording.inputs[0]
    expected_noise = torch.stack([torch.randn(SHAPE, generator=torch.Generator().manual_seed(seed))
                                  for seed in (10, 11)])
    assert first_sigma == pytest.approx(TABLE.sigma_max, rel=1e-6)
    assert torch.equal(first_x, expected_noise * torch.tensor(first_sigma))
    nv = Recording()
    run.txt2img_latents(nv, "euler", table=TABLE, steps=5, seeds=[10], latent_shape=SHAPE, rng="nv")
    assert torch.equal(nv.inputs[0][0][0], NVGenerator(10).randn_tensor(SHAPE) * torch.tensor(first_sigma))


def test_automatic_schedules_and_the_discard_rule():
    assert run.resolve_schedule("dpmpp_2m", "automatic") == "karras"
    assert run.resolve_schedule("dpmpp_2m_sde", "automatic") == "exponential"
    assert run.resolve_schedule("euler", "automatic") == "uniform"
    assert run.resolve_schedule("euler", "karras") == "karras"
    dpm2 = run.sampler_sigmas("dpm_2", "automatic", TABLE, 10)
    eleven = karras_sigmas(11, TABLE.sigma_min, TABLE.sigma_max)
    assert len(dpm2) == 11 and torch.equal(dpm2, torch.cat([eleven[:-2], eleven[-1:]]))
    assert run.prompt_schedule_steps("heun", 20) == 40 and run.prompt_schedule_steps("euler", 20) == 20
    with pytest.raises(ValueError, match="dpmpp_2m"):
        run.sampler_sigmas("uni_pc", "automatic", TABLE, 10)


def test_img2img_runs_a1111s_last_steps_from_latent_plus_noise():
    recording = Recording()
    init = torch.full((1, *SHAPE), 0.25)
    run.img2img_latents(recording, "euler", init, table=TABLE, steps=20, strength=0.5, seeds=[3])
    full = run.sampler_sigmas("euler", "automatic", TABLE, 20)
    assert len(recording.inputs) == int(0.5 * 20) + 1
    start_sigma = recording.inputs[0][1]
    assert start_sigma == pytest.approx(float(full[20 - 10 - 1]), rel=1e-6)
    noise = torch.randn(SHAPE, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(recording.inputs[0][0][0], 0.25 + noise * start_sigma, atol=1e-6)
    everything = Recording()
    run.img2img_latents(everything, "euler", init, table=TABLE, steps=20, strength=1.0, seeds=[3])
    assert len(everything.inputs) == 20  # strength is capped at 0.999: int(19.98) + 1 steps


def test_img2img_with_exact_steps_runs_them_from_a_longer_schedule():
    assert run.img2img_schedule(20, 0.5) == (20, 10)
    assert run.img2img_schedule(20, 0.5, exact_steps=True) == (40, 19)
    recording = Recording()
    init = torch.zeros((1, *SHAPE))
    run.img2img_latents(recording, "euler", init, table=TABLE, steps=8, strength=0.3, seeds=[3], exact_steps=True)
    longer = run.sampler_sigmas("euler", "automatic", TABLE, int(8 / 0.3))
    assert len(recording.inputs) == 8
    assert [sigma for _, sigma in recording.inputs] == pytest.approx([float(s) for s in longer[-9:-1]], rel=1e-6)


@pytest.mark.parametrize("sampler_id", ["euler_ancestral", "dpmpp_2m", "dpmpp_sde", "ddim"])
def test_demo_model_batches_are_images_alone_and_repeat(demo_unet, sampler_id):
    def draw(seeds, rng="cpu"):
        with torch.no_grad():
            return run.txt2img_latents(demo_denoiser(demo_unet, len(seeds)), sampler_id, table=TABLE, steps=6,
                                       seeds=seeds, latent_shape=SHAPE, rng=rng)

    batch = draw([21, 22])
    assert batch.shape == (2, *SHAPE) and torch.isfinite(batch).all()
    assert torch.equal(batch, draw([21, 22]))
    # Each image equals its seed alone: the noise is bit for bit the same (tests/sampling/
    # test_sampling_samplers.py), but the UNet's batched CPU arithmetic moves the latents by ≤ 2e-6.
    assert torch.allclose(batch[1], draw([22])[0], atol=1e-4)
    assert not torch.allclose(batch[0], batch[1], atol=1e-2)
    assert not torch.allclose(draw([21], rng="nv")[0], batch[0], atol=1e-2)


def test_ancestral_noise_continues_after_the_initial_noise():
    generators = ImageGenerators([5], SHAPE, "cpu")
    initial, step_noise = generators.first(), generators(None, None)
    reference = torch.Generator().manual_seed(5)
    assert torch.equal(initial[0], torch.randn(SHAPE, generator=reference))
    assert torch.equal(step_noise[0], torch.randn(SHAPE, generator=reference))


@pytest.mark.parametrize("source", ["cpu", "nv"])
def test_ensd_reseeds_every_generator_after_the_initial_noise(source):
    plain, delta = ImageGenerators([5, 6], SHAPE, source), ImageGenerators([5, 6], SHAPE, source, ensd=31337)
    assert torch.equal(delta.first(), plain.first())  # A1111 reseeds after the initial noise
    reseeded = ImageGenerators([5 + 31337, 6 + 31337], SHAPE, source).first()
    assert torch.equal(delta(None, None), reseeded)
    assert not torch.equal(plain(None, None), reseeded)


def test_ensd_changes_only_the_samplers_that_draw_from_the_generators():
    assert run.uses_ensd("euler_ancestral") and run.uses_ensd("dpmpp_2s_ancestral")
    assert not run.uses_ensd("euler") and not run.uses_ensd("dpmpp_sde") and not run.uses_ensd("ddim")
    steps = dict(table=TABLE, steps=4, seeds=[3], latent_shape=SHAPE)

    def denoise(x, sigma):
        return x * 0.5

    for sampler_id, changes in (("euler_ancestral", True), ("euler", False), ("dpmpp_2m_sde", False)):
        plain = run.txt2img_latents(denoise, sampler_id, **steps)
        delta = run.txt2img_latents(denoise, sampler_id, **steps, ensd=31337)
        assert torch.equal(plain, delta) is not changes, sampler_id


@pytest.fixture(scope="module")
def demo_pipeline():
    from diffusers import StableDiffusionPipeline

    from sdkit.demo import DEMO_MODEL_DIR

    pipe = StableDiffusionPipeline.from_pretrained(DEMO_MODEL_DIR, safety_checker=None, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


# Where diffusers computes the same method, the latents must agree: Euler Karras exactly (same sigmas,
# same fractional timesteps), DPM++ SDE up to float noise (diffusers' k-diffusion port, one image, its tree
# seeded with the image's seed), DPM++ 2M Karras up to diffusers' rounding of the model timesteps.
DIFFUSERS_TWINS = {
    ("euler", "karras"): ("EulerDiscreteScheduler", {"use_karras_sigmas": True}, 1e-4),
    ("dpmpp_sde", "karras"): ("DPMSolverSDEScheduler", {"use_karras_sigmas": True}, 1e-3),
    ("dpmpp_2m", "karras"): ("DPMSolverMultistepScheduler", {"use_karras_sigmas": True, "solver_order": 2,
                                                             "algorithm_type": "dpmsolver++",
                                                             "final_sigmas_type": "zero"}, 0.02),
}


@pytest.mark.parametrize(("sampler_id", "schedule"), list(DIFFUSERS_TWINS))
def test_latents_agree_with_diffusers_where_the_method_is_the_same(demo_pipeline, sampler_id, schedule):
    import diffusers

    class_name, overrides, tolerance = DIFFUSERS_TWINS[(sampler_id, schedule)]
    seed, steps = 4, 15
    if class_name == "DPMSolverSDEScheduler":
        overrides = {**overrides, "noise_sampler_seed": seed}
    demo_pipeline.scheduler = getattr(diffusers, class_name).from_config(demo_pipeline.scheduler.config, **overrides)
    denoiser = demo_denoiser(demo_pipeline.unet, 1)
    cond, uncond = denoiser._conditioning
    with torch.no_grad():
        ours = run.txt2img_latents(denoiser, sampler_id, table=TABLE, steps=steps, seeds=[seed], latent_shape=SHAPE,
                                   schedule=schedule)
        theirs = demo_pipeline(prompt_embeds=cond.embeddings, negative_prompt_embeds=uncond.embeddings,
                               guidance_scale=3.0, num_inference_steps=steps, height=64, width=64,
                               latents=ImageGenerators([seed], SHAPE).first(), output_type="latent").images
    difference = float((ours - theirs).abs().max())
    assert difference < tolerance
    assert difference < 0.01 * float(ours.abs().max())
