"""sdkit.sampling.comfyui computes what ComfyUI's KSampler computes.

The known answers were obtained by running ComfyUI's own functions (comfy/samplers.py KSampler and schedulers,
comfy/k_diffusion/sampling.py samplers and noise samplers, comfy/sample.py prepare_noise, model_sampling's
ModelSamplingDiscrete; stored commits 89b96578 / 9b039406 of ComfyUI's samplers.py / sampling.py) in a
scratch harness outside the repository, on the SD σ table (scaled_linear 0.00085…0.012, 1000 steps) and a
toy denoiser; sdkit's functions gave the same float32 bits for every sampler (docs/samplers.md).
"""

from __future__ import annotations

import pytest
import torch

from sdkit.sampling import comfyui
from sdkit.sampling.comfyui import ComfyBatch, ComfyTable, comfyui_latents, comfyui_sigmas
from sdkit.sampling.comfyui_noise import BatchBrownianNoise, StepNoise, initial_noise

TABLE = ComfyTable.from_scheduler_config({"beta_schedule": "scaled_linear", "beta_start": 0.00085,
                                          "beta_end": 0.012, "num_train_timesteps": 1000})
SHAPE = (4, 8, 8)


def toy(x, sigma):
    return torch.tanh(x) * (1 / (sigma**2 + 1)) + 0.1 * torch.sin(3 * x)


def test_table_is_comfyuis_float64_table_cast_once():
    assert float(TABLE.sigma_min) == 0.029167158529162407
    assert float(TABLE.sigma_max) == 14.614641189575195
    assert float(TABLE.log_sigmas[500]) == 0.48136311769485474
    # σ → timestep is the nearest index; timestep → σ interpolates log σ.
    assert int(TABLE.timestep(torch.tensor(1.0))) == 354 and int(TABLE.timestep(torch.tensor(5.0))) == 795
    assert float(TABLE.sigma(torch.tensor(10.5))) == 0.10053270310163498


SCHEDULES_4_STEPS = {
    "simple": [14.614641189575195, 4.081729412078857, 1.6128861904144287, 0.6932048797607422, 0.0],
    "sgm_uniform": [14.614640235900879, 4.086081027984619, 1.6155803203582764, 0.6951495409011841, 0.0],
    "karras": [14.614643096923828, 3.168604850769043, 0.4469185769557953, 0.0291671771556139, 0.0],
    "exponential": [14.614640235900879, 1.8400236368179321, 0.23166418075561523, 0.029167160391807556, 0.0],
    "ddim_uniform": [4.116696357727051, 1.6236920356750488, 0.6983981132507324, 0.04131441190838814, 0.0],
    "beta": [14.614641189575195, 5.686591625213623, 1.6182788610458374, 0.5153906345367432, 0.0],
    "normal": [14.614640235900879, 2.918307065963745, 0.9323579668998718, 0.029167160391807556, 0.0],
    "linear_quadratic": [14.614641189575195, 14.431958198547363, 14.249275207519531, 10.59561538696289, 0.0],
    "kl_optimal": [14.614632606506348, 1.5970659255981445, 0.572914183139801, 0.029167158529162407, 0.0],
}


@pytest.mark.parametrize("schedule", comfyui.COMFYUI_SCHEDULES)
def test_each_schedule_gives_comfyuis_sigmas(schedule):
    assert comfyui_sigmas("euler", schedule, TABLE, 4).tolist() == SCHEDULES_4_STEPS[schedule]


def test_automatic_is_normal_and_dpm2_drops_the_penultimate_sigma():
    assert torch.equal(comfyui_sigmas("euler", "automatic", TABLE, 4), comfyui_sigmas("euler", "normal", TABLE, 4))
    assert comfyui_sigmas("dpm_2", "karras", TABLE, 4).tolist() == [
        14.614643096923828, 4.796534538269043, 1.2741007804870605, 0.2479499727487564, 0.0]
    # Unlike A1111, ComfyUI keeps every sigma for DPM++ 3M SDE.
    assert torch.equal(comfyui_sigmas("dpmpp_3m_sde", "karras", TABLE, 4), comfyui_sigmas("euler", "karras", TABLE, 4))


def test_img2img_denoise_runs_the_tail_of_a_longer_schedule():
    # denoise 0.6 of 4 steps: int(4/0.6) = 6 steps, the last 5 sigmas.
    sigmas = comfyui_sigmas("euler", "normal", TABLE, 4, denoise=0.6)
    assert sigmas.tolist() == [2.2797305583953857, 1.1628645658493042, 0.5711888670921326, 0.029167160391807556, 0.0]
    assert torch.equal(sigmas, comfyui_sigmas("euler", "normal", TABLE, 6)[-5:])
    assert len(comfyui_sigmas("euler", "normal", TABLE, 4, denoise=0.0)) == 0


