"""`parse_params`: merge engine defaults under a request and validate the result, all problems at once.

The result is a frozen params model (a `ParamsBase` subclass per task) in which every field has a
value, so engines never see a missing or out-of-range value and never need to validate anything themselves.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, ValidationError

from sdkit.core.errors import ParamsError, Problem
from sdkit.core.hires import DEFAULT_UPSCALER, HIRES_SWITCHES, hires_enabled, hires_problems
from sdkit.core.requests import DEVICE_NAME, REQUEST_TYPES, BackendName, DtypeName, EmphasisMode, RequestBase, RngSource
from sdkit.core.tasks import Mode, Task

SEED_MAX = 2**32 - 1
# Characters a prompt cannot hold: C0 controls but tab, newline and carriage return (NUL ends a PNG text
# chunk's keyword; the others cannot be written to tEXt), DEL, the C1 controls U+0080..U+009F (U+009B is
# a terminal's escape introducer: shown back on a console it would take the terminal over), and lone
# surrogates (what a non-UTF-8 byte in the command line decodes to; they cannot be written as UTF-8 at all).
_UNSTORABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_TEXT_FIELDS = ("prompt", "negative_prompt", "hires_prompt", "hires_negative_prompt")


@dataclass(frozen=True)
class SizeLimits:
    """Allowed output sizes for one task of one engine."""

    min_size: int = 64
    max_size: int = 2048
    multiple_of: int = 8


class ParamRules(Protocol):
    """What `parse_params` needs of an engine (an `sdkit.core.engine.Engine` has all of it)."""

    name: str
    tasks: frozenset[Task]
    modes: frozenset[Mode]

    def defaults(self, task: Task, mode: Mode) -> Mapping[str, Any]: ...

    def size_limits(self, task: Task) -> SizeLimits: ...


class ParamsBase(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    task: Task
    mode: Mode = Mode.NORMAL
    device: str = "auto"
    dtype: DtypeName = "auto"
    backend: BackendName = "auto"


class Txt2ImgParams(ParamsBase):
    prompt: str = ""
    negative_prompt: str = ""
    steps: int
    cfg_scale: float
    width: int
    height: int
    batch_size: int = 1
    batch_count: int = 1
    seed: int = -1
    sampler: str = "automatic"
    schedule: str = "automatic"
    clip_skip: int = 1
    emphasis: EmphasisMode = "original"  # how prompt weights act (A1111's Original, No norm, Ignore, None)
    loras: tuple[str, ...] = ()  # `--lora NAME[:WEIGHT]`, applied with the prompt's <lora:...> tags
    rng: RngSource = "cpu"
    # A1111's "Eta noise seed delta" (infotext ENSD): after the initial noise, each image's generator
    # is reseeded with seed + ensd for the per-step noise of the ancestral samplers. 0: off.
    ensd: int = 0
    # A1111's variation seeds: with a strength above 0 every image keeps `seed` and image i blends in the
    # noise of variation_seed + i (spherically, by that strength); -1 draws the variation seed.
    # "Seed resize from" (both > 0): the seed's noise is made at that size and pasted centred.
    variation_seed: int = -1
    variation_strength: float = 0.0
    seed_resize_from_width: int = 0
    seed_resize_from_height: int = 0
    # Under ComfyUI's sampler names a batch's noise comes from one generator seeded with its seed, so an
    # image depends on its place in the batch: image i of this batch is drawn at place
    # comfyui_batch_index + i of a batch of comfyui_batch_size (0: this batch's own size). `--from-image`
    # sets them to remake one image of a ComfyUI-named batch alone.
    comfyui_batch_size: int = 0
    comfyui_batch_index: int = 0
    attention_slicing: bool = False
    vae_tiling: bool = False
    cpu_offload: bool = False
    # `--upscale MODEL`: each image goes through an upscale engine before it is saved.
    upscale: str | None = None
    upscale_engine: str | None = None  # None: the default engine of the upscale task
    upscale_scale: float | None = None  # None: the upscaler's native scale
    upscale_tile: int = 512
    upscale_tile_overlap: int = 32
    # A1111's hires fix (sdkit.core.hires): on when hires_scale or hires_width/height is set. None
    # (and "" for the prompts) means the first pass's value; hires_steps 0 the first pass's steps.
    hires_scale: float | None = None
    hires_width: int | None = None
    hires_height: int | None = None
    hires_upscaler: str = DEFAULT_UPSCALER
    hires_steps: int = 0
    hires_denoise: float = 0.7
    hires_sampler: str | None = None
    hires_schedule: str | None = None
    hires_prompt: str | None = None
    hires_negative_prompt: str | None = None
    hires_cfg_scale: float | None = None

    @property
    def image_count(self) -> int:
        return self.batch_size * self.batch_count

    @property
    def hires(self) -> bool:
        """Whether the hires fix's second pass runs (txt2img only; refused on the other tasks)."""
        return self.task is Task.TXT2IMG and hires_enabled(self.model_dump(include=set(HIRES_SWITCHES)))


