"""Every sampler name people bring from A1111, ComfyUI and diffusers resolves, or fails helpfully."""

from __future__ import annotations

import pytest

from sdkit.core.errors import UnknownKeyError, UserInputError
from sdkit.samplers import (
    SCHEDULES,
    a1111_legacy_split,
    a1111_names,
    builtin,
    resolve_sampler,
    sampler_table,
    split_legacy_name,
)
from sdkit.samplers.builtin import BUILTIN_SAMPLERS
from sdkit.samplers.resolve import name_vocabulary

# A1111 v1.9+/v1.10 sampler labels (k-diffusion, timestep samplers, LCM): shared/reference/samplers.md B1.
A1111_LABELS = [
    "DPM++ 2M", "DPM++ SDE", "DPM++ 2M SDE", "DPM++ 2M SDE Heun", "DPM++ 2S a", "DPM++ 3M SDE", "Euler a",
    "Euler", "LMS", "Heun", "DPM2", "DPM2 a", "DPM fast", "DPM adaptive", "Restart", "DDIM", "DDIM CFG++",
    "PLMS", "UniPC", "LCM",
]
A1111_ALIASES = [
    "k_dpmpp_2m", "k_dpmpp_sde", "k_dpmpp_2m_sde", "k_dpmpp_2m_sde_heun", "k_dpmpp_2s_a", "k_dpmpp_3m_sde",
    "k_euler_a", "k_euler_ancestral", "k_euler", "k_lms", "k_heun", "k_dpm_2", "k_dpm_2_a", "k_dpm_fast",
    "k_dpm_ad", "restart", "ddim", "ddim_cfgpp", "plms", "unipc", "k_lcm",
]
COMFYUI_SAMPLERS = [
    "euler", "euler_cfg_pp", "euler_ancestral", "euler_ancestral_cfg_pp", "heun", "heunpp2", "dpm_2",
    "dpm_2_ancestral", "lms", "dpm_fast", "dpm_adaptive", "dpmpp_2s_ancestral", "dpmpp_2s_ancestral_cfg_pp",
    "dpmpp_sde", "dpmpp_sde_gpu", "dpmpp_2m", "dpmpp_2m_cfg_pp", "dpmpp_2m_sde", "dpmpp_2m_sde_gpu",
    "dpmpp_2m_sde_heun", "dpmpp_2m_sde_heun_gpu", "dpmpp_3m_sde", "dpmpp_3m_sde_gpu", "ddpm", "lcm", "ipndm",
    "ipndm_v", "deis", "res_multistep", "res_multistep_cfg_pp", "res_multistep_ancestral",
    "res_multistep_ancestral_cfg_pp", "gradient_estimation", "gradient_estimation_cfg_pp", "er_sde",
    "seeds_2", "seeds_3", "sa_solver", "sa_solver_pece", "ddim", "uni_pc", "uni_pc_bh2",
]
COMFYUI_SCHEDULERS = ["simple", "sgm_uniform", "karras", "exponential", "ddim_uniform", "beta", "normal",
                      "linear_quadratic", "kl_optimal"]
A1111_SCHEDULE_LABELS = ["Automatic", "Uniform", "Karras", "Exponential", "Polyexponential", "SGM Uniform",
                         "KL Optimal", "Align Your Steps", "Simple", "Normal", "DDIM", "Beta"]
DIFFUSERS_CLASSES = {
    "EulerDiscreteScheduler": "euler", "EulerAncestralDiscreteScheduler": "euler_ancestral",
    "HeunDiscreteScheduler": "heun", "LMSDiscreteScheduler": "lms", "KDPM2DiscreteScheduler": "dpm_2",
    "KDPM2AncestralDiscreteScheduler": "dpm_2_ancestral", "DPMSolverMultistepScheduler": "dpmpp_2m",
    "DPMSolverSinglestepScheduler": "dpmpp_sde", "DPMSolverSDEScheduler": "dpmpp_sde", "DDIMScheduler": "ddim",
    "PNDMScheduler": "plms", "UniPCMultistepScheduler": "uni_pc_bh2", "DEISMultistepScheduler": "deis",
    "LCMScheduler": "lcm", "DDPMScheduler": "ddpm",
}

