"""Schedulers built from a model's own config: the table's settings match what diffusers can do."""

from __future__ import annotations

import inspect

import pytest

from sdkit.core.errors import UserInputError
from sdkit.samplers import (
    SCHEDULES_BY_ID,
    a1111_names,
    describe_scheduler_config,
    make_scheduler,
    resolve_sampler,
)
from sdkit.samplers.builtin import BUILTIN_SAMPLERS

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # numpy 2 notes from inside diffusers

SUPPORTED = [spec for spec in BUILTIN_SAMPLERS if spec.supported]
# Building these takes about a second each (they precompute 1000 sigmas in Python): fewer schedules.
SLOW_CLASSES = {"KDPM2DiscreteScheduler", "KDPM2AncestralDiscreteScheduler"}
SPACING = {"uniform": None, "normal": "linspace", "simple": "trailing", "sgm_uniform": "trailing",
           "ddim_uniform": "leading"}
SIGMA_FLAGS = {"karras": "use_karras_sigmas", "exponential": "use_exponential_sigmas", "beta": "use_beta_sigmas"}


def sd1_config(**changes):
    """The scheduler config an SD1.x model ships (DDIM-style, leading spacing, steps_offset 1)."""
    config = {
        "_class_name": "PNDMScheduler", "num_train_timesteps": 1000, "beta_start": 0.00085, "beta_end": 0.012,
        "beta_schedule": "scaled_linear", "set_alpha_to_one": False, "skip_prk_steps": True,
        "steps_offset": 1, "trained_betas": None, "clip_sample": False, "prediction_type": "epsilon",
        "timestep_spacing": "leading",
    }
    config.update(changes)
    return config


def init_parameters(class_name):
    import diffusers

    return set(inspect.signature(getattr(diffusers, class_name).__init__).parameters)


@pytest.mark.parametrize("spec", SUPPORTED, ids=lambda spec: spec.id)
def test_schedule_types_are_exactly_what_the_diffusers_class_can_take(spec):
    parameters = init_parameters(spec.scheduler_class)
    assert set(spec.scheduler_kwargs) <= parameters
    possible = {"uniform"}
    if "timestep_spacing" in parameters:
        possible |= set(SPACING)
    possible |= {schedule for schedule, flag in SIGMA_FLAGS.items() if flag in parameters}
    assert set(spec.schedule_types) == possible


@pytest.mark.parametrize("spec", SUPPORTED, ids=lambda spec: spec.id)
def test_every_sampler_and_schedule_builds_from_the_model_config(spec):
    schedules = spec.schedule_types
    if spec.scheduler_class in SLOW_CLASSES:
        schedules = (spec.default_schedule, "normal")
    for schedule_id in schedules:
        scheduler = make_scheduler(resolve_sampler("diffusers:" + spec.id, schedule_id), sd1_config())
        assert type(scheduler).__name__ == spec.scheduler_class
        config = scheduler.config
        # The model's own training schedule survives; the sampler's settings are applied.
        assert (config.beta_start, config.beta_end, config.beta_schedule) == (0.00085, 0.012, "scaled_linear")
        for key, value in spec.scheduler_kwargs.items():
            assert config[key] == value
        schedule = SCHEDULES_BY_ID[schedule_id]
        for flag in SIGMA_FLAGS.values():
            if flag in config:
                assert config[flag] == (flag == schedule.sigmas_flag), (schedule_id, flag)
        if "timestep_spacing" in config:
            expected = schedule.spacing or "leading"  # uniform keeps the model's own spacing
            assert config.timestep_spacing == expected
        scheduler.set_timesteps(6)
        assert len(scheduler.timesteps) >= 6
        # And the built scheduler is recognised as the same sampler and schedule.
        described = describe_scheduler_config(scheduler)
        assert (described.id, described.schedule in (schedule_id, "uniform")) == (spec.id, True)


def test_model_settings_that_would_contradict_the_choice_are_overridden():
    config = sd1_config(_class_name="DPMSolverMultistepScheduler", algorithm_type="sde-dpmsolver++",
                        use_karras_sigmas=True, prediction_type="v_prediction")
    scheduler = make_scheduler(resolve_sampler("diffusers:dpmpp_2m", "uniform"), config)
    assert scheduler.config.algorithm_type == "dpmsolver++"
    assert scheduler.config.use_karras_sigmas is False
    assert scheduler.config.prediction_type == "v_prediction"  # a v-prediction model stays one


@pytest.mark.parametrize("sampler", ["ddim", "ddpm"])
def test_ddim_and_ddpm_never_clip_latents_even_when_the_model_config_is_silent(sampler):
    # diffusers' own default (clip_sample=True) squashes latents into [-1, 1]: washed-out colours.
    silent = {key: value for key, value in sd1_config().items() if key != "clip_sample"}
    assert make_scheduler(resolve_sampler("diffusers:" + sampler, "automatic"), silent).config.clip_sample is False


def test_model_default_keeps_the_models_own_scheduler():
    from diffusers import DPMSolverMultistepScheduler, EulerDiscreteScheduler

    own = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                 timestep_spacing="leading", steps_offset=1)
    default = resolve_sampler(None)
    scheduler = make_scheduler(default, own)  # a live scheduler works as well as a config dict
    assert type(scheduler) is EulerDiscreteScheduler and scheduler is not own
    public = lambda config: {key: value for key, value in config.items() if not key.startswith("_")}  # noqa: E731
    assert public(scheduler.config) == public(own.config)
    assert a1111_names(default, own) == ("Euler", "Uniform")
    karras = make_scheduler(resolve_sampler("automatic", "karras"), own)
    assert type(karras) is EulerDiscreteScheduler and karras.config.use_karras_sigmas
    assert a1111_names(resolve_sampler(None, "karras"), own) == ("Euler", "Karras")
    dpm = DPMSolverMultistepScheduler(algorithm_type="sde-dpmsolver++", use_karras_sigmas=True)
    assert a1111_names(default, dpm) == ("DPM++ 2M SDE", "Karras")
    with pytest.raises(UserInputError):  # DDIM has no Karras sigmas
        make_scheduler(resolve_sampler(None, "karras"), sd1_config(_class_name="DDIMScheduler"))


def test_unknown_model_scheduler_is_named_by_its_class():
    config = {"_class_name": "TCDScheduler", "num_train_timesteps": 1000}
    assert describe_scheduler_config(config) is None
    assert a1111_names(resolve_sampler(None), config) == ("TCDScheduler", "Automatic")


def test_plugin_scheduler_class_given_as_module_path():
    from sdkit.samplers import ResolvedSampler, SamplerSpec

    spec = SamplerSpec(id="plugin_euler", display_name="Plugin Euler",
                       scheduler_class="diffusers.schedulers.scheduling_euler_discrete:EulerDiscreteScheduler",
                       schedule_types=("uniform", "karras"))
    scheduler = make_scheduler(ResolvedSampler(spec, "karras"), sd1_config())
    assert type(scheduler).__name__ == "EulerDiscreteScheduler" and scheduler.config.use_karras_sigmas