class Img2ImgParams(Txt2ImgParams):
    image: str
    strength: float = 0.75


class InpaintParams(Img2ImgParams):
    mask: str
    mask_blur: int = 4


class UpscaleParams(ParamsBase):
    image: str
    scale: float | None = None  # None: the model's native scale
    tile: int = 512  # 0 turns tiling off
    tile_overlap: int = 32


PARAMS_TYPES: dict[Task, type[ParamsBase]] = {
    Task.TXT2IMG: Txt2ImgParams,
    Task.IMG2IMG: Img2ImgParams,
    Task.INPAINT: InpaintParams,
    Task.UPSCALE: UpscaleParams,
}


def range_problems(values: Mapping[str, Any], task: Task, limits: SizeLimits | None,
                   engine_name: str | None = None) -> list[Problem]:
    """Rules pydantic's types cannot express: ranges, multiples, required inputs per task.

    `limits` are the engine's size limits; None leaves width and height to be checked once an engine
    is known (preset files are checked before one is); `engine_name` is named in size problems.
    """
    problems: list[Problem] = []

    def check(name: str, ok: bool, allowed: str, hint: str | None = None) -> None:
        if name in values and values[name] is not None and not ok:
            problems.append(Problem(name, values[name], allowed, hint))

    def number(name: str) -> float | None:
        value = values.get(name)
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    def tiling(tile_name: str, overlap_name: str) -> None:
        tile = number(tile_name)
        check(tile_name, tile is not None and (tile == 0 or tile >= 32), "must be 0 (no tiling) or at least 32")
        overlap = number(overlap_name)
        check(overlap_name, overlap is not None and overlap >= 0, "must be 0 or more")
        if tile and overlap is not None and tile > 0 and overlap * 2 >= tile:
            flag = tile_name.replace("_", "-")
            problems.append(Problem(overlap_name, overlap, f"must be less than half the tile ({tile})",
                                    f"raise --{flag} or lower --{flag}-overlap"))

    device = values.get("device")
    if isinstance(device, str) and not DEVICE_NAME.fullmatch(device):
        problems.append(Problem("device", device, "is not a device sdkit knows", "use auto, cpu, cuda, cuda:N or mps"))
    for name in _TEXT_FIELDS:
        text = values.get(name)
        found = _UNSTORABLE.search(text) if isinstance(text, str) else None
        if found is not None:
            code = ord(found.group())
            what, hint = ((f"a byte that is not UTF-8 (U+{code:04X})", "give the text in UTF-8")
                          if 0xD800 <= code <= 0xDFFF else
                          (f"the control character U+{code:04X}", "remove it; tabs and newlines are fine"))
            why = ("which would act on a terminal that shows the image's metadata" if 0x80 <= code <= 0x9F
                   else "which an image's metadata cannot store")
            problems.append(Problem(name, _excerpt(text, found.start()),
                                    f"holds {what} at position {found.start()}, {why}", hint))
    if task is not Task.UPSCALE:
        for side in ("width", "height"):
            size = number(side)
            if size is None or limits is None:
                continue
            check(side, size % limits.multiple_of == 0, f"must be a multiple of {limits.multiple_of}",
                  f"try {max(limits.multiple_of, int(size / limits.multiple_of + 0.5) * limits.multiple_of)}")
            check(side, limits.min_size <= size <= limits.max_size,
                  f"must be between {limits.min_size} and {limits.max_size}"
                  + (f" for engine {engine_name!r}" if engine_name else ""))
        steps = number("steps")
        check("steps", steps is not None and steps >= 1, "must be at least 1")
        cfg = number("cfg_scale")
        check("cfg_scale", cfg is not None and 0 <= cfg <= 50, "must be between 0 and 50",
              "1 turns classifier-free guidance off; 5-9 is usual")
        for name in ("batch_size", "batch_count"):
            count = number(name)
            check(name, count is not None and 1 <= count <= 1000, "must be between 1 and 1000")
        seed = number("seed")
        check("seed", seed is not None and -1 <= seed <= SEED_MAX, f"must be -1 (random) or 0..{SEED_MAX}")
        variation_seed = number("variation_seed")
        check("variation_seed", variation_seed is not None and -1 <= variation_seed <= SEED_MAX,
              f"must be -1 (random) or 0..{SEED_MAX}")
        variation_strength = number("variation_strength")
        check("variation_strength", variation_strength is not None and 0 <= variation_strength <= 1,
              "must be between 0 and 1", "0 is off; small values (0.05-0.3) give near variations")
        for side in ("seed_resize_from_width", "seed_resize_from_height"):
            resize = number(side)
            check(side, resize is not None and 0 <= resize <= 16384, "must be 0 (off) or a size up to 16384")
        noise_batch, noise_index = number("comfyui_batch_size"), number("comfyui_batch_index")
        check("comfyui_batch_size", noise_batch is not None and 0 <= noise_batch <= 1000,
              "must be 0 (the batch's own size) or a batch size up to 1000")
        batch_size = number("batch_size") or 1
        check("comfyui_batch_index", noise_index is not None and noise_index >= 0
              and (noise_index == 0 if not noise_batch else noise_index + batch_size <= noise_batch),
              "must be a place in the ComfyUI batch (0-based), with room for the batch's images",
              "with --batch-size N, comfyui_batch_index + N may be at most comfyui_batch_size")
        ensd = number("ensd")
        check("ensd", ensd is not None and 0 <= ensd <= SEED_MAX, f"must be between 0 and {SEED_MAX}",
              "31337 is the value A1111 images usually record; 0 turns it off")
        clip_skip = number("clip_skip")
        check("clip_skip", clip_skip is not None and 1 <= clip_skip <= 12, "must be between 1 and 12",
              "1 uses the last text-encoder layer, as A1111 does")
        upscale_scale = number("upscale_scale")
        check("upscale_scale", upscale_scale is not None and 0 < upscale_scale <= 16, "must be in (0, 16]")
        tiling("upscale_tile", "upscale_tile_overlap")
    problems += hires_problems(values, task, limits, engine_name)
    if task in (Task.IMG2IMG, Task.INPAINT):
        strength = number("strength")
        check("strength", strength is not None and 0 < strength <= 1, "must be in (0, 1]",
              "low values keep the input image, 1 replaces it")
    if task is Task.INPAINT:
        blur = number("mask_blur")
        check("mask_blur", blur is not None and 0 <= blur <= 64, "must be between 0 and 64")
    if task is Task.UPSCALE:
        scale = number("scale")
        check("scale", scale is not None and 0 < scale <= 16, "must be in (0, 16]")
        tiling("tile", "tile_overlap")

    required_inputs = {
        Task.IMG2IMG: ["image"],
        Task.INPAINT: ["image", "mask"],
        Task.UPSCALE: ["image"],
    }.get(task, [])
    for name in required_inputs:
        if not values.get(name):
            problems.append(Problem(name, None, f"{task.value} needs an input {name}", f"pass --{name} FILE"))
    return problems


