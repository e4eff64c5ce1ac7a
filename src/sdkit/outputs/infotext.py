"""A1111 infotext: the `parameters` PNG text chunk that PNG-info viewers and model sites read.

Layout (A1111's create_infotext):

    <prompt, any number of lines>
    Negative prompt: <negative prompt, any number of lines>     (line left out when empty)
    Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 1, Size: 512x512, ...

A value holding ",", ":" or a newline is written as a JSON string (A1111's quote rule); sdkit also
quotes a value that starts with a double quote, which A1111's reader would otherwise unquote.
Known limit of the format: a prompt line that starts with "Negative prompt:" cannot be told apart
from the negative prompt, and leading/trailing whitespace of the whole text is not kept.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sdkit.core.errors import UserInputError

if TYPE_CHECKING:
    from PIL.Image import Image
    from PIL.PngImagePlugin import PngInfo

PARAMETERS_KEY = "parameters"
NEGATIVE_PREFIX = "Negative prompt:"
# A1111's parser, verbatim in effect: `Key: value` pairs where a value is a JSON string or runs to a comma.
_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
_SIZE = re.compile(r"^(\d+)x(\d+)$")
# A1111 takes the last line as the parameters line only when it holds at least this many pairs.
_MIN_PARAMS = 3


def format_value(value: object) -> str:
    """A value as A1111 writes it: 7.0 -> "7", True -> "True", strings as they are."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def quote(value: object) -> str:
    """A1111's quote(): JSON-quote a value that a comma, colon or newline would otherwise split."""
    text = format_value(value)
    if any(mark in text for mark in (",", ":", "\n")) or text.startswith('"'):
        return json.dumps(text, ensure_ascii=False)
    return text


def unquote(text: str) -> str:
    if len(text) >= 2 and text.startswith('"') and text.endswith('"'):
        try:
            return str(json.loads(text))
        except ValueError:
            return text
    return text


# The generation fields in A1111's order (create_infotext); other generation fields follow them, then
# "Version"; post-processing fields (an upscaler's) come after "Version", as A1111's extras add them.
A1111_FIELD_ORDER = ("Steps", "Sampler", "Schedule type", "CFG scale", "Seed", "Size", "Model hash", "Model",
                     "VAE", "Denoising strength", "Clip skip", "RNG", "Mode")
VERSION_KEY = "Version"


def arrange_fields(host: Mapping[str, object], engine: Mapping[str, object],
                   postprocess: Mapping[str, object] | None = None) -> dict[str, object]:
    """One image's fields in A1111's order: sdkit's common ones and an engine's own, then post-processing.

    Where both set a key, sdkit's value wins: the host owns seeds, sizes and model names; an engine
    adds what only it knows (its sampler's A1111 name, a plugin's own keys).
    """
    merged = {**engine, **host}
    arranged = {key: merged[key] for key in A1111_FIELD_ORDER if key in merged}
    arranged.update((key, value) for key, value in engine.items() if key not in arranged and key != VERSION_KEY)
    arranged.update((key, value) for key, value in host.items() if key not in arranged and key != VERSION_KEY)
    if VERSION_KEY in merged:
        arranged[VERSION_KEY] = merged[VERSION_KEY]
    arranged.update(postprocess or {})
    return arranged


def format_infotext(prompt: str, negative_prompt: str, fields: Mapping[str, object]) -> str:
    """The infotext for one image; fields whose value is None are left out, as in A1111."""
    pairs = []
    for key, value in fields.items():
        if value is None:
            continue
        text = format_value(value)
        pairs.append(key if key == text else f"{key}: {quote(value)}")
    negative = f"\n{NEGATIVE_PREFIX} {negative_prompt}" if negative_prompt else ""
    return f"{prompt}{negative}\n{', '.join(pairs)}".strip()


