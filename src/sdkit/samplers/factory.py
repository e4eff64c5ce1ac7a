"""Build the diffusers scheduler for a resolved sampler from a model's own scheduler config.

The only module of sdkit.samplers that touches diffusers, and only inside the functions.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from typing import Any

from sdkit.core.errors import RuntimeFailure, UserInputError
from sdkit.samplers.builtin import SCHEDULES, SCHEDULES_BY_ID
from sdkit.samplers.resolve import AUTOMATIC, ResolvedSampler, scheduler_config
from sdkit.samplers.spec import ScheduleSpec

_SIGMA_FLAGS = tuple(schedule.sigmas_flag for schedule in SCHEDULES if schedule.sigmas_flag)
# Packages that some diffusers schedulers need and that are not installed everywhere.
_OPTIONAL_PACKAGES = {"LMSDiscreteScheduler": "scipy", "DPMSolverSDEScheduler": "torchsde"}


def scheduler_class(class_name: str) -> type:
    """A diffusers scheduler class by name, or a plugin's class given as "module:Class"."""
    try:
        if ":" in class_name:
            module_name, _, attribute = class_name.partition(":")
            return getattr(importlib.import_module(module_name), attribute)
        import diffusers

        return getattr(diffusers, class_name)
    except (ImportError, AttributeError) as error:
        raise RuntimeFailure(
            f"scheduler class {class_name!r} cannot be found: {error}",
            hint="update diffusers, or the plugin that provides this sampler",
        ) from error


def init_parameters(cls: type) -> set[str] | None:
    """The settings a scheduler class takes, or None when it takes any (**kwargs)."""
    parameters = inspect.signature(cls.__init__).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return None
    return set(parameters) - {"self"}


def schedule_kwargs(cls: type, schedule: ScheduleSpec) -> dict[str, Any]:
    """Settings that put `schedule` on a scheduler of class `cls` (and clear other sigma schedules).

    The flags are set explicitly both ways, because a model's own config may turn one on already.
    """
    accepted = init_parameters(cls)

    def takes(name: str) -> bool:
        return accepted is None or name in accepted

    kwargs: dict[str, Any] = {flag: False for flag in _SIGMA_FLAGS if takes(flag)}
    if schedule.sigmas_flag:
        if not takes(schedule.sigmas_flag):
            raise UserInputError(f"the scheduler {cls.__name__} cannot use schedule type {schedule.label!r}",
                                 hint="choose another schedule type (--schedule) or another sampler")
        kwargs[schedule.sigmas_flag] = True
    if schedule.spacing:
        if takes("timestep_spacing"):
            kwargs["timestep_spacing"] = schedule.spacing
        elif not schedule.sigmas_flag:  # spacing is the whole schedule here: it cannot be dropped
            raise UserInputError(f"the scheduler {cls.__name__} cannot use schedule type {schedule.label!r}",
                                 hint="choose another schedule type (--schedule) or another sampler")
    return kwargs


def _accepted_config(cls: type, config: Mapping[str, Any]) -> dict[str, Any]:
    """The model config less settings this class does not have (diffusers would warn about each)."""
    accepted = init_parameters(cls)
    return {key: value for key, value in config.items()
            if accepted is None or key in accepted or key.startswith("_")}


def make_scheduler(resolved: ResolvedSampler, base_scheduler_config: Mapping[str, Any] | Any) -> Any:
    """A fresh diffusers scheduler: the model's scheduler config, then the sampler's, then the schedule's.

    `base_scheduler_config` is the model's scheduler config (it carries the model's betas, prediction
    type and timestep settings): a mapping with `_class_name`, or the loaded `pipe.scheduler` itself.
    For the model default (`resolved.spec is None`) the model's own class is kept, with the schedule
    type laid over it if one was asked for.
    """
    config = scheduler_config(base_scheduler_config)
    if resolved.spec is None:
        class_name = config.get("_class_name")
        if not class_name:
            raise RuntimeFailure("the model's scheduler config names no scheduler class",
                                 hint="choose a sampler explicitly (--sampler)")
        cls = scheduler_class(str(class_name))
        who = str(class_name)
        overrides: dict[str, Any] = {}
        if resolved.schedule != AUTOMATIC:
            overrides = schedule_kwargs(cls, SCHEDULES_BY_ID[resolved.schedule])
    else:
        spec = resolved.spec
        if not spec.supported or not spec.scheduler_class:
            raise UserInputError(f"sampler {spec.display_name!r} has no diffusers equivalent",
                                 hint=f"the nearest supported sampler is {spec.nearest!r}")
        cls = scheduler_class(spec.scheduler_class)
        who = spec.id
        overrides = {**spec.scheduler_kwargs, **schedule_kwargs(cls, SCHEDULES_BY_ID[resolved.schedule])}
    try:
        return cls.from_config(_accepted_config(cls, config), **overrides)
    except ImportError as error:  # diffusers' placeholder classes raise this when a package is missing
        package = _OPTIONAL_PACKAGES.get(getattr(cls, "__name__", ""), "the package it names")
        raise RuntimeFailure(f"sampler {who!r} needs {package}: {error}",
                             hint=f"install it into sdkit's environment (pip install {package})") from error
    except (ValueError, TypeError, NotImplementedError) as error:
        raise RuntimeFailure(f"sampler {who!r} cannot be built for this model: {error}",
                             hint="choose another sampler or schedule type") from error
