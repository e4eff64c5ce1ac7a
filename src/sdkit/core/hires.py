"""A1111's hires fix as values: its upscaler names, the second pass's size and step count, and what a
`Batch` carries when an engine is asked to draw both passes (shared/reference/a1111-prompts.md §8).

txt2img draws at width × height, enlarges the result to the target size (on the latents with one of
A1111's latent modes, or as an image with an upscaler), then runs img2img at that size with the hires
denoising strength. Everything here is plain arithmetic and tables: the run layer checks and plans with
it (`--dry-run` needs no torch), the engine draws with it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sdkit.core.errors import Problem
from sdkit.core.tasks import Task

if TYPE_CHECKING:
    from PIL.Image import Image

# The latent upscale modes by A1111's names (its shared.latent_upscale_modes): torch's interpolate mode
# and whether it antialiases. "Latent" is A1111's default hires upscaler.
LATENT_MODES: dict[str, tuple[str, bool]] = {
    "Latent": ("bilinear", False),
    "Latent (antialiased)": ("bilinear", True),
    "Latent (bicubic)": ("bicubic", False),
    "Latent (bicubic antialiased)": ("bicubic", True),
    "Latent (nearest)": ("nearest", False),
    "Latent (nearest-exact)": ("nearest-exact", False),
}
DEFAULT_UPSCALER = "Latent"
# A1111's upscalers that need no model: a plain resize of the decoded image ("None" only resizes to
# the target, with Lanczos, as A1111's resize_image does after any upscaler).
RESIZE_UPSCALERS: dict[str, str] = {"Lanczos": "lanczos", "Nearest": "nearest", "None": "lanczos"}
# Pixels per latent cell: every Stable Diffusion VAE downsamples by 8 (A1111's opt_f).
LATENT_FACTOR = 8
# The parameters that turn the hires fix on, and the ones that only shape it.
HIRES_SWITCHES = ("hires_scale", "hires_width", "hires_height")
HIRES_OPTIONS = ("hires_upscaler", "hires_steps", "hires_denoise", "hires_sampler", "hires_schedule",
                 "hires_prompt", "hires_negative_prompt", "hires_cfg_scale")
HIRES_PARAMS = (*HIRES_SWITCHES, *HIRES_OPTIONS)


def builtin_upscaler(name: str) -> str | None:
    """A1111's spelling of a latent mode or model-free resize named in any case; None for other names."""
    wanted = " ".join(name.split()).lower()
    for known in (*LATENT_MODES, *RESIZE_UPSCALERS):
        if known.lower() == wanted:
            return known
    return None


def hires_enabled(values: Mapping[str, Any]) -> bool:
    """Whether these parameters ask for the hires fix: a scale, or a target width or height.

    A scale of 0 turns it off whatever else is set (to make only the first pass of a hires image).
    """
    if values.get("hires_scale") == 0:
        return False
    return any(values.get(name) not in (None, 0) for name in HIRES_SWITCHES)


@dataclass(frozen=True)
class HiresSize:
    """Where the second pass draws, as A1111 computes it (calculate_target_resolution).

    `upscale_to` is what the first pass is enlarged to. A `--hires-size` of another aspect ratio than
    the first pass is the `target`: `upscale_to` covers it and the excess latent cells are cut off
    afterwards, split between both sides. Sizes in latent cells take the VAE's factor (8 for every
    Stable Diffusion VAE; the engine passes its own), so `size()` is a multiple of it.
    """

    upscale_to: tuple[int, int]
    target: tuple[int, int] | None = None

    def latent_size(self, factor: int = LATENT_FACTOR) -> tuple[int, int]:
        """(columns, rows) of the enlarged latents before the crop."""
        return self.upscale_to[0] // factor, self.upscale_to[1] // factor

    def crop(self, factor: int = LATENT_FACTOR) -> tuple[int, int]:
        """(columns, rows) of latent cells cut off after enlarging (A1111's truncate_x, truncate_y)."""
        if self.target is None:
            return 0, 0
        return (self.upscale_to[0] - self.target[0]) // factor, (self.upscale_to[1] - self.target[1]) // factor

    def size(self, factor: int = LATENT_FACTOR) -> tuple[int, int]:
        """The second pass's image size."""
        (columns, rows), (crop_columns, crop_rows) = self.latent_size(factor), self.crop(factor)
        return (columns - crop_columns) * factor, (rows - crop_rows) * factor


