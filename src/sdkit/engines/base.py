"""The engine protocol: what an entry in the `sdkit.pipelines` group must provide.

An engine is a plain object (usually a module-level instance). Its module must import nothing heavy at
import time: `sdkit presets list` and `generate --dry-run` read `tasks`, `modes`, `defaults` and
`size_limits` without loading torch. `load` and `run` import what they need.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from sdkit.core.tasks import Mode, Task

if TYPE_CHECKING:
    from PIL.Image import Image

    from sdkit.core.params import ParamsBase


@dataclass(frozen=True)
class SizeLimits:
    """Allowed output sizes for one task of one engine."""

    min_size: int = 64
    max_size: int = 2048
    multiple_of: int = 8


@dataclass(frozen=True)
class LoadOptions:
    """How to load a model: where it runs and which optional parts to swap in."""

    device: str = "auto"
    dtype: str = "auto"
    vae: str | None = None  # a VAE file or folder that replaces the model's own
    attention_slicing: bool = False
    vae_tiling: bool = False
    cpu_offload: bool = False


@dataclass
class GeneratedImage:
    """One finished image and what is needed to reproduce it."""

    image: Image
    index: int  # position in the whole run, 0-based
    seed: int | None = None
    # A1111 infotext fields in A1111's key order ("Steps", "Sampler", ...), written into the PNG.
    infotext: dict[str, Any] = field(default_factory=dict)
    prompt: str = ""
    negative_prompt: str = ""


class RunEvents(Protocol):
    """What an engine reports while it runs; the CLI draws progress bars from it."""

    def image_started(self, index: int, total: int, steps: int) -> None: ...

    def step_finished(self, index: int, step: int, steps: int) -> None: ...

    def should_stop(self) -> bool: ...


class NullEvents:
    """Events sink for library use and tests: reports nothing, never stops."""

    def image_started(self, index: int, total: int, steps: int) -> None:
        pass

    def step_finished(self, index: int, step: int, steps: int) -> None:
        pass

    def should_stop(self) -> bool:
        return False


@runtime_checkable
class Engine(Protocol):
    """An image pipeline registered in `sdkit.pipelines`."""

    name: str
    description: str
    tasks: frozenset[Task]
    modes: frozenset[Mode]

    def defaults(self, task: Task, mode: Mode) -> Mapping[str, Any]:
        """Parameter values for `task` in `mode` when neither preset nor flags set them."""
        ...

    def size_limits(self, task: Task) -> SizeLimits:
        """Allowed width and height for `task`."""
        ...

    def load(self, model: str | None, options: LoadOptions) -> Any:
        """Load the model (a name, path or hub id; None for the engine's default) once per process."""
        ...

    def run(self, loaded: Any, params: ParamsBase, events: RunEvents) -> Iterator[GeneratedImage]:
        """Yield finished images one by one, so each is saved as soon as it exists."""
        ...


def validate_engine(obj: Any) -> None:
    """Registry check: an entry point in `sdkit.pipelines` must look like an Engine."""
    missing = [name for name in ("name", "tasks", "modes", "defaults", "size_limits", "load", "run")
               if not hasattr(obj, name)]
    if missing:
        raise TypeError(f"{obj!r} is not an sdkit engine: it lacks {', '.join(missing)}")
