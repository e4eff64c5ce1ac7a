"""txt2img and img2img latents the way A1111 v1.10 samples them, independent of any engine.

Given a denoiser (`denoiser.UNetDenoiser` or any `denoise(x, σ)`), an sdkit sampler id, a schedule id,
steps, seeds and an RNG source ("cpu" or "nv"):
- each image's initial noise is randn(C, H/8, W/8) from its own generator (`noise.ImageGenerators`);
- k-diffusion samplers start at x = noise × σ₀ (not × sqrt(1 + σ₀²)) and run the schedule's sigmas;
  "automatic" is the sampler's A1111 default (table below, shared/reference/samplers.md B1), else the
  model's discretization; DPM2, DPM2 a and DPM++ 3M SDE discard the next-to-last sigma (A1111 builds
  n + 1 steps and drops the penultimate, keeping n);
- ancestral samplers continue each image's generator; SDE samplers get a Brownian tree per image;
- LCM and Restart are A1111's own (`samplers_extra`): LCM on its own σ table and UNet wrapper
  (`sampler_denoiser` makes it from a `UNetDenoiser`), both with noise from the per-image generators;
- DDIM, PLMS and UniPC are A1111's timestep samplers (`timesteps`): x starts as unit noise (img2img:
  the init latent noised to ᾱ of a timestep), over ᾱ and A1111's DDIM timestep list;
- img2img (§8): with S steps and strength d, t_enc = int(min(d, 0.999)·S), the last t_enc + 1 steps
  of the S-step sigmas run, from init latent + noise × their first sigma (`exact_steps`: A1111's rule
  when a step count is passed in, as for the hires fix second pass; see `img2img_schedule`).
What is A1111-exact and what is not: docs/samplers.md "A1111-faithful sampling (sdkit.sampling)".
`ensd` reseeds each image's generator after its initial noise (A1111's eta noise seed delta); only the
ancestral samplers, LCM and Restart draw from them afterwards (`uses_ensd`), so only their images change.
`variation` (`noise.Variation`): A1111's variation seeds and "seed resize from" for the initial noise.
Not here: what docs/samplers.md lists as still on diffusers' schedulers under A1111 names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import torch

from sdkit.sampling import samplers_extra as extra
from sdkit.sampling import samplers_ode as ode
from sdkit.sampling import samplers_stochastic as stochastic
from sdkit.sampling.noise import BrownianTreeNoise, ImageGenerators, Variation
from sdkit.sampling.sigmas import SigmaTable, schedule_sigmas
from sdkit.sampling.steps import StepCallback
from sdkit.sampling.timesteps import TIMESTEP_SAMPLERS, img2img_timesteps, txt2img_timesteps


@dataclass(frozen=True)
class A1111Sampler:
    """One k-diffusion sampler as A1111's table has it: its function, noise kind and options."""

    id: str
    function: Callable[..., Any]
    noise: str = "none"  # "none", "generator" (ancestral) or "brownian" (SDE)
    default_schedule: str | None = None  # what "Automatic" means; None: the model's discretization
    discard_next_to_last_sigma: bool = False
    second_order: bool = False  # two model calls per step: A1111's prompt schedule spans 2 × steps
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    # A sampler with a denoiser wrapper of its own (A1111's LCM): its σ table, and its denoiser from the model's.
    sigma_table: Callable[[SigmaTable], SigmaTable] | None = None
    denoiser: Callable[[Any, SigmaTable], Any] | None = None