def hires_size(width: int, height: int, scale: float | None, resize_width: int | None,
               resize_height: int | None) -> HiresSize:
    """The second pass's size from the first pass's and `--hires-scale` or `--hires-size` (0: keep the aspect)."""
    resize_width, resize_height = resize_width or 0, resize_height or 0
    if not resize_width and not resize_height:
        factor = scale if scale is not None else 2.0
        return HiresSize((int(width * factor), int(height * factor)))
    if not resize_height:
        return HiresSize((resize_width, resize_width * height // width))
    if not resize_width:
        return HiresSize((resize_height * width // height, resize_height))
    if width / height < resize_width / resize_height:
        upscale_to = (resize_width, resize_width * height // width)
    else:
        upscale_to = (resize_height * width // height, resize_height)
    return HiresSize(upscale_to, (resize_width, resize_height))


def second_pass_steps(steps: int, hires_steps: int) -> int:
    """The steps the second pass runs: `--hires-steps`, or the first pass's when it is 0."""
    return hires_steps or steps


def second_pass_schedule(steps: int, denoise: float) -> tuple[int, float]:
    """(schedule length, strength for diffusers' img2img) so that exactly `steps` steps run, as in A1111.

    A1111 passes the hires steps to its img2img sampler, which then makes a schedule of
    int(steps / min(denoise, 0.999)) steps and runs its last `steps` (sd_samplers_common's
    setup_img2img_steps). diffusers runs the last int(length × strength) steps of a schedule of the
    given length; the half step keeps that product from rounding down to one step fewer.
    """
    length = max(steps, int(steps / min(denoise, 0.999)))
    return length, min(1.0, (steps + 0.5) / length)


@dataclass(frozen=True)
class HiresPass:
    """The second pass an engine draws after the first when `Batch.hires` holds one; all resolved.

    `latent_mode` is set for a latent upscale (torch mode, antialias); otherwise the engine decodes
    the first pass and enlarges the images with `resize` (a model-free PIL filter, "lanczos" or
    "nearest") or `upscale_image(image, (width, height))`, a callable the run layer makes from an
    upscale engine, so that the engine never needs another engine. `steps` is the second pass's own
    count; the prompt, sampler, schedule and CFG scale are the first pass's unless the user gave others.
    """

    size: HiresSize
    upscaler: str  # as the infotext names it
    steps: int
    denoise: float
    prompt: str
    negative_prompt: str
    cfg_scale: float
    sampler: str
    schedule: str
    latent_mode: tuple[str, bool] | None = None
    resize: str | None = None
    upscale_image: Callable[[Image, tuple[int, int]], Image] | None = None


def hires_problems(values: Mapping[str, Any], task: Task, limits: Any, engine_name: str | None = None) -> list[Problem]:
    """The hires parameters' own rules (`range_problems` calls this): ranges, the target size, the task.

    `limits` is the engine's `SizeLimits` (typed loosely: `sdkit.core.params` imports this module).
    """
    given = [name for name in HIRES_PARAMS if values.get(name) is not None]
    if not given or values.get("hires_scale") == 0:  # off (see hires_enabled)
        return []
    if task is not Task.TXT2IMG:
        return [Problem(name, values[name], "is for txt2img only: the hires fix is a second pass of txt2img",
                        "drop the --hires-* options, or drop --image/--mask to make the image from the prompt")
                for name in given]
    if not hires_enabled(values):
        return [Problem(name, values[name], "has no effect without --hires-scale or --hires-size",
                        "add --hires-scale 2 (or --hires-size WxH) to turn the hires fix on") for name in given]
    problems: list[Problem] = []

    def number(name: str) -> float | None:
        value = values.get(name)
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    def check(name: str, ok: bool, allowed: str, hint: str | None = None) -> None:
        if values.get(name) is not None and not ok:
            problems.append(Problem(name, values[name], allowed, hint))

    scale = number("hires_scale")
    check("hires_scale", scale is not None and 1 <= scale <= 16, "must be between 1 and 16", "2 doubles the size")
    for side in ("hires_width", "hires_height"):
        size = number(side)
        check(side, size is not None and size >= 0, "must be 0 (keep the aspect ratio) or more")
    steps = number("hires_steps")
    check("hires_steps", steps is not None and 0 <= steps <= 1000, "must be between 0 and 1000",
          "0 runs as many steps as the first pass")
    denoise = number("hires_denoise")
    check("hires_denoise", denoise is not None and 0 < denoise <= 1, "must be in (0, 1]",
          "A1111's default is 0.7; lower keeps more of the first pass")
    cfg = number("hires_cfg_scale")
    check("hires_cfg_scale", cfg is not None and 0 <= cfg <= 50, "must be between 0 and 50")
    width, height = number("width"), number("height")
    if problems or limits is None or not width or not height:
        return problems
    target = hires_size(int(width), int(height), scale, number("hires_width"), number("hires_height"))
    target_width, target_height = target.size()
    if not (limits.min_size <= min(target.size()) and max(target.size()) <= limits.max_size):
        field = "hires_scale" if scale is not None else "hires_width"
        problems.append(Problem(
            field, values[field] if values.get(field) is not None else values.get("hires_height"),
            f"makes a {target_width}x{target_height} second pass from {int(width)}x{int(height)}; sides must be "
            f"between {limits.min_size} and {limits.max_size}"
            + (f" for engine {engine_name!r}" if engine_name else ""),
            "choose a smaller --hires-scale or --hires-size, or a smaller first pass (--width/--height)"))
    return problems


def parse_hires_size(text: str) -> tuple[int, int]:
    """`--hires-size WxH` as (width, height); 0 for one side keeps the first pass's aspect ratio."""
    from sdkit.core.errors import UserInputError

    parts = text.strip().lower().replace(" ", "").split("x")
    if len(parts) == 2 and all(part.isdigit() for part in parts) and any(int(part) for part in parts):
        return int(parts[0]), int(parts[1])
    raise UserInputError(f"--hires-size {text!r} is not a size WxH",
                         "write it as e.g. 1024x1024, or 1024x0 to keep the first pass's aspect ratio")
