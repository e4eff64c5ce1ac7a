"""sdkit's own samplers and schedule types, as data: A1111 and ComfyUI names mapped onto diffusers.

Each `SamplerSpec` below is registered in pyproject.toml under `sdkit.samplers`, exactly as a plugin's
would be. Ids are ComfyUI's sampler names (already snake_case and widely known); display names are
A1111's labels. Sources: shared/reference/samplers.md (A1111 v1.9+ lists, ComfyUI lists, the
diffusers mapping table), with every scheduler setting checked against diffusers 0.42.
"""

from __future__ import annotations

from sdkit.samplers.spec import SIGMA_SCHEDULES, SPACING_SCHEDULES, SamplerSpec, ScheduleSpec

# Which schedule types a diffusers class can take depends on which settings its __init__ has;
# tests/samplers/test_builtin.py checks these groups against the installed diffusers.
FULL = (*SPACING_SCHEDULES, *SIGMA_SCHEDULES)  # timestep_spacing and use_*_sigmas
SPACING_ONLY = SPACING_SCHEDULES  # timestep_spacing only (Euler a, DDIM, PNDM, LCM, DDPM)
SIGMAS_ONLY = ("uniform", *SIGMA_SCHEDULES)  # use_*_sigmas only (DPMSolverSinglestep)

# --- supported samplers --------------------------------------------------------------------------

