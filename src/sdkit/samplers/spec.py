"""The plugin contract of the `sdkit.samplers` group: `SamplerSpec`, `SamplerAlias` and `ScheduleSpec`.

An entry point in `sdkit.samplers` points at one `SamplerSpec` (a whole sampler, keyed by its id) or
one `SamplerAlias` (extra names for a sampler that already exists). Everything here is plain data:
building the diffusers scheduler happens in `sdkit.samplers.factory`, which alone imports diffusers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

# Schedule types any scheduler with a `timestep_spacing` setting can take.
SPACING_SCHEDULES = ("uniform", "normal", "simple", "sgm_uniform", "ddim_uniform")
# Schedule types that need the `use_*_sigmas` settings of k-diffusion style schedulers.
SIGMA_SCHEDULES = ("karras", "exponential", "beta")


def _frozen_mapping(values: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(values))


@dataclass(frozen=True)
class SamplerSpec:
    """One sampler: its names, the diffusers scheduler that runs it, and the schedule types it takes.

    `scheduler_class` is a diffusers class name ("EulerDiscreteScheduler") or "module:Class" for a
    scheduler that lives in a plugin; `scheduler_kwargs` are laid over the model's own scheduler
    config. An unsupported sampler (a name people know, with no diffusers equivalent) has
    `supported=False`, no class, and `nearest` naming the supported sampler to use instead.
    """

    id: str
    display_name: str  # A1111's label where A1111 has the sampler, written into infotext
    scheduler_class: str | None = None
    scheduler_kwargs: Mapping[str, Any] = field(default_factory=dict, hash=False)
    aliases: tuple[str, ...] = ()  # A1111 aliases, ComfyUI names, diffusers class names
    default_schedule: str = "uniform"  # what "Automatic" means for this sampler (A1111's rule)
    schedule_types: tuple[str, ...] = ("uniform",)
    supported: bool = True
    nearest: str | None = None  # for unsupported samplers: the supported sampler closest to it
    stochastic: bool = False  # adds fresh noise each step (ancestral, SDE): uses the per-image generators
    notes: str = ""
    # Under an A1111 name, sdkit.sampling computes A1111's own method (docs/samplers.md); such a sampler
    # runs there even without a diffusers class (DPM++ 2S a, DPM++ 3M SDE).
    a1111_faithful: bool = False

    def __post_init__(self) -> None:
        # Frozen all the way down: a spec is shared by every caller in the process.
        object.__setattr__(self, "scheduler_kwargs", _frozen_mapping(self.scheduler_kwargs))
        object.__setattr__(self, "aliases", tuple(self.aliases))
        object.__setattr__(self, "schedule_types", tuple(self.schedule_types))
        if self.supported and not self.scheduler_class and not self.a1111_faithful:
            raise ValueError(f"sampler {self.id!r}: a supported sampler needs a scheduler_class")
        if not self.supported and not self.nearest and not self.a1111_faithful:
            raise ValueError(f"sampler {self.id!r}: an unsupported sampler must name its nearest supported one")
        if self.supported and self.default_schedule not in self.schedule_types:
            raise ValueError(f"sampler {self.id!r}: default schedule {self.default_schedule!r} "
                             f"is not among its schedule types {self.schedule_types}")


@dataclass(frozen=True)
class SamplerAlias:
    """Extra names for an existing sampler, e.g. `SamplerAlias(target="dpmpp_2m", names=("my 2m",))`.

    Registered like a sampler (an entry point in `sdkit.samplers`, under any key of its own). A name
    that another sampler already uses is skipped with a warning: built-in names always win.
    """

    target: str
    names: tuple[str, ...]

    def __post_init__(self) -> None:
        if isinstance(self.names, str):  # a single name given bare would otherwise become characters
            object.__setattr__(self, "names", (self.names,))
        object.__setattr__(self, "names", tuple(self.names))


@dataclass(frozen=True)
class ScheduleSpec:
    """One schedule type ("Karras", "SGM Uniform"): how it maps onto diffusers scheduler settings.

    `sigmas_flag` names a `use_*_sigmas` setting; `spacing` a `timestep_spacing`; a schedule with
    neither keeps the model's own discretisation.
    """

    id: str
    label: str  # A1111's label, as written after "Schedule type:" in infotext
    aliases: tuple[str, ...] = ()
    sigmas_flag: str | None = None
    spacing: str | None = None
    supported: bool = True
    nearest: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """The spellings A1111 accepts at the end of a legacy combined name, in its order."""
        return (self.label, self.id, *self.aliases)
