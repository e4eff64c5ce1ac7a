"""The engine contract: what an entry in the `sdkit.pipelines` group provides, and what sdkit hands it.

sdkit's run layer owns the run: it resolves the seed (`-1` included), splits the run into batches,
opens the input images, numbers the images, writes the common A1111 infotext fields and the files.
An engine only draws the images of one `Batch` from fully resolved parameters.

An engine is a plain object, usually a module-level instance. Its module must import nothing heavy at
import time: `sdkit presets list` and `generate --dry-run` read `tasks`, `modes`, `families`,
`defaults` and `size_limits` without loading torch. `load` and `draw` import what they need.
Plugin authors import all of this from `sdkit.plugin`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from sdkit.core.hires import HiresPass
from sdkit.core.params import ParamsBase, SizeLimits
from sdkit.core.tasks import Mode, Task

if TYPE_CHECKING:
    from PIL.Image import Image

    from sdkit.core.models import ModelRef


@dataclass(frozen=True)
class LoadOptions:
    """How to load a model: where it runs and which optional parts to swap in."""

    device: str = "auto"
    dtype: str = "auto"
    backend: str = "auto"  # where an SD model's UNet and VAE run: auto, torch or openvino
    vae: str | None = None  # a VAE file or folder that replaces the model's own
    attention_slicing: bool = False
    vae_tiling: bool = False
    cpu_offload: bool = False


@dataclass(frozen=True)
class Batch:
    """The images of one batch that sdkit asks an engine to draw; everything in it is resolved.

    `params` is complete and validated; its `seed` is this batch's first seed (never -1) and its
    `batch_size` is `len(seeds)`. `seeds` holds one seed per image to draw, already wrapped to
    0..2**32-1; an engine that draws without noise (an upscaler) gets an empty tuple and draws one image.
    `images` holds the decoded input images by parameter name (`"image"`, `"mask"`), so an engine
    never opens files itself. `first_index` is the run-wide index of the batch's first image (logs).
    `hires` asks for A1111's hires fix: draw the batch, then its second pass (`sdkit.core.hires`);
    only engines that declare `hires_fix = True` are given one.
    """

    params: ParamsBase
    seeds: tuple[int, ...] = ()
    images: Mapping[str, Image] = field(default_factory=dict)
    first_index: int = 0
    hires: HiresPass | None = None

    @property
    def image_count(self) -> int:
        return max(1, len(self.seeds))


@dataclass
class GeneratedImage:
    """One image an engine drew, and the infotext fields only the engine knows.

    `infotext` holds engine-specific A1111 fields (`"Sampler"`, `"Schedule type"`, or a plugin's own
    keys); sdkit adds the common ones (Steps, CFG scale, Seed, Size, Model, Model hash, Version, ...).
    """

    image: Image
    infotext: dict[str, Any] = field(default_factory=dict)


class StepEvents(Protocol):
    """What an engine reports while it draws a batch; sdkit turns it into progress bars."""

    def step_finished(self, step: int, steps: int) -> None:
        """`step` of `steps` is done (1-based)."""
        ...

    def should_stop(self) -> bool:
        """True once the user asked to stop: return (or raise `Interrupted`) as soon as possible."""
        ...


class NullStepEvents:
    """Events sink for library use and tests: reports nothing, never stops."""

    def step_finished(self, step: int, steps: int) -> None:
        pass

    def should_stop(self) -> bool:
        return False


@runtime_checkable
class Engine(Protocol):
    """An image pipeline registered in `sdkit.pipelines`.

    Optional members: `families` (model families it draws with; default: none, i.e. it takes no model
    from `sdkit.models`), `default_model` (the `--model` reference used when none is given; default
    None, then sdkit asks the user for `--model`), `model_defaults(ref, task, mode)` (defaults that
    depend on the model, such as its native size) and `find_model(reference)` (for engines whose
    models are not found by the `sdkit.models` sources, such as upscalers: return a `ModelRef`) and
    `hires_fix` (True when `draw` does A1111's two-pass hires fix for a `Batch.hires`; default False,
    and sdkit refuses `--hires-*` for the engine) and `check_run(model, params, sampler)` (raise
    `UserInputError` for values this engine would refuse on this model, without loading it or importing
    torch: sdkit calls it when it plans the run, so `--dry-run` refuses them too) and
    `batch_shares_seed(params)` (True when every image of a batch is drawn from the batch's one seed, as
    ComfyUI draws a batch's noise from one generator; then `Batch.seeds` repeats the batch's seed; default
    False: image i gets seed + i).
    """

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

    def load(self, model: ModelRef | None, options: LoadOptions) -> Any:
        """Load `model` (None when the engine takes no model) once; sdkit caches the result."""
        ...

    def draw(self, loaded: Any, batch: Batch, events: StepEvents) -> Sequence[GeneratedImage]:
        """Draw the batch: one `GeneratedImage` per seed (one for a batch without seeds), in seed order."""
        ...


REQUIRED_MEMBERS = ("name", "description", "tasks", "modes", "defaults", "size_limits", "load", "draw")


def _as_enum_set(obj: Any, attribute: str, kind: type[Task] | type[Mode]) -> frozenset[Any]:
    values = getattr(obj, attribute)
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise TypeError(f"{attribute} must be a set of {kind.__name__} values, not {values!r}")
    converted = set()
    for value in values:
        try:
            converted.add(kind(value))
        except ValueError:
            known = ", ".join(member.value for member in kind)
            raise TypeError(f"{attribute} holds {value!r}, which is not a {kind.__name__.lower()} "
                            f"(known: {known})") from None
    if not converted:
        raise TypeError(f"{attribute} is empty")
    return frozenset(converted)


def engine_families(obj: Any) -> frozenset[str]:
    """The model families an engine draws with (empty when it declares none)."""
    return frozenset(str(family) for family in getattr(obj, "families", ()) or ())


def validate_engine(obj: Any) -> None:
    """Registry check: an entry in `sdkit.pipelines` must look like an Engine.

    Task and mode values given as strings are converted to `Task`/`Mode` here, at registration, so a
    misspelt one is reported as a broken plugin and never fails later in the middle of a run.
    """
    missing = [name for name in REQUIRED_MEMBERS if not hasattr(obj, name)]
    if missing:
        hint = " (`run` was replaced by `draw` in sdkit 0.2: see docs/plugins.md)" if "draw" in missing and \
            hasattr(obj, "run") else ""
        raise TypeError(f"{obj!r} is not an sdkit engine: it lacks {', '.join(missing)}{hint}")
    for attribute, kind in (("tasks", Task), ("modes", Mode)):
        converted = _as_enum_set(obj, attribute, kind)
        if getattr(obj, attribute) != converted or not isinstance(getattr(obj, attribute), frozenset):
            try:
                setattr(obj, attribute, converted)
            except AttributeError as error:  # a read-only property: it must give real values itself
                raise TypeError(f"{attribute} must hold {kind.__name__} values") from error
    families = getattr(obj, "families", ())
    if isinstance(families, str) or any(not isinstance(family, str) or not family for family in families or ()):
        raise TypeError(f"families must be a set of family names (strings), not {families!r}")
    default_model = getattr(obj, "default_model", None)
    if default_model is not None and not isinstance(default_model, str):
        raise TypeError(f"default_model must be a model reference string or None, not {default_model!r}")