def test_noise_is_drawn_for_the_whole_batch():
    whole = ComfyBatch.whole(1234, 3)
    noise = initial_noise(whole, SHAPE)
    assert noise[1, 0, 0, :3].tolist() == [-1.411251187324524, 0.019978929311037064, -0.41152796149253845]
    assert noise[2, 3, 7, 7].item() == 0.2583469748497009
    assert torch.equal(initial_noise(ComfyBatch(1234, 3, (2,)), SHAPE), noise[2:])
    step = StepNoise(torch.zeros(3, *SHAPE), whole)()  # CPU: seeded seed + 1
    assert step[1, 0, 0, :3].tolist() == [0.854542076587677, -0.8708240389823914, -1.7224675416946411]
    assert step[2, 3, 7, 7].item() == -0.22207008302211761


def test_one_brownian_tree_spans_the_batch():
    tree = BatchBrownianNoise(torch.zeros(3, *SHAPE), torch.tensor(0.03), torch.tensor(14.6), ComfyBatch.whole(1234, 3))
    increment = tree(torch.tensor(5.0), torch.tensor(2.0))
    assert increment[1, 0, 0, :3].tolist() == [-0.30257993936538696, -0.5000123381614685, -0.6337454319000244]
    assert increment[2, 3, 7, 7].item() == 0.8019499778747559
    one = BatchBrownianNoise(torch.zeros(1, *SHAPE), torch.tensor(0.03), torch.tensor(14.6), ComfyBatch(1234, 3, (1,)))
    assert torch.equal(one(torch.tensor(5.0), torch.tensor(2.0)), increment[1:2])


# Per sampler: txt2img (5 steps, normal) image 1 at [2, 3, :3]; inpaint img2img (5 steps, karras, denoise 0.6)
# image 2 at [1, 0, :3]: the first element is redrawn, the other two are kept.
RUNS = {
    "euler": ([-0.42544040083885193, 0.33588188886642456, 0.3434194326400757],
              [0.528783917427063, -0.11079169064760208, 0.27470269799232483]),
    "euler_ancestral": ([0.5795836448669434, 0.5005802512168884, -0.573065459728241],
                        [-0.23774561285972595, -0.11079169064760208, 0.27470269799232483]),
    "heun": ([-0.7922176122665405, 0.7910580635070801, 0.7912959456443787],
             [0.6527032256126404, -0.11079169064760208, 0.27470269799232483]),
    "dpm_2": ([-0.44969257712364197, 0.3841593861579895, 0.39932364225387573],
              [0.5955244898796082, -0.11079169064760208, 0.27470269799232483]),
    "dpm_2_ancestral": ([0.582566499710083, 0.5277352333068848, -0.5886381268501282],
                        [-0.32089561223983765, -0.11079169809818268, 0.27470269799232483]),
    "lms": ([-0.4898408353328705, 0.3898507356643677, 0.39867305755615234],
            [0.5617077350616455, -0.11079169064760208, 0.27470269799232483]),
    "dpmpp_2s_ancestral": ([0.6545501947402954, 0.5709395408630371, -0.504933774471283],
                           [-0.24015969038009644, -0.11079169064760208, 0.27470269799232483]),
    "dpmpp_sde": ([0.03164644166827202, -0.5031428337097168, -0.6618257164955139],
                  [0.6517360210418701, -0.11079169064760208, 0.27470269799232483]),
    "dpmpp_2m": ([-0.6801772117614746, 0.5577963590621948, 0.5717755556106567],
                 [0.6205766201019287, -0.11079169064760208, 0.27470269799232483]),
    "dpmpp_2m_sde": ([0.6162094473838806, -0.7203348875045776, -0.7775983810424805],
                     [0.6924309730529785, -0.11079169064760208, 0.27470269799232483]),
    "dpmpp_2m_sde_heun": ([0.7250839471817017, -0.783394992351532, -0.8010507225990295],
                          [0.7164317965507507, -0.11079169064760208, 0.27470269799232483]),
    "dpmpp_3m_sde": ([0.7799758315086365, -0.8115095496177673, -0.9263098239898682],
                     [0.6623366475105286, -0.11079169064760208, 0.27470269799232483]),
    "ddim": ([-0.42544040083885193, 0.33588188886642456, 0.3434194326400757],
             [0.528783917427063, -0.11079169064760208, 0.27470269799232483]),
    "lcm": ([0.5815680027008057, 0.5606403946876526, -0.5930526256561279],
            [-0.3674558401107788, -0.11079169064760208, 0.27470269799232483]),
    "ddpm": ([0.579582154750824, 0.5005789399147034, -0.5730637907981873],
             [-0.23774224519729614, -0.11079026758670807, 0.2747032344341278]),
    "ipndm": ([-0.4355577528476715, 0.44179803133010864, 0.4422788619995117],
              [0.6019673943519592, -0.11079169064760208, 0.27470269799232483]),
    "ipndm_v": ([-0.5194414258003235, 0.42209672927856445, 0.4323405921459198],
                [0.581497848033905, -0.11079169064760208, 0.27470269799232483]),
}
INIT = torch.randn((3, *SHAPE), generator=torch.Generator().manual_seed(5))
MASK = (torch.arange(64).reshape(1, 1, 8, 8) % 3 == 0).float()