EULER = SamplerSpec(
    id="euler", a1111_faithful=True,
    display_name="Euler", scheduler_class="EulerDiscreteScheduler",
    aliases=("k_euler", "EulerDiscreteScheduler"), schedule_types=FULL,
)
EULER_ANCESTRAL = SamplerSpec(
    id="euler_ancestral", a1111_faithful=True,
    display_name="Euler a", scheduler_class="EulerAncestralDiscreteScheduler",
    aliases=("k_euler_a", "k_euler_ancestral", "euler_a", "EulerAncestralDiscreteScheduler"),
    schedule_types=SPACING_ONLY, stochastic=True,
    notes="diffusers' Euler a has no Karras/Exponential/Beta sigmas",
)
HEUN = SamplerSpec(
    id="heun", a1111_faithful=True,
    display_name="Heun", scheduler_class="HeunDiscreteScheduler",
    aliases=("k_heun", "HeunDiscreteScheduler"), schedule_types=FULL,
)
LMS = SamplerSpec(
    id="lms", a1111_faithful=True,
    display_name="LMS", scheduler_class="LMSDiscreteScheduler",
    aliases=("k_lms", "LMSDiscreteScheduler"), schedule_types=FULL,
)
DPM_2 = SamplerSpec(
    id="dpm_2", a1111_faithful=True,
    display_name="DPM2", scheduler_class="KDPM2DiscreteScheduler",
    aliases=("k_dpm_2", "KDPM2DiscreteScheduler"), default_schedule="karras", schedule_types=FULL,
)
DPM_2_ANCESTRAL = SamplerSpec(
    id="dpm_2_ancestral", a1111_faithful=True,
    display_name="DPM2 a", scheduler_class="KDPM2AncestralDiscreteScheduler",
    aliases=("k_dpm_2_a", "dpm_2_a", "KDPM2AncestralDiscreteScheduler"), default_schedule="karras",
    schedule_types=FULL, stochastic=True,
)
DPMPP_2M = SamplerSpec(
    id="dpmpp_2m", a1111_faithful=True,
    display_name="DPM++ 2M", scheduler_class="DPMSolverMultistepScheduler",
    # Explicit, so a model whose own config says "sde-dpmsolver++" still gets the ODE solver.
    scheduler_kwargs={"algorithm_type": "dpmsolver++", "solver_order": 2, "solver_type": "midpoint"},
    aliases=("k_dpmpp_2m", "DPMSolverMultistepScheduler"), default_schedule="karras", schedule_types=FULL,
)
DPMPP_2M_SDE = SamplerSpec(
    id="dpmpp_2m_sde", a1111_faithful=True,
    display_name="DPM++ 2M SDE", scheduler_class="DPMSolverMultistepScheduler",
    scheduler_kwargs={"algorithm_type": "sde-dpmsolver++", "solver_order": 2, "solver_type": "midpoint"},
    # k_dpmpp_2m_sde_ka: old A1111 lists gave the plain sampler this alias by mistake; old files carry it.
    aliases=("k_dpmpp_2m_sde", "k_dpmpp_2m_sde_ka", "dpmpp_2m_sde_gpu"), default_schedule="exponential",
    schedule_types=FULL, stochastic=True,
    notes="per-step noise from the per-image generators, not a Brownian tree as in A1111",
)
DPMPP_2M_SDE_HEUN = SamplerSpec(
    id="dpmpp_2m_sde_heun", a1111_faithful=True,
    display_name="DPM++ 2M SDE Heun", scheduler_class="DPMSolverMultistepScheduler",
    scheduler_kwargs={"algorithm_type": "sde-dpmsolver++", "solver_order": 2, "solver_type": "heun"},
    aliases=("k_dpmpp_2m_sde_heun", "dpmpp_2m_sde_heun_gpu"), default_schedule="exponential",
    schedule_types=FULL, stochastic=True,
    notes="per-step noise from the per-image generators, not a Brownian tree as in A1111",
)
DPMPP_SDE = SamplerSpec(
    id="dpmpp_sde", a1111_faithful=True,
    display_name="DPM++ SDE", scheduler_class="DPMSolverSinglestepScheduler",
    # Not DPMSolverSDEScheduler: that one needs torchsde and draws its Brownian-tree noise from one
    # seed for the whole batch, so an image would change with its batch. The singlestep solver in
    # SDE mode is the same family (second-order singlestep, stochastic) and takes per-image generators.
    # lower_order_final: diffusers forces it on anyway with zero final sigma, warning each time.
    scheduler_kwargs={"algorithm_type": "sde-dpmsolver++", "solver_order": 2, "solver_type": "midpoint",
                      "lower_order_final": True},
    aliases=("k_dpmpp_sde", "dpmpp_sde_gpu", "DPMSolverSinglestepScheduler", "DPMSolverSDEScheduler"),
    default_schedule="karras", schedule_types=SIGMAS_ONLY, stochastic=True,
    notes="runs on DPMSolverSinglestepScheduler (sde-dpmsolver++); close to, not equal to, A1111's",
)
# diffusers' DDIM and DDPM clip the predicted clean sample to [-1, 1] unless the model's config says not to:
# right for pixel-space models, wrong for latents (their range is wider), and neither A1111 nor ComfyUI
# clips. A model config without `clip_sample` (the demo model's, many converted ones) got washed-out colours.
NO_X0_CLIPPING = {"clip_sample": False}
DDIM = SamplerSpec(
    id="ddim", a1111_faithful=True,
    display_name="DDIM", scheduler_class="DDIMScheduler",
    scheduler_kwargs=NO_X0_CLIPPING,
    aliases=("DDIMScheduler",), schedule_types=SPACING_ONLY,
)
PLMS = SamplerSpec(
    id="plms", a1111_faithful=True,  # under A1111's label: A1111's own PLMS (sdkit.sampling.plms)
    display_name="PLMS", scheduler_class="PNDMScheduler",
    scheduler_kwargs={"skip_prk_steps": True},  # PLMS is PNDM without the Runge-Kutta warm-up
    aliases=("pndm", "PNDMScheduler"), schedule_types=SPACING_ONLY,
)
UNI_PC = SamplerSpec(
    id="uni_pc", a1111_faithful=True,  # under A1111's label: A1111's own UniPC (sdkit.sampling.unipc)
    display_name="UniPC", scheduler_class="UniPCMultistepScheduler",
    # bh1 is A1111's default variant and ComfyUI's uni_pc. With diffusers' default zero final sigma,
    # bh1's last step divides by an infinite log-SNR and every image comes out NaN (diffusers 0.42).
    scheduler_kwargs={"solver_type": "bh1", "final_sigmas_type": "sigma_min"},
    aliases=("unipc",), schedule_types=FULL,
    notes="as 'UniPC': A1111's own UniPC; as uni_pc/unipc: diffusers', ending at sigma_min (bh1 with a "
          "zero final sigma gives NaN there)",
)
UNI_PC_BH2 = SamplerSpec(
    id="uni_pc_bh2", display_name="UniPC bh2", scheduler_class="UniPCMultistepScheduler",
    scheduler_kwargs={"solver_type": "bh2"},  # diffusers' own default
    aliases=("unipc_bh2", "UniPCMultistepScheduler"), schedule_types=FULL,
)
DEIS = SamplerSpec(
    id="deis", display_name="DEIS", scheduler_class="DEISMultistepScheduler",
    aliases=("DEISMultistepScheduler",), schedule_types=FULL,
)
# "LCM" and k_lcm (A1111's names) run A1111's LCM in sdkit.sampling; lcm and LCMScheduler stay diffusers'.
LCM = SamplerSpec(
    id="lcm", a1111_faithful=True, display_name="LCM", scheduler_class="LCMScheduler",
    aliases=("k_lcm", "LCMScheduler"), schedule_types=SPACING_ONLY, stochastic=True,
)
DDPM = SamplerSpec(
    id="ddpm", display_name="DDPM", scheduler_class="DDPMScheduler",
    scheduler_kwargs=NO_X0_CLIPPING,
    aliases=("DDPMScheduler",), schedule_types=SPACING_ONLY, stochastic=True,
)

