"""`--scheduler EulerDiscreteScheduler`: a diffusers class name given as the schedule names its sampler.

`--scheduler` is an alias of `--schedule` (ComfyUI's word for the schedule type), but a diffusers user
means the scheduler class by it. A class name is taken as the sampler `--sampler` would find for it;
a sampler name of another kind, or a class that contradicts the sampler, is refused with a hint.
"""

from __future__ import annotations

import json

import pytest
from cli_helpers import run_sdkit

from sdkit.core.errors import UserInputError
from sdkit.samplers import resolve_sampler


@pytest.mark.parametrize("class_name", ["EulerDiscreteScheduler", "DPMSolverMultistepScheduler",
                                        "UniPCMultistepScheduler", "dpmsolver_multistep_scheduler"])
def test_a_class_name_as_schedule_means_what_it_means_as_sampler(class_name):
    assert resolve_sampler(None, class_name) == resolve_sampler(class_name)
    assert resolve_sampler("automatic", class_name) == resolve_sampler(class_name)


def test_a_class_name_agreeing_with_the_sampler_is_accepted():
    # The class name says diffusers: the same as "diffusers:euler" (plain "euler" is ComfyUI's, on "normal").
    assert resolve_sampler("euler", "EulerDiscreteScheduler") == resolve_sampler("diffusers:euler")
    assert resolve_sampler("euler", "EulerDiscreteScheduler").vocabulary == "diffusers"


def test_a_class_name_contradicting_the_sampler_is_refused():
    with pytest.raises(UserInputError) as caught:
        resolve_sampler("dpmpp_2m", "EulerDiscreteScheduler")
    assert "names the sampler 'Euler'" in caught.value.message
    assert "--sampler EulerDiscreteScheduler" in (caught.value.hint or "")


def test_a_short_sampler_name_as_schedule_is_refused_with_a_hint():
    with pytest.raises(UserInputError) as caught:
        resolve_sampler(None, "euler_a")
    assert "is a sampler (Euler a), not a schedule type" in caught.value.message
    assert "--sampler euler_ancestral" in (caught.value.hint or "")


def test_schedule_types_are_unchanged():
    assert resolve_sampler(None, "karras").schedule == "karras"
    assert resolve_sampler("euler", "ddim").schedule == "ddim_uniform"  # "ddim" is also a schedule alias


def test_an_unsupported_class_name_names_the_nearest():
    with pytest.raises(UserInputError) as caught:
        resolve_sampler(None, "IPNDMScheduler")
    assert "no diffusers equivalent" in caught.value.message


def dry_run(capsys, *args):
    result = run_sdkit(capsys, "generate", "--dry-run", "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["sampler"]


def test_generate_dry_run_shows_the_sampler_a_class_name_names(capsys):
    assert dry_run(capsys, "--scheduler", "EulerDiscreteScheduler") == {
        "id": "euler", "schedule": "uniform", "model_default": False}
    assert dry_run(capsys, "--scheduler", "DPMSolverMultistepScheduler") == {
        "id": "dpmpp_2m", "schedule": "karras", "model_default": False}
    assert dry_run(capsys, "--scheduler", "karras") == {"id": "automatic", "schedule": "karras", "model_default": True}


def test_generate_refuses_a_class_name_that_contradicts_the_sampler(capsys):
    result = run_sdkit(capsys, "generate", "--dry-run", "--sampler", "DPM++ 2M",
                       "--scheduler", "EulerDiscreteScheduler")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "names the sampler 'Euler'" in result.output and "hint:" in result.output