@dataclass
class Infotext:
    """A parsed infotext: the prompts and the raw (unquoted) field values, in file order."""

    prompt: str = ""
    negative_prompt: str = ""
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def size(self) -> tuple[int, int] | None:
        """(width, height) from `Size: WxH`, or None."""
        match = _SIZE.match(self.fields.get("Size", ""))
        return (int(match.group(1)), int(match.group(2))) if match else None

    @property
    def width(self) -> int | None:
        return self.size[0] if self.size else None

    @property
    def height(self) -> int | None:
        return self.size[1] if self.size else None

    def get_int(self, key: str) -> int | None:
        try:
            return int(self.fields[key])
        except (KeyError, ValueError):
            return None

    def get_float(self, key: str) -> float | None:
        try:
            return float(self.fields[key])
        except (KeyError, ValueError):
            return None

    def a1111_dict(self) -> dict[str, str]:
        """Fields as A1111's parse_generation_parameters returns them ("Size-1", "Size-2", "Prompt", ...)."""
        result = {"Prompt": self.prompt, "Negative prompt": self.negative_prompt}
        for key, value in self.fields.items():
            match = _SIZE.match(value)
            if match:
                result[f"{key}-1"], result[f"{key}-2"] = match.group(1), match.group(2)
            else:
                result[key] = value
        return result


def parse_infotext(text: str) -> Infotext:
    """Read an A1111 or sdkit infotext back into prompts and fields."""
    lines = text.strip().replace("\r\n", "\n").split("\n")
    last = lines[-1]
    if len(_PARAM.findall(last)) >= _MIN_PARAMS:
        lines = lines[:-1]
    else:
        last = ""
    prompt_lines: list[str] = []
    negative_lines: list[str] = []
    in_negative = False
    for line in lines:
        if not in_negative and line.startswith(NEGATIVE_PREFIX):
            in_negative = True
            line = line[len(NEGATIVE_PREFIX):].lstrip(" ")
        (negative_lines if in_negative else prompt_lines).append(line)
    fields = {key: unquote(value) for key, value in _PARAM.findall(last)}
    return Infotext("\n".join(prompt_lines), "\n".join(negative_lines), fields)


def png_info(infotext: str) -> PngInfo:
    """A PngInfo holding `parameters` (tEXt, or iTXt when the text is not Latin-1, as A1111 writes it)."""
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text(PARAMETERS_KEY, infotext)
    return info


def write_png_with_parameters(image: Image, path: str | Path, infotext: str) -> Path:
    """Save `image` as a PNG carrying `infotext` (plain save; sdkit's writer does the atomic one)."""
    target = Path(path)
    image.save(target, format="PNG", pnginfo=png_info(infotext))
    return target


def read_png_parameters(path: str | Path) -> str:
    """The `parameters` text of a PNG; UserInputError if the file is missing, not a PNG, or has none."""
    from PIL import Image, UnidentifiedImageError

    source = Path(path)
    if source.is_dir():
        raise UserInputError(f"{source}: a folder, not an image file", hint="name the PNG files in it")
    if not source.is_file():
        raise UserInputError(f"{source}: no such file", hint="check the path")
    try:
        with Image.open(source) as image:
            image_format = image.format
            # tEXt/iTXt chunks after the image data are only read once the whole file is loaded.
            image.load()
            text = image.info.get(PARAMETERS_KEY)
    except UnidentifiedImageError:
        raise UserInputError(f"{source}: not an image file",
                             hint="sdkit reads generation parameters from PNG files") from None
    except OSError as error:
        raise UserInputError(f"{source}: cannot be read as an image: {error}",
                             hint="the file may be truncated or damaged") from None
    if image_format != "PNG":
        raise UserInputError(f"{source}: a {image_format} image, not a PNG",
                             hint="sdkit reads generation parameters from the PNG files sdkit and A1111 write")
    if not isinstance(text, str) or not text.strip():
        raise UserInputError(f"{source}: this PNG carries no generation parameters",
                             hint="it was not written by sdkit or A1111, or its metadata was stripped")
    return text


def read_infotext(path: str | Path) -> Infotext:
    """Parse the parameters of an sdkit or A1111 PNG."""
    return parse_infotext(read_png_parameters(path))