SAMPLERS: dict[str, A1111Sampler] = {sampler.id: sampler for sampler in (
    A1111Sampler("euler", ode.sample_euler),
    A1111Sampler("euler_ancestral", stochastic.sample_euler_ancestral, noise="generator"),
    A1111Sampler("heun", ode.sample_heun, second_order=True),
    A1111Sampler("lms", ode.sample_lms),
    A1111Sampler("dpm_2", ode.sample_dpm_2, default_schedule="karras", discard_next_to_last_sigma=True,
                 second_order=True),
    A1111Sampler("dpm_2_ancestral", stochastic.sample_dpm_2_ancestral, noise="generator",
                 default_schedule="karras", discard_next_to_last_sigma=True, second_order=True),
    A1111Sampler("dpmpp_2s_ancestral", stochastic.sample_dpmpp_2s_ancestral, noise="generator",
                 default_schedule="karras", second_order=True),
    A1111Sampler("dpmpp_2m", ode.sample_dpmpp_2m, default_schedule="karras"),
    A1111Sampler("dpmpp_sde", stochastic.sample_dpmpp_sde, noise="brownian", default_schedule="karras",
                 second_order=True),
    A1111Sampler("dpmpp_2m_sde", stochastic.sample_dpmpp_2m_sde, noise="brownian",
                 default_schedule="exponential"),
    A1111Sampler("dpmpp_2m_sde_heun", stochastic.sample_dpmpp_2m_sde, noise="brownian",
                 default_schedule="exponential", options=MappingProxyType({"solver_type": "heun"})),
    A1111Sampler("dpmpp_3m_sde", stochastic.sample_dpmpp_3m_sde, noise="brownian",
                 default_schedule="exponential", discard_next_to_last_sigma=True),
    A1111Sampler("lcm", extra.sample_lcm, noise="generator", sigma_table=extra.LCMTable.from_table,
                 denoiser=extra.lcm_denoiser),
    A1111Sampler("restart", extra.sample_restart, noise="generator", default_schedule="karras", second_order=True),
)}
SAMPLER_IDS = (*SAMPLERS, *TIMESTEP_SAMPLERS)


def uses_ensd(sampler_id: str) -> bool:
    """Whether ENSD changes what `sampler_id` draws (A1111 records it for the ancestral ones; LCM and
    Restart draw from the same generators, so it changes them too, unrecorded by A1111)."""
    return sampler_id in SAMPLERS and SAMPLERS[sampler_id].noise == "generator"


def _sampler(sampler_id: str) -> A1111Sampler:
    if sampler_id not in SAMPLERS:
        raise ValueError(f"sampler {sampler_id!r} has no A1111-faithful k-diffusion implementation here; "
                         f"these do: {', '.join(SAMPLER_IDS)}")
    return SAMPLERS[sampler_id]


def resolve_schedule(sampler_id: str, schedule_id: str) -> str:
    """The schedule a sampler runs: "automatic" becomes its A1111 default or "uniform"."""
    if schedule_id != "automatic":
        return schedule_id
    return _sampler(sampler_id).default_schedule or "uniform"


def sampler_sigmas(sampler_id: str, schedule_id: str, table: SigmaTable, steps: int) -> torch.Tensor:
    """The sigmas A1111 gives `sampler_id` for `steps` steps (its discard rule applied)."""
    sampler = _sampler(sampler_id)
    schedule_id = resolve_schedule(sampler_id, schedule_id)
    count = steps + 1 if sampler.discard_next_to_last_sigma else steps
    if sampler.sigma_table is not None:
        table = sampler.sigma_table(table)
    sigmas = schedule_sigmas(schedule_id, table, count)
    if sampler.discard_next_to_last_sigma:
        sigmas = torch.cat([sigmas[:-2], sigmas[-1:]])
    return sigmas


def prompt_schedule_steps(sampler_id: str, steps: int) -> int:
    """How many steps A1111 builds the prompt schedule over: 2 × steps for second-order samplers."""
    if sampler_id in TIMESTEP_SAMPLERS:
        return steps
    return steps * 2 if _sampler(sampler_id).second_order else steps


def sampler_denoiser(sampler_id: str, denoiser: Any, table: SigmaTable) -> Any:
    """The denoiser `sampler_id` runs on: A1111's LCM wrapper for LCM, else `denoiser` itself (idempotent)."""
    sampler = SAMPLERS.get(sampler_id)
    if sampler is None or sampler.denoiser is None:
        return denoiser
    return sampler.denoiser(denoiser, table)