# --- names people know that diffusers cannot run -----------------------------------------------


def _unsupported(sampler_id: str, display_name: str, nearest: str, *aliases: str,
                 default_schedule: str = "uniform", a1111_faithful: bool = False) -> SamplerSpec:
    return SamplerSpec(id=sampler_id, display_name=display_name, aliases=aliases, supported=False,
                       nearest=nearest, default_schedule=default_schedule, schedule_types=(),
                       a1111_faithful=a1111_faithful)


# No diffusers scheduler computes these two; under their A1111 names sdkit.sampling runs them.
DPMPP_2S_ANCESTRAL = _unsupported("dpmpp_2s_ancestral", "DPM++ 2S a", "dpmpp_sde", "k_dpmpp_2s_a",
                                  default_schedule="karras", a1111_faithful=True)
DPMPP_3M_SDE = _unsupported("dpmpp_3m_sde", "DPM++ 3M SDE", "dpmpp_2m_sde", "k_dpmpp_3m_sde",
                            "dpmpp_3m_sde_gpu", default_schedule="exponential", a1111_faithful=True)
DPM_FAST = _unsupported("dpm_fast", "DPM fast", "dpmpp_2m", "k_dpm_fast")
DPM_ADAPTIVE = _unsupported("dpm_adaptive", "DPM adaptive", "dpmpp_2m", "k_dpm_ad")
# No diffusers scheduler computes Restart: "Restart" (A1111's label) runs A1111's own in sdkit.sampling.
RESTART = _unsupported("restart", "Restart", "heun", default_schedule="karras", a1111_faithful=True)
DDIM_CFGPP = _unsupported("ddim_cfgpp", "DDIM CFG++", "ddim", "ddim_cfg_pp")
EULER_CFG_PP = _unsupported("euler_cfg_pp", "Euler CFG++", "euler")
EULER_ANCESTRAL_CFG_PP = _unsupported("euler_ancestral_cfg_pp", "Euler a CFG++", "euler_ancestral")
DPMPP_2S_ANCESTRAL_CFG_PP = _unsupported("dpmpp_2s_ancestral_cfg_pp", "DPM++ 2S a CFG++", "dpmpp_sde")
DPMPP_2M_CFG_PP = _unsupported("dpmpp_2m_cfg_pp", "DPM++ 2M CFG++", "dpmpp_2m")
HEUNPP2 = _unsupported("heunpp2", "Heun++ 2", "heun")
IPNDM = _unsupported("ipndm", "iPNDM", "plms", "IPNDMScheduler")
IPNDM_V = _unsupported("ipndm_v", "iPNDM v", "plms")
RES_MULTISTEP = _unsupported("res_multistep", "RES multistep", "dpmpp_2m", "res_multistep_cfg_pp")
RES_MULTISTEP_ANCESTRAL = _unsupported("res_multistep_ancestral", "RES multistep a", "euler_ancestral",
                                       "res_multistep_ancestral_cfg_pp")
GRADIENT_ESTIMATION = _unsupported("gradient_estimation", "Gradient estimation", "euler",
                                   "gradient_estimation_cfg_pp")
ER_SDE = _unsupported("er_sde", "ER SDE", "dpmpp_2m_sde")
SEEDS_2 = _unsupported("seeds_2", "SEEDS 2", "dpmpp_sde")
SEEDS_3 = _unsupported("seeds_3", "SEEDS 3", "dpmpp_sde")
SA_SOLVER = _unsupported("sa_solver", "SA-Solver", "dpmpp_2m_sde", "sa_solver_pece")

