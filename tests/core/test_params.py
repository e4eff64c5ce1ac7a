"""parse_params: defaults fill gaps, results are frozen, and every problem is reported at once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from pydantic import ValidationError

from sdkit.core.errors import ParamsError, UserInputError
from sdkit.core.params import Img2ImgParams, SizeLimits, Txt2ImgParams, UpscaleParams, parse_params
from sdkit.core.tasks import Mode, Task


class FakeEngine:
    name = "fake"
    description = "test engine"
    tasks = frozenset({Task.TXT2IMG, Task.IMG2IMG, Task.INPAINT})
    modes = frozenset({Mode.NORMAL, Mode.LCM})

    def defaults(self, task: Task, mode: Mode) -> Mapping[str, Any]:
        return {"steps": 4 if mode is Mode.LCM else 20, "cfg_scale": 7.0, "width": 512, "height": 512}

    def size_limits(self, task: Task) -> SizeLimits:
        return SizeLimits(64, 1024, 8)


class UpscaleOnly(FakeEngine):
    name = "upscaler"
    tasks = frozenset({Task.UPSCALE})
    modes = frozenset({Mode.NORMAL})

    def defaults(self, task: Task, mode: Mode) -> Mapping[str, Any]:
        return {}


def test_defaults_fill_what_the_request_leaves_out():
    params = parse_params(FakeEngine(), "txt2img", {"prompt": "a cat", "steps": 30})
    assert isinstance(params, Txt2ImgParams)
    assert (params.prompt, params.steps, params.width, params.cfg_scale) == ("a cat", 30, 512, 7.0)
    assert params.seed == -1 and params.batch_size == 1


def test_mode_changes_defaults():
    assert parse_params(FakeEngine(), Task.TXT2IMG, {}, mode="lcm").steps == 4


def test_params_are_frozen():
    params = parse_params(FakeEngine(), Task.TXT2IMG, {})
    with pytest.raises(ValidationError):
        params.steps = 3


def test_every_problem_is_listed_at_once():
    with pytest.raises(ParamsError) as caught:
        parse_params(FakeEngine(), Task.IMG2IMG,
                     {"width": 500, "height": 4096, "steps": 0, "strength": 1.5, "seed": -7})
    fields = {problem.field for problem in caught.value.problems}
    assert fields == {"width", "height", "steps", "strength", "seed", "image"}
    message = str(caught.value)
    assert "multiple of 8" in message and "try 504" in message
    assert "between 64 and 1024" in message and "(0, 1]" in message
    assert isinstance(caught.value, UserInputError) and caught.value.exit_code == 2


def test_inpaint_needs_image_and_mask():
    with pytest.raises(ParamsError) as caught:
        parse_params(FakeEngine(), Task.INPAINT, {"prompt": "x"})
    assert {problem.field for problem in caught.value.problems} == {"image", "mask"}
    assert all(problem.hint and "--" in problem.hint for problem in caught.value.problems)


def test_img2img_with_image_is_valid():
    params = parse_params(FakeEngine(), Task.IMG2IMG, {"image": "in.png", "strength": 0.3})
    assert isinstance(params, Img2ImgParams) and params.strength == 0.3


def test_upscale_needs_image_and_checks_tiles():
    with pytest.raises(ParamsError) as caught:
        parse_params(UpscaleOnly(), Task.UPSCALE, {"tile": 64, "tile_overlap": 40})
    fields = {problem.field for problem in caught.value.problems}
    assert fields == {"image", "tile_overlap"}
    params = parse_params(UpscaleOnly(), Task.UPSCALE, {"image": "a.png"})
    assert isinstance(params, UpscaleParams) and params.tile == 512 and params.scale is None


def test_engine_without_the_task_names_its_tasks():
    with pytest.raises(ParamsError) as caught:
        parse_params(UpscaleOnly(), Task.TXT2IMG, {})
    assert "does only: upscale" in str(caught.value)


def test_unsupported_mode_is_refused_not_ignored():
    with pytest.raises(ParamsError) as caught:
        parse_params(FakeEngine(), Task.TXT2IMG, {}, mode="turbo")
    assert "supports modes: lcm, normal" in str(caught.value)


def test_unknown_task_and_mode_names():
    with pytest.raises(ParamsError, match="must be one of"):
        parse_params(FakeEngine(), "txt3img", {})
    with pytest.raises(ParamsError, match="must be one of"):
        parse_params(FakeEngine(), "txt2img", {}, mode="fast")


def test_wrong_types_and_unknown_fields_in_a_mapping():
    with pytest.raises(ParamsError) as caught:
        parse_params(FakeEngine(), Task.TXT2IMG, {"steps": "many", "colour": "red", "cfg_scale": 99})
    fields = {problem.field for problem in caught.value.problems}
    assert fields == {"steps", "colour", "cfg_scale"}
    assert "is not a parameter of this task" in str(caught.value)