@pytest.mark.parametrize("sampler_id", comfyui.SAMPLERS)
def test_each_sampler_gives_comfyuis_latents(sampler_id):
    txt2img_expected, inpaint_expected = RUNS[sampler_id]
    whole = ComfyBatch.whole(1234, 3)
    latents = comfyui_latents(toy, sampler_id, table=TABLE, steps=5, batch=whole, latent_shape=SHAPE)
    assert latents[1, 2, 3, :3].tolist() == txt2img_expected
    inpainted = comfyui_latents(toy, sampler_id, table=TABLE, steps=5, batch=whole, latent_shape=SHAPE,
                                schedule="karras", denoise=0.6, init_latents=INIT, latent_mask=MASK)
    assert inpainted[2, 1, 0, :3].tolist() == inpaint_expected
    # Outside the mask the result is the init latent (up to the last step's rounding: no final blend).
    assert torch.allclose(inpainted * (1 - MASK), INIT * (1 - MASK), atol=1e-5)


@pytest.mark.parametrize("sampler_id", ["euler_ancestral", "dpmpp_2m_sde", "lcm"])
def test_one_position_of_a_batch_is_that_image_bit_for_bit(sampler_id):
    whole = comfyui_latents(toy, sampler_id, table=TABLE, steps=4, batch=ComfyBatch.whole(99, 3), latent_shape=SHAPE)
    one = comfyui_latents(toy, sampler_id, table=TABLE, steps=4, batch=ComfyBatch(99, 3, (1,)), latent_shape=SHAPE)
    assert torch.equal(one, whole[1:2])
    assert not torch.equal(one, comfyui_latents(toy, sampler_id, table=TABLE, steps=4, batch=ComfyBatch.whole(99, 1),
                                                latent_shape=SHAPE))


def test_txt2img_starts_at_noise_times_sqrt_one_plus_sigma_max_squared():
    seen = []

    def recording(x, sigma):
        seen.append(x.clone())
        return x * 0

    batch = ComfyBatch.whole(1234, 3)
    comfyui_latents(recording, "euler", table=TABLE, steps=2, batch=batch, latent_shape=SHAPE)
    sigma = comfyui_sigmas("euler", "normal", TABLE, 2)[0]
    assert torch.equal(seen[0], initial_noise(batch, SHAPE) * torch.sqrt(1.0 + sigma**2.0))
    seen.clear()
    comfyui_latents(recording, "euler", table=TABLE, steps=2, batch=batch, latent_shape=SHAPE, denoise=0.5,
                    init_latents=INIT)
    sigma = comfyui_sigmas("euler", "normal", TABLE, 2, denoise=0.5)[0]
    assert torch.equal(seen[0], initial_noise(batch, SHAPE) * sigma + INIT)


def test_engine_mirrors_equal_the_sampling_tables():
    from sdkit.engines.sd import comfyui as engine

    assert engine.COMFYUI_SAMPLER_IDS == comfyui.COMFYUI_SAMPLER_IDS
    assert engine.COMFYUI_SCHEDULES == comfyui.COMFYUI_SCHEDULES


def test_an_unknown_sampler_is_refused():
    with pytest.raises(ValueError, match="no ComfyUI-faithful path"):
        comfyui_latents(toy, "plms", table=TABLE, steps=2, batch=ComfyBatch.whole(1, 1), latent_shape=SHAPE)


def test_ddim_inpaints_with_its_own_noise_outside_the_mask():
    """ComfyUI's "ddim" is Euler whose unmasked latent is noised with a second noise (seed + 1)."""

    def mixing(x, sigma):  # reads its neighbours, so the kept area's noise reaches the redrawn one
        return torch.tanh(x) * (1 / (sigma**2 + 1)) + 0.1 * x.mean(dim=(-1, -2), keepdim=True)

    arguments = dict(table=TABLE, steps=5, batch=ComfyBatch.whole(1234, 3), latent_shape=SHAPE, schedule="karras",
                     denoise=0.6, init_latents=INIT, latent_mask=MASK)
    euler = comfyui_latents(mixing, "euler", **arguments)
    ddim = comfyui_latents(mixing, "ddim", **arguments)
    assert euler[2, 1, 0, :3].tolist() == [0.21110279858112335, -0.11079169064760208, 0.27470269799232483]
    assert ddim[2, 1, 0, :3].tolist() == [0.24033863842487335, -0.11079169064760208, 0.27470269799232483]
