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

import io
import json
import re
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, NoReturn

from sdkit.core.errors import UserInputError

if TYPE_CHECKING:
    from PIL.Image import Image
    from PIL.PngImagePlugin import PngInfo

PARAMETERS_KEY = "parameters"
NEGATIVE_PREFIX = "Negative prompt:"
# A1111's parser, in effect: `Key: value` pairs where a value is a JSON string or runs to a comma.
# A1111's own pattern starts with `\s*(\w[\w \-/]+):`, which tries a long run of key characters again
# from each of its positions (quadratic: minutes for one long prompt line). This one starts a key only
# where a run of key characters starts, skipping the run's leading spaces, dashes and slashes, and
# finds the same pairs.
_PARAM = re.compile(r'(?<![\w \-/])[ \-/]*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
_SIZE = re.compile(r"^(\d+)x(\d+)$")
# A1111 takes the last line as the parameters line only when it holds at least this many pairs.
_MIN_PARAMS = 3
# What a PNG text chunk cannot hold: NUL (PNG forbids it in text; readers split the keyword from the
# text at a NUL, and many stop at the next one) and lone surrogates (not encodable as UTF-8, so the
# save would fail). Validation refuses both in prompts, but the writer is safe by itself, for engine and
# plugin fields and library callers too. It escapes instead of refusing: when the text is written the
# image has already been drawn, and refusing would throw a finished image away for a character no
# reader could show. NUL becomes U+2400 SYMBOL FOR NULL (visible, and unlike a backslash form never
# confused with A1111's `\(` escapes), a lone surrogate the replacement character U+FFFD.
_UNWRITABLE = re.compile(r"[\x00\ud800-\udfff]")


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
                     "VAE", "Variation seed", "Variation seed strength", "Seed resize from", "Denoising strength",
                     "Clip skip", "ENSD", "RNG", "Mode")
# The hires fix's keys, first of the extra fields, in the order A1111's txt2img adds them.
HIRES_FIELD_ORDER = ("Hires sampler", "Hires prompt", "Hires negative prompt", "Hires CFG Scale",
                     "Hires schedule type", "Hires upscale", "Hires resize", "Hires steps", "Hires upscaler")
VERSION_KEY = "Version"


def arrange_fields(host: Mapping[str, object], engine: Mapping[str, object],
                   postprocess: Mapping[str, object] | None = None) -> dict[str, object]:
    """One image's fields in A1111's order: sdkit's common ones and an engine's own, then post-processing.

    Where both set a key, sdkit's value wins: the host owns seeds, sizes and model names; an engine
    adds what only it knows (its sampler's A1111 name, a plugin's own keys).
    """
    merged = {**engine, **host}
    arranged = {key: merged[key] for key in (*A1111_FIELD_ORDER, *HIRES_FIELD_ORDER) if key in merged}
    arranged.update((key, value) for key, value in engine.items() if key not in arranged and key != VERSION_KEY)
    arranged.update((key, value) for key, value in host.items() if key not in arranged and key != VERSION_KEY)
    if VERSION_KEY in merged:
        arranged[VERSION_KEY] = merged[VERSION_KEY]
    arranged.update(postprocess or {})
    return arranged


def format_infotext(prompt: str, negative_prompt: str, fields: Mapping[str, object]) -> str:
    """The infotext for one image; fields whose value is None are left out, as in A1111.

    It never holds a NUL or a lone surrogate (`writable_text`), so it can always be stored in a PNG.
    """
    pairs = []
    for key, value in fields.items():
        if value is None:
            continue
        text = format_value(value)
        pairs.append(key if key == text else f"{key}: {quote(value)}")
    negative = f"\n{NEGATIVE_PREFIX} {negative_prompt}" if negative_prompt else ""
    return writable_text(f"{prompt}{negative}\n{', '.join(pairs)}".strip())


def writable_text(text: str) -> str:
    """`text` with what a PNG text chunk cannot hold (NUL, lone surrogates) escaped; see _UNWRITABLE."""
    return _UNWRITABLE.sub(lambda match: "\u2400" if match.group() == "\0" else "\ufffd", text)


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
    info.add_text(PARAMETERS_KEY, writable_text(infotext))
    return info


def write_png_with_parameters(image: Image, path: str | Path, infotext: str) -> Path:
    """Save `image` as a PNG carrying `infotext` (plain save; sdkit's writer does the atomic one)."""
    target = Path(path)
    image.save(target, format="PNG", pnginfo=png_info(infotext))
    return target


# The most text the `parameters` chunk may hold (after decompression), as Pillow's MAX_TEXT_CHUNK: a
# compressed chunk of a few kilobytes can expand to gigabytes. A1111 and sdkit write a few kilobytes.
MAX_PARAMETERS_BYTES = 1024 * 1024
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TEXT_CHUNKS = (b"tEXt", b"zTXt", b"iTXt")
_PARAMETERS_PREFIX = PARAMETERS_KEY.encode("latin-1") + b"\0"