def run_sampler(sampler_id: str, denoise: Callable[..., Any], x: torch.Tensor, sigmas: torch.Tensor,
                generators: ImageGenerators, *, callback: StepCallback | None = None) -> torch.Tensor:
    """Run k-diffusion sampler `sampler_id` from x (already at σ₀) with the noise A1111 gives it."""
    sampler = _sampler(sampler_id)
    arguments: dict[str, Any] = dict(sampler.options)
    if sampler.noise == "generator":
        arguments["noise"] = generators
    elif sampler.noise == "brownian":
        arguments["noise"] = BrownianTreeNoise.for_sigmas(x, sigmas, generators.seeds)
    return sampler.function(denoise, x, sigmas, callback=callback, **arguments)


def txt2img_latents(denoiser: Any, sampler_id: str, *, table: SigmaTable, steps: int, seeds: Sequence[int],
                    latent_shape: Sequence[int], schedule: str = "automatic", rng: str = "cpu",
                    callback: StepCallback | None = None, noise_device: Any = "cpu", ensd: int = 0,
                    variation: Variation | None = None) -> torch.Tensor:
    """The sampled latents (B, C, H/8, W/8) of a txt2img batch; `latent_shape` is one image's (C, H/8, W/8).

    For the timestep samplers the denoiser must have `predict_eps(x, timestep)` (`UNetDenoiser` does). `noise_device`:
    where `rng="device"` draws.
    """
    generators = ImageGenerators(seeds, latent_shape, rng, noise_device, ensd, variation)
    noise = generators.first()
    if sampler_id in TIMESTEP_SAMPLERS:
        return txt2img_timesteps(sampler_id, denoiser.predict_eps, noise, steps, table.alphas_cumprod,
                                 callback=callback)
    sigmas = sampler_sigmas(sampler_id, schedule, table, steps)
    return run_sampler(sampler_id, sampler_denoiser(sampler_id, denoiser, table), noise * sigmas[0], sigmas,
                       generators, callback=callback)


def img2img_schedule(steps: int, strength: float, exact_steps: bool = False) -> tuple[int, int]:
    """(schedule length, steps encoded) of A1111's `setup_img2img_steps`.

    Default (§8): the S-step schedule, t_enc = int(min(d, 0.999)·S), so t_enc + 1 steps run.
    `exact_steps` (A1111 when a step count is passed in, as its hires fix second pass does, or with
    "img2img_fix_steps"; from A1111's code, not the reference): a schedule of int(S / min(d, 0.999))
    steps of which exactly S run.
    """
    if exact_steps:
        return (int(steps / min(strength, 0.999)) if strength > 0 else 0), steps - 1
    return steps, int(min(strength, 0.999) * steps)


def img2img_latents(denoiser: Any, sampler_id: str, init_latents: torch.Tensor, *, table: SigmaTable,
                    steps: int, strength: float, seeds: Sequence[int], schedule: str = "automatic",
                    rng: str = "cpu", exact_steps: bool = False,
                    callback: StepCallback | None = None, noise_device: Any = "cpu", ensd: int = 0,
                    variation: Variation | None = None) -> torch.Tensor:
    """img2img from `init_latents` (B, C, H/8, W/8, already × the VAE's scaling factor)."""
    generators = ImageGenerators(seeds, init_latents.shape[1:], rng, noise_device, ensd, variation)
    noise = generators.first()
    total, encoded = img2img_schedule(steps, strength, exact_steps)
    if sampler_id in TIMESTEP_SAMPLERS:
        return img2img_timesteps(sampler_id, denoiser.predict_eps, init_latents, noise, total, encoded,
                                 table.alphas_cumprod, callback=callback)
    sigmas = sampler_sigmas(sampler_id, schedule, table, total)[total - encoded - 1:]
    start = init_latents.to(torch.float32) + noise * sigmas[0]
    return run_sampler(sampler_id, sampler_denoiser(sampler_id, denoiser, table), start, sigmas, generators,
                       callback=callback)