def _excerpt(text: str, position: int, around: int = 20) -> str:
    """The part of a long text around `position`, for a message."""
    if len(text) <= 2 * around + 10:
        return text
    start, end = max(0, position - around), position + around
    return ("..." if start else "") + text[start:end] + ("..." if end < len(text) else "")


def _pydantic_problems(error: ValidationError) -> list[Problem]:
    problems = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "(request)"
        if item["type"] == "missing":
            continue  # reported by the task rules with a better hint
        allowed = item["msg"]
        hint = None
        if item["type"] == "extra_forbidden":
            allowed, hint = "is not a parameter of this task", None
        problems.append(Problem(field, item.get("input"), allowed, hint))
    return problems


def parse_params(
    engine: ParamRules,
    task: Task | str,
    request: RequestBase | Mapping[str, Any] | None = None,
    mode: Mode | str = Mode.NORMAL,
) -> ParamsBase:
    """Validate `request` for `task` on `engine` and return frozen, complete parameters.

    Raises `ParamsError` listing every problem at once.
    """
    problems: list[Problem] = []
    try:
        task = Task(task)
    except ValueError:
        raise ParamsError([Problem("task", task, f"must be one of {', '.join(t.value for t in Task)}")]) from None
    try:
        mode = Mode(mode)
    except ValueError:
        raise ParamsError([Problem("mode", mode, f"must be one of {', '.join(m.value for m in Mode)}")]) from None

    if task not in engine.tasks:
        tasks = ", ".join(sorted(t.value for t in engine.tasks))
        raise ParamsError([Problem("task", task.value, f"engine {engine.name!r} does only: {tasks}",
                                   "choose another task or another engine (--engine)")])
    if mode not in engine.modes:
        modes = ", ".join(sorted(m.value for m in engine.modes))
        raise ParamsError([Problem("mode", mode.value, f"engine {engine.name!r} supports modes: {modes}",
                                   "drop --mode or use an engine made for this kind of model")])

    if request is None:
        given: dict[str, Any] = {}
    elif isinstance(request, RequestBase):
        given = request.model_dump(exclude_none=True)
    else:
        given = {key: value for key, value in request.items() if value is not None}
        try:
            REQUEST_TYPES[task].model_validate(given)
        except ValidationError as error:
            problems += _pydantic_problems(error)
            bad = {str(item["loc"][0]) for item in error.errors() if item["loc"]}
            given = {key: value for key, value in given.items() if key not in bad}

    merged = {**dict(engine.defaults(task, mode)), **given, "task": task, "mode": mode}
    limits = engine.size_limits(task) if task is not Task.UPSCALE else None
    problems += range_problems(merged, task, limits, engine.name)
    if problems:
        raise ParamsError(problems)
    try:
        return PARAMS_TYPES[task].model_validate(merged)
    except ValidationError as error:
        raise ParamsError(_pydantic_problems(error) or [Problem("(request)", None, str(error))]) from None