# A1111's get_sampler_and_scheduler on every legacy (v1.5-v1.8) combined label: (sampler, schedule type).
# "Automatic" wherever the split-off schedule is the sampler's own default.
LEGACY_SPLITS = {
    "LMS Karras": ("LMS", "Karras"),
    "DPM2 Karras": ("DPM2", "Automatic"),
    "DPM2 a Karras": ("DPM2 a", "Automatic"),
    "DPM++ 2S a Karras": ("DPM++ 2S a", "Automatic"),
    "DPM++ 2M Karras": ("DPM++ 2M", "Automatic"),
    "DPM++ SDE Karras": ("DPM++ SDE", "Automatic"),
    "DPM++ 2M SDE Karras": ("DPM++ 2M SDE", "Karras"),
    "DPM++ 2M SDE Exponential": ("DPM++ 2M SDE", "Automatic"),
    "DPM++ 2M SDE Heun Karras": ("DPM++ 2M SDE Heun", "Karras"),
    "DPM++ 2M SDE Heun Exponential": ("DPM++ 2M SDE Heun", "Automatic"),
    "DPM++ 3M SDE Karras": ("DPM++ 3M SDE", "Karras"),
    "DPM++ 3M SDE Exponential": ("DPM++ 3M SDE", "Automatic"),
    "Euler a Karras": ("Euler a", "Karras"),
}
# What sdkit runs for each legacy name. These are A1111 names, so sdkit.sampling runs them, with any of
# its schedules (DPM++ 2S a, DPM++ 3M SDE and Euler a Karras had no diffusers equivalent before 0.3).
LEGACY_RESOLVED = {
    "LMS Karras": ("lms", "karras"),
    "DPM2 Karras": ("dpm_2", "karras"),
    "DPM2 a Karras": ("dpm_2_ancestral", "karras"),
    "DPM++ 2S a Karras": ("dpmpp_2s_ancestral", "karras"),
    "DPM++ 2M Karras": ("dpmpp_2m", "karras"),
    "DPM++ SDE Karras": ("dpmpp_sde", "karras"),
    "DPM++ 2M SDE Karras": ("dpmpp_2m_sde", "karras"),
    "DPM++ 2M SDE Exponential": ("dpmpp_2m_sde", "exponential"),
    "DPM++ 2M SDE Heun Karras": ("dpmpp_2m_sde_heun", "karras"),
    "DPM++ 2M SDE Heun Exponential": ("dpmpp_2m_sde_heun", "exponential"),
    "DPM++ 3M SDE Karras": ("dpmpp_3m_sde", "karras"),
    "DPM++ 3M SDE Exponential": ("dpmpp_3m_sde", "exponential"),
    "Euler a Karras": ("euler_ancestral", "karras"),
    "Euler SGM Uniform": ("euler", "sgm_uniform"),
}


def spellings(name: str) -> list[str]:
    """The ways people type one name: as is, lower, upper, spaces and underscores swapped."""
    return sorted({name, name.lower(), name.upper(), name.replace(" ", "_"), name.replace("_", " "),
                   f"  {name} "})


def _expect(name: str, spec_id: str) -> None:
    spec = sampler_table().samplers[spec_id]
    vocabulary = name_vocabulary(name, spec)
    a1111_named = spec.a1111_faithful and vocabulary == "a1111"
    comfyui_named = spec.id in builtin.COMFYUI_SAMPLERS and vocabulary == "comfyui"
    if spec.supported or a1111_named or comfyui_named:
        resolved = resolve_sampler(name)
        assert resolved.spec is spec, name
        # ComfyUI has no per-sampler default: its KSampler's scheduler is "normal".
        assert resolved.schedule == ("normal" if comfyui_named else spec.default_schedule)
        assert resolved.a1111_sampling == a1111_named, name
        assert resolved.comfyui_sampling == comfyui_named, name
    else:
        with pytest.raises(UserInputError) as caught:
            resolve_sampler(name)
        assert not isinstance(caught.value, UnknownKeyError)
        if spec.a1111_faithful or spec.id in builtin.COMFYUI_SAMPLERS:  # the hint says the names that run it
            assert spec.display_name in caught.value.hint or spec.id in caught.value.hint
            return
        nearest = sampler_table().samplers[spec.nearest]
        assert nearest.supported
        assert nearest.id in caught.value.hint and nearest.display_name in caught.value.hint


def test_every_id_display_name_and_alias_in_every_spelling_resolves():
    for spec in BUILTIN_SAMPLERS:
        for name in (spec.id, spec.display_name, *spec.aliases):
            for spelling in spellings(name):
                _expect(spelling, spec.id)


