"""Samplers in A1111, ComfyUI and diffusers vocabulary, mapped onto diffusers schedulers.

Public API (nothing here imports torch or diffusers until `make_scheduler` runs):

    resolve_sampler(name, schedule=None) -> ResolvedSampler     what the user meant
    make_scheduler(resolved, base_scheduler_config) -> scheduler  a diffusers scheduler for a model
    a1111_names(resolved, base_scheduler_config=None) -> (sampler label, schedule label)  for infotext
    describe_scheduler_config(config) -> ResolvedSampler | None   a model's own scheduler, in our terms
    sampler_table() -> SamplerTable                               every sampler, alias and its source

Plugins register a `SamplerSpec` or a `SamplerAlias` in the `sdkit.samplers` entry-point group.
"""

from sdkit.samplers.builtin import SCHEDULES, SCHEDULES_BY_ID
from sdkit.samplers.factory import make_scheduler
from sdkit.samplers.resolve import (
    AUTOMATIC,
    ResolvedSampler,
    a1111_legacy_split,
    a1111_names,
    describe_scheduler_config,
    resolve_sampler,
    scheduler_config,
    split_legacy_name,
)
from sdkit.samplers.spec import SamplerAlias, SamplerSpec, ScheduleSpec
from sdkit.samplers.table import SamplerTable, name_key, sampler_table

__all__ = [
    "AUTOMATIC",
    "SCHEDULES",
    "SCHEDULES_BY_ID",
    "ResolvedSampler",
    "SamplerAlias",
    "SamplerSpec",
    "SamplerTable",
    "ScheduleSpec",
    "a1111_legacy_split",
    "a1111_names",
    "describe_scheduler_config",
    "make_scheduler",
    "name_key",
    "resolve_sampler",
    "sampler_table",
    "scheduler_config",
    "split_legacy_name",
]
