"""Which computation a sampler name gets: A1111's names run sdkit.sampling, the rest diffusers' schedulers."""

from __future__ import annotations

import pytest

from sdkit.core.errors import UserInputError
from sdkit.samplers import resolve_sampler
from sdkit.samplers.builtin import A1111_SCHEDULES, BUILTIN_SAMPLERS, COMFYUI_SAMPLERS, COMFYUI_SCHEDULES


@pytest.mark.parametrize("name,schedule,vocabulary,a1111", [
    ("DPM++ 2M", None, "a1111", True),
    ("dpm++ 2m", None, "a1111", True),  # the label in another case is still A1111's
    ("DPM++ 2M Karras", None, "a1111", True),  # A1111's legacy combined name
    ("k_dpmpp_2m", None, "a1111", True),
    ("k_dpmpp_2m_ka", None, "a1111", True),
    ("Euler a", None, "a1111", True),
    ("Euler", None, "a1111", True),
    ("DDIM", None, "a1111", True),
    ("dpmpp_2m", None, "comfyui", False),  # sdkit's id is ComfyUI's name: diffusers' scheduler
    ("dpmpp_2m_karras", None, "comfyui", False),
    ("euler", None, "comfyui", False),
    ("euler_a", None, "comfyui", False),
    ("DPMSolverMultistepScheduler", None, "diffusers", False),
    ("automatic", "EulerDiscreteScheduler", "diffusers", False),  # --scheduler <class>
    ("automatic", None, "model", False),
    ("PLMS", None, "a1111", True),  # A1111's timestep samplers, as A1111 computes them
    ("UniPC", None, "a1111", True),
    ("uni_pc", None, "comfyui", False),  # ComfyUI's spelling: diffusers' UniPCMultistepScheduler
    ("LCM", None, "a1111", True),  # A1111's LCM (sdkit.sampling.samplers_extra)
    ("k_lcm", None, "a1111", True),
    ("lcm", None, "comfyui", False),  # ComfyUI's spelling and the class name: diffusers' LCMScheduler
    ("LCMScheduler", None, "diffusers", False),
    ("Restart", None, "a1111", True),  # no diffusers scheduler: A1111's own only
])
def test_vocabulary_decides_the_computation(name, schedule, vocabulary, a1111):
    resolved = resolve_sampler(name, schedule)
    assert resolved.vocabulary == vocabulary
    assert resolved.a1111_sampling is a1111


def test_a1111_names_take_every_a1111_schedule_diffusers_names_do_not():
    # Euler a with Karras sigmas: A1111 and ComfyUI compute it; diffusers' Euler a scheduler cannot.
    assert resolve_sampler("Euler a", "karras").schedule == "karras"
    assert resolve_sampler("euler_ancestral", "karras").comfyui_sampling
    with pytest.raises(UserInputError):
        resolve_sampler("diffusers:euler_ancestral", "karras")
    # Polyexponential and KL Optimal have no diffusers setting, but sdkit.sampling computes them.
    assert resolve_sampler("DPM++ 2M", "polyexponential").schedule == "polyexponential"
    assert resolve_sampler("Euler", "KL Optimal").schedule == "kl_optimal"
    with pytest.raises(UserInputError) as caught:
        resolve_sampler("diffusers:dpmpp_2m", "polyexponential")
    assert "exponential" in caught.value.hint
    # ComfyUI has no Polyexponential scheduler: refused under ComfyUI's name, with the names that take it.
    with pytest.raises(UserInputError) as caught:
        resolve_sampler("dpmpp_2m", "polyexponential")
    assert "ComfyUI's schedulers" in caught.value.hint and "'DPM++ 2M'" in caught.value.hint
    with pytest.raises(UserInputError) as caught:
        resolve_sampler("DPM++ 2M", "align_your_steps")  # no tables in the reference: refused
    assert "karras" in caught.value.hint


def test_samplers_without_diffusers_twin_run_only_under_a1111_or_comfyui_names():
    assert resolve_sampler("DPM++ 2S a").a1111_sampling
    assert resolve_sampler("DPM++ 3M SDE").schedule == "exponential"
    assert resolve_sampler("dpmpp_3m_sde").comfyui_sampling
    with pytest.raises(UserInputError) as caught:
        resolve_sampler("diffusers:dpmpp_3m_sde")
    assert "'DPM++ 3M SDE'" in caught.value.hint and "--sampler dpmpp_3m_sde" in caught.value.hint
    with pytest.raises(UserInputError) as caught:
        resolve_sampler("restart")  # A1111's alone
    assert "A1111" in caught.value.message and "ComfyUI" not in caught.value.message
    assert "'Restart'" in caught.value.hint


def test_the_flag_and_the_schedule_list_agree_with_sdkit_sampling():
    from sdkit.sampling.run import SAMPLER_IDS
    from sdkit.sampling.sigmas import SCHEDULE_IDS

    assert {spec.id for spec in BUILTIN_SAMPLERS if spec.a1111_faithful} == set(SAMPLER_IDS)
    assert A1111_SCHEDULES == SCHEDULE_IDS


def test_the_comfyui_lists_agree_with_sdkit_samplings_comfyui_path():
    from sdkit.engines.sd import comfyui
    from sdkit.sampling import comfyui as sampling_comfyui

    assert set(COMFYUI_SAMPLERS) == set(comfyui.COMFYUI_SAMPLER_IDS) == set(sampling_comfyui.COMFYUI_SAMPLER_IDS)
    assert COMFYUI_SCHEDULES == comfyui.COMFYUI_SCHEDULES == sampling_comfyui.COMFYUI_SCHEDULES
    assert {spec.id for spec in BUILTIN_SAMPLERS} >= set(COMFYUI_SAMPLERS)