def read_png_parameters(path: str | Path) -> str:
    """The `parameters` text of a PNG; UserInputError if the file is missing, not a PNG, or has none.

    Only the PNG's chunk headers and its `parameters` text chunk are read: the pixels are never decoded,
    so the parameters of an image of any declared size can be read, and a decompression bomb in the
    image data or in a compressed text chunk is never expanded.
    """
    source = Path(path)
    if source.is_dir():
        raise UserInputError(f"{source}: a folder, not an image file", hint="name the PNG files in it")
    if not source.is_file():
        raise UserInputError(f"{source}: no such file", hint="check the path")
    try:
        with source.open("rb") as stream:
            if stream.read(len(PNG_SIGNATURE)) != PNG_SIGNATURE:
                _refuse_other_format(source)
            text = _parameters_chunk_text(source, stream)
    except OSError as error:
        raise UserInputError(f"{source}: cannot be read: {error.strerror or error}",
                             hint="check the file's permissions") from None
    if text is None or not text.strip():
        raise UserInputError(f"{source}: this PNG carries no generation parameters",
                             hint="it was not written by sdkit or A1111, or its metadata was stripped")
    return text


def _parameters_chunk_text(source: Path, stream: BinaryIO) -> str | None:
    """The text of the last `parameters` chunk (Pillow's rule, which A1111 reads by), or None.

    Every other chunk, the image data included, is skipped with a seek. A file that ends early (a
    truncated image) still gives the parameters found before its end.
    """
    text: str | None = None
    first = True
    while True:
        header = stream.read(8)
        if len(header) < 8:
            return text
        length, kind = struct.unpack(">I4s", header)
        if not kind.isalpha():  # ASCII letters, as every PNG chunk type
            raise _damaged(source, "a chunk header is not a PNG chunk")
        if first and kind != b"IHDR":
            raise _damaged(source, "it does not start with an IHDR chunk")
        first = False
        if kind == b"IEND":
            return text
        if kind in _TEXT_CHUNKS and length >= len(_PARAMETERS_PREFIX):
            prefix = stream.read(len(_PARAMETERS_PREFIX))
            if prefix == _PARAMETERS_PREFIX:
                if length > MAX_PARAMETERS_BYTES:
                    raise _too_large(source)
                rest = stream.read(length - len(prefix))
                crc = stream.read(4)
                if len(rest) < length - len(prefix) or len(crc) < 4:
                    return text  # truncated inside the chunk: what came before stands
                if zlib.crc32(kind + prefix + rest) != struct.unpack(">I", crc)[0]:
                    raise _damaged(source, "its parameters chunk fails its checksum")
                found = _decode_text_chunk(source, kind, rest)
                if found is not None:
                    text = found
                continue
            stream.seek(length - len(prefix) + 4, io.SEEK_CUR)
            continue
        stream.seek(length + 4, io.SEEK_CUR)


def _decode_text_chunk(source: Path, kind: bytes, data: bytes) -> str | None:
    """A text chunk's value (the data after its keyword) as Pillow decodes it; None where Pillow skips it."""
    if kind == b"tEXt":
        return data.decode("latin-1", "replace")
    if kind == b"zTXt":
        if data[:1] not in (b"", b"\0"):
            raise _damaged(source, "its parameters chunk uses an unknown compression method")
        return _decompress(source, data[1:]).decode("latin-1", "replace")
    # iTXt: compression flag, method, language tag, translated keyword, then the UTF-8 text.
    if len(data) < 2:
        return None
    compressed, method, rest = data[0], data[1], data[2:]
    parts = rest.split(b"\0", 2)
    if len(parts) < 3:
        return None
    value = parts[2]
    if compressed:
        if method != 0:
            return None
        value = _decompress(source, value)
    try:
        return value.decode("utf-8")
    except UnicodeError:
        return None


def _decompress(source: Path, data: bytes) -> bytes:
    """zlib data, refused once it expands past MAX_PARAMETERS_BYTES: it is never expanded further."""
    decompressor = zlib.decompressobj()
    try:
        plain = decompressor.decompress(data, MAX_PARAMETERS_BYTES)
    except zlib.error as error:
        raise _damaged(source, f"its parameters text does not decompress ({error})") from None
    if decompressor.unconsumed_tail:
        raise _too_large(source)
    return plain


def _refuse_other_format(source: Path) -> NoReturn:
    """Name what the file is instead of a PNG (Pillow reads only its header; nothing is decoded)."""
    import warnings

    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(source) as image:
                image_format = image.format
    except Image.DecompressionBombError:
        image_format = None  # a very large image of another format; its size does not matter here
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        raise UserInputError(f"{source}: not an image file",
                             hint="sdkit reads generation parameters from PNG files") from None
    what = f"a {image_format} image" if image_format else "an image"
    raise UserInputError(f"{source}: {what}, not a PNG",
                         hint="sdkit reads generation parameters from the PNG files sdkit and A1111 write")


def _damaged(source: Path, why: str) -> UserInputError:
    return UserInputError(f"{source}: a damaged PNG: {why}", hint="the file may be truncated or damaged")


def _too_large(source: Path) -> UserInputError:
    return UserInputError(
        f"{source}: its parameters text is too large to read (over {MAX_PARAMETERS_BYTES // 1024} KiB)",
        hint="sdkit and A1111 write a few kilobytes there; this file was not written by them, or was altered")


def read_infotext(path: str | Path) -> Infotext:
    """Parse the parameters of an sdkit or A1111 PNG."""
    return parse_infotext(read_png_parameters(path))