# The name lists are looped over inside one test each: every test re-reads the entry points (the
# isolation fixture resets the registries), which would cost more than the checks themselves.
def test_a1111_and_comfyui_names_are_all_known():
    for name in A1111_LABELS + A1111_ALIASES + COMFYUI_SAMPLERS:
        spec = sampler_table().find(name)
        assert spec is not None, name
        _expect(name, spec.id)


def test_diffusers_class_names():
    for class_name, sampler_id in DIFFUSERS_CLASSES.items():
        assert resolve_sampler(class_name).id == sampler_id, class_name
        assert resolve_sampler(class_name.lower()).id == sampler_id, class_name


def test_every_a1111_and_comfyui_schedule_name_is_known():
    from sdkit.samplers.table import find_schedule

    for name in COMFYUI_SCHEDULERS + A1111_SCHEDULE_LABELS:
        schedule = find_schedule(name)
        assert schedule is not None, name
        if schedule.id == "automatic":
            assert resolve_sampler("diffusers:dpmpp_2m", name).schedule == "karras"
            assert resolve_sampler("dpmpp_2m", name).schedule == "normal"  # ComfyUI's default
        elif schedule.supported:
            assert resolve_sampler("diffusers:euler", name).schedule == schedule.id, name
        else:
            with pytest.raises(UserInputError) as caught:
                resolve_sampler("diffusers:euler", name)
            assert schedule.nearest in caught.value.hint, name
    for name in COMFYUI_SCHEDULERS:  # under ComfyUI's sampler names, ComfyUI's own schedulers
        assert resolve_sampler("euler", name).schedule == find_schedule(name).id, name


def test_legacy_split_matches_a1111():
    for legacy, expected in LEGACY_SPLITS.items():
        assert a1111_legacy_split(legacy) == expected, legacy
        assert a1111_legacy_split(legacy.lower().replace(" ", "_")) == expected, legacy


def test_legacy_names_resolve():
    for legacy, expected in LEGACY_RESOLVED.items():
        if expected is None:
            with pytest.raises(UserInputError) as caught:
                resolve_sampler(legacy)
            assert not isinstance(caught.value, UnknownKeyError), legacy
            assert caught.value.hint
            continue
        resolved = resolve_sampler(legacy)
        assert (resolved.id, resolved.schedule) == expected, legacy
        # Written back in A1111 v1.9+ vocabulary, then read again: the same sampler and schedule.
        sampler_label, schedule_label = a1111_names(resolved)
        again = resolve_sampler(sampler_label, schedule_label)
        assert (again.id, again.schedule) == expected, legacy


def test_split_tries_schedules_in_a1111_order_and_keeps_unsplittable_names():
    assert split_legacy_name("DPM++ 2M") == ("DPM++ 2M", None)
    # A1111 tries " Uniform" before " SGM Uniform", and so does the faithful split; resolve_sampler
    # then also tries the longest suffix, so the name still works in sdkit.
    assert split_legacy_name("Euler SGM Uniform")[0] == "Euler SGM"
    with pytest.raises(UnknownKeyError):
        a1111_legacy_split("Euler SGM Uniform")
    base, schedule = split_legacy_name("dpmpp_2m_karras")
    assert (base, schedule.id) == ("dpmpp 2m", "karras")
    resolved = resolve_sampler("dpmpp_2m_sgm_uniform")
    assert (resolved.id, resolved.schedule) == ("dpmpp_2m", "sgm_uniform")
    assert [schedule.id for schedule in SCHEDULES][:3] == ["automatic", "uniform", "karras"]
    # The old A1111 "_ka" aliases of Karras variants.
    assert (resolve_sampler("k_dpmpp_2m_ka").id, resolve_sampler("k_dpmpp_2m_ka").schedule) == ("dpmpp_2m", "karras")
    # The old quirk: plain DPM++ 2M SDE carried the alias k_dpmpp_2m_sde_ka.
    assert resolve_sampler("k_dpmpp_2m_sde_ka").schedule == "exponential"


def test_comfyui_sampler_with_separate_scheduler():
    resolved = resolve_sampler("dpmpp_2m", "karras")
    assert (resolved.id, resolved.schedule) == ("dpmpp_2m", "karras")
    resolved = resolve_sampler("dpmpp_2m_sde_gpu", "sgm_uniform")
    assert (resolved.id, resolved.schedule) == ("dpmpp_2m_sde", "sgm_uniform")
    assert resolve_sampler("euler_ancestral", "normal").schedule == "normal"