BUILTIN_SAMPLERS: tuple[SamplerSpec, ...] = (
    EULER, EULER_ANCESTRAL, HEUN, LMS, DPM_2, DPM_2_ANCESTRAL, DPMPP_2M, DPMPP_2M_SDE, DPMPP_2M_SDE_HEUN,
    DPMPP_SDE, DDIM, PLMS, UNI_PC, UNI_PC_BH2, DEIS, LCM, DDPM,
    DPMPP_2S_ANCESTRAL, DPMPP_3M_SDE, DPM_FAST, DPM_ADAPTIVE, RESTART, DDIM_CFGPP, EULER_CFG_PP,
    EULER_ANCESTRAL_CFG_PP, DPMPP_2S_ANCESTRAL_CFG_PP, DPMPP_2M_CFG_PP, HEUNPP2, IPNDM, IPNDM_V,
    RES_MULTISTEP, RES_MULTISTEP_ANCESTRAL, GRADIENT_ESTIMATION, ER_SDE, SEEDS_2, SEEDS_3, SA_SOLVER,
)

# --- schedule types, in A1111's order (its legacy-name split tries them in this order) -----------

SCHEDULES: tuple[ScheduleSpec, ...] = (
    ScheduleSpec("automatic", "Automatic", aliases=("auto", "default")),
    # A1111's "Uniform" is the model's own discrete schedule: keep the model config's spacing.
    ScheduleSpec("uniform", "Uniform"),
    # "ka": the `_ka` suffix of pre-1.9 A1111 aliases such as k_dpmpp_2m_ka.
    ScheduleSpec("karras", "Karras", aliases=("ka",), sigmas_flag="use_karras_sigmas"),
    # diffusers' docs pair exponential and beta sigmas with linspace spacing.
    ScheduleSpec("exponential", "Exponential", sigmas_flag="use_exponential_sigmas", spacing="linspace"),
    ScheduleSpec("polyexponential", "Polyexponential", supported=False, nearest="exponential"),
    ScheduleSpec("sgm_uniform", "SGM Uniform", aliases=("SGMUniform",), spacing="trailing"),
    ScheduleSpec("kl_optimal", "KL Optimal", supported=False, nearest="karras"),
    ScheduleSpec("align_your_steps", "Align Your Steps", aliases=("ays",), supported=False, nearest="karras"),
    ScheduleSpec("simple", "Simple", spacing="trailing"),
    ScheduleSpec("normal", "Normal", spacing="linspace"),
    ScheduleSpec("ddim_uniform", "DDIM", aliases=("ddim",), spacing="leading"),
    ScheduleSpec("beta", "Beta", sigmas_flag="use_beta_sigmas", spacing="linspace"),
    ScheduleSpec("linear_quadratic", "Linear Quadratic", supported=False, nearest="normal"),
)
SCHEDULES_BY_ID = {schedule.id: schedule for schedule in SCHEDULES}
# The schedule types sdkit.sampling computes with A1111's formulas (sampling/sigmas.py SCHEDULE_IDS; a test
# keeps the two equal): under an A1111 sampler name these work whatever diffusers' scheduler could take.
# The samplers and schedule types sdkit.sampling computes as ComfyUI does (`sampling/comfyui.py`
# COMFYUI_SAMPLER_IDS and COMFYUI_SCHEDULES; a test keeps them equal): under a ComfyUI name (an id such as
# `euler_ancestral`, or a ComfyUI spelling such as `dpmpp_2m_sde_gpu`) these run ComfyUI's computation.
COMFYUI_SAMPLERS = ("euler", "euler_ancestral", "heun", "dpm_2", "dpm_2_ancestral", "lms", "dpmpp_2s_ancestral",
                    "dpmpp_sde", "dpmpp_2m", "dpmpp_2m_sde", "dpmpp_2m_sde_heun", "dpmpp_3m_sde", "ddim", "lcm", "ddpm",
                    "ipndm", "ipndm_v")
COMFYUI_SCHEDULES = ("normal", "karras", "exponential", "sgm_uniform", "simple", "ddim_uniform", "beta",
                     "linear_quadratic", "kl_optimal")
COMFYUI_DEFAULT_SCHEDULE = "normal"  # a KSampler node's default; ComfyUI has no per-sampler "Automatic"
A1111_SCHEDULES = ("uniform", "karras", "exponential", "polyexponential", "normal", "sgm_uniform", "simple",
                   "ddim_uniform", "kl_optimal", "beta")