def test_automatic_means_model_default_or_sampler_default():
    for name in (None, "automatic", "Automatic", "auto", "default"):
        resolved = resolve_sampler(name)
        assert resolved.is_model_default and resolved.spec is None and resolved.schedule == "automatic"
    assert resolve_sampler(None, "Karras").schedule == "karras"
    assert resolve_sampler("DPM++ 2M", "Automatic").schedule == "karras"
    assert resolve_sampler("DPM++ 2M SDE", None).schedule == "exponential"
    assert resolve_sampler("Euler", "automatic").schedule == "uniform"
    # An explicit schedule overrides the default; a legacy suffix agreeing with it is fine.
    assert resolve_sampler("DPM++ 2M", "Exponential").schedule == "exponential"
    assert resolve_sampler("DPM++ 2M Karras", "karras").schedule == "karras"
    assert resolve_sampler("DPM++ 2M Karras", "automatic").schedule == "karras"


def test_unknown_sampler_suggests_close_names():
    with pytest.raises(UnknownKeyError) as caught:
        resolve_sampler("Eular a")
    assert "Euler a" in caught.value.message
    assert caught.value.exit_code == 2
    assert "sdkit samplers list" in caught.value.hint


def test_unknown_schedule_suggests_close_names():
    with pytest.raises(UnknownKeyError) as caught:
        resolve_sampler("euler", "karas")
    assert "Karras" in caught.value.message or "karras" in caught.value.message


def test_unsupported_samplers_name_the_nearest():
    # (DPM++ 2S a, DPM++ 3M SDE and Restart run under their A1111 names now: test_sampler_vocabulary.py)
    cases = {"DPM adaptive": "dpmpp_2m", "DPM fast": "dpmpp_2m", "DDIM CFG++": "ddim"}
    for name, nearest in cases.items():
        with pytest.raises(UserInputError) as caught:
            resolve_sampler(name)
        assert "no diffusers equivalent" in caught.value.message
        assert f"({nearest})" in caught.value.hint


def test_a1111_only_samplers_under_another_spelling_say_which_name_runs_them():
    for name, label, tools in (("restart", "Restart", "A1111"), ("diffusers:dpmpp_3m_sde", "DPM++ 3M SDE",
                                                                  "A1111 or ComfyUI")):
        with pytest.raises(UserInputError) as caught:
            resolve_sampler(name)
        assert f"only as {tools} computes it" in caught.value.message
        assert f"--sampler {label!r}" in caught.value.hint


def test_schedule_a_sampler_cannot_take_fails_with_the_list():
    # diffusers' names only: under A1111's names sdkit.sampling takes every A1111 schedule type.
    with pytest.raises(UserInputError) as caught:
        resolve_sampler("diffusers:euler_ancestral", "Karras")
    assert "normal" in caught.value.hint and "karras" not in caught.value.hint
    with pytest.raises(UserInputError):
        resolve_sampler("diffusers:dpmpp_sde", "SGM Uniform")  # the singlestep solver has no timestep spacing


def test_legacy_suffix_conflicting_with_explicit_schedule_fails():
    with pytest.raises(UserInputError) as caught:
        resolve_sampler("DPM++ 2M Karras", "exponential")
    assert "Karras" in caught.value.message and "Exponential" in caught.value.message


def test_a1111_names_use_a1111_labels():
    assert a1111_names(resolve_sampler("k_dpmpp_2m")) == ("DPM++ 2M", "Karras")
    assert a1111_names(resolve_sampler("euler_ancestral")) == ("Euler a", "Normal")  # ComfyUI's default
    assert a1111_names(resolve_sampler("diffusers:euler_ancestral")) == ("Euler a", "Uniform")
    assert a1111_names(resolve_sampler("dpmpp_2m_sde", "sgm_uniform")) == ("DPM++ 2M SDE", "SGM Uniform")
    assert a1111_names(resolve_sampler("uni_pc", "ddim")) == ("UniPC", "DDIM")


def test_no_two_samplers_share_a_spelling():
    from sdkit.samplers import name_key

    owners: dict[str, str] = {}
    for spec in BUILTIN_SAMPLERS:
        for name in {spec.id, spec.display_name, *spec.aliases}:
            key = name_key(name)
            assert owners.setdefault(key, spec.id) == spec.id, f"{name!r}: {owners[key]} and {spec.id}"
    assert sampler_table().problems == []
