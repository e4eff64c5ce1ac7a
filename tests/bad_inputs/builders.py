"""Small builders of hostile input files: images, PNG metadata, model files, pickles and presets.

Each function returns a builder: `builder(path, ctx)` writes one file at `path`. Text given to a
builder may hold the corpus's `{placeholders}` (see `corpus`), filled in when the file is written.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
import tarfile
import zipfile
import zlib
from pathlib import Path
from typing import Any

from hostile_pickles import RunsCode

from bad_inputs.corpus import Builder, Ctx

A1111_TEXT = (
    "a lighthouse at dusk\n"
    "Negative prompt: lowres\n"
    "Steps: 2, Sampler: Euler a, Schedule type: Automatic, CFG scale: 7, Seed: 42, Size: 64x64, "
    "Model: tiny-sd1, Version: v1.10.1"
)


def infotext(prompt: str = "a lighthouse at dusk", **fields: Any) -> str:
    """A1111 parameters text: the prompt, then `Key: value` pairs (keys with spaces as `Key_name`)."""
    defaults = {"Steps": 2, "Sampler": "Euler a", "CFG scale": 7, "Seed": 42, "Size": "64x64"}
    for key, value in fields.items():
        defaults[key.replace("_", " ")] = value
    pairs = ", ".join(f"{key}: {value}" for key, value in defaults.items() if value is not None)
    return f"{prompt}\n{pairs}"


# ------------------------------------------------------------------------------------------- plain
def text(content: str, encoding: str = "utf-8") -> Builder:
    def build(path: Path, ctx: Ctx) -> None:
        path.write_text(ctx.expand(content), encoding=encoding)
    return build


def raw(content: bytes) -> Builder:
    def build(path: Path, ctx: Ctx) -> None:
        path.write_bytes(content)
    return build


def folder(*names: str) -> Builder:
    """A folder, holding empty files of `names`."""
    def build(path: Path, ctx: Ctx) -> None:
        path.mkdir()
        for name in names:
            (path / name).write_bytes(b"")
    return build


def fifo() -> Builder:
    """A named pipe nobody writes to: reading it would block for ever."""
    def build(path: Path, ctx: Ctx) -> None:
        os.mkfifo(path)
    return build


def symlink(target: str) -> Builder:
    def build(path: Path, ctx: Ctx) -> None:
        path.symlink_to(ctx.expand(target))
    return build


# ------------------------------------------------------------------------------------------ images
def image(width: int = 64, height: int = 64, mode: str = "RGB", color: Any = "grey", fmt: str | None = None,
          parameters: str | None = None, compress_text: bool = False, **save: Any) -> Builder:
    """A real image file made by Pillow; `parameters` goes into a PNG text chunk, as A1111 writes it."""
    def build(path: Path, ctx: Ctx) -> None:
        from PIL import Image
        from PIL.PngImagePlugin import PngInfo

        picture = Image.new(mode, (width, height), color)
        if parameters is not None:
            info = PngInfo()
            info.add_text("parameters", ctx.expand(parameters), zip=compress_text)
            save["pnginfo"] = info
        picture.save(path, format=fmt, **save)
    return build


def gradient_mask(width: int = 64, height: int = 64, alpha: int | None = 255) -> Builder:
    """A mask with a white square on black; with `alpha`, an RGBA file whose alpha is that everywhere."""
    def build(path: Path, ctx: Ctx) -> None:
        from PIL import Image, ImageDraw

        picture = Image.new("L", (width, height), 0)
        ImageDraw.Draw(picture).rectangle((width // 4, height // 4, width // 2, height // 2), fill=255)
        if alpha is not None:
            rgba = picture.convert("RGBA")
            rgba.putalpha(alpha)
            picture = rgba
        picture.save(path)
    return build


def painted_on_transparent_mask(width: int = 64, height: int = 64) -> Builder:
    """An RGBA mask whose area is in its alpha only (black everywhere, opaque in a square)."""
    def build(path: Path, ctx: Ctx) -> None:
        from PIL import Image, ImageDraw

        alpha = Image.new("L", (width, height), 0)
        ImageDraw.Draw(alpha).rectangle((width // 4, height // 4, width // 2, height // 2), fill=255)
        picture = Image.new("RGBA", (width, height), (0, 0, 0, 0))
        picture.putalpha(alpha)
        picture.save(path)
    return build


def animated_gif(frames: int = 3, width: int = 64, height: int = 64) -> Builder:
    def build(path: Path, ctx: Ctx) -> None:
        from PIL import Image

        pictures = [Image.new("RGB", (width, height), (40 * index, 90, 160)) for index in range(frames)]
        pictures[0].save(path, save_all=True, append_images=pictures[1:], duration=100, loop=0)
    return build


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def declared_png(width: int, height: int, before: bytes = b"", after: bytes = b"", color_type: int = 0) -> Builder:
    """A PNG whose header declares `width` x `height`, with only a token of image data (a bomb's shape)."""
    def build(path: Path, ctx: Ctx) -> None:
        header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + before
                         + png_chunk(b"IDAT", zlib.compress(b"\0" * 64)) + after + png_chunk(b"IEND", b""))
    return build


def text_chunk(value: str, kind: bytes = b"tEXt") -> bytes:
    """A `parameters` text chunk (tEXt as Latin-1 bytes, zTXt compressed)."""
    if kind == b"zTXt":
        return png_chunk(kind, b"parameters\0\0" + zlib.compress(value.encode("latin-1")))
    return png_chunk(kind, b"parameters\0" + value.encode("latin-1", "replace"))


def png_bytes(width: int = 64, height: int = 64, mode: str = "RGB") -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new(mode, (width, height), "grey").save(buffer, format="PNG")
    return buffer.getvalue()


def truncated_png(keep: int = 60) -> Builder:
    """A PNG cut short: its header reads, its pixels do not."""
    def build(path: Path, ctx: Ctx) -> None:
        path.write_bytes(png_bytes()[:keep])
    return build


def corrupt_idat_png() -> Builder:
    """A whole PNG whose image data has a flipped byte (and so a wrong checksum)."""
    def build(path: Path, ctx: Ctx) -> None:
        data = bytearray(png_bytes())
        start = data.index(b"IDAT") + 8
        data[start] ^= 0xFF
        path.write_bytes(bytes(data))
    return build


def text_chunk_bomb(kind: str = "zTXt", size: int = 20_000_000) -> Builder:
    """A PNG whose compressed `parameters` text expands to `size` characters from a few kB."""
    def build(path: Path, ctx: Ctx) -> None:
        from PIL import Image
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        bomb = A1111_TEXT + "x" * size
        if kind == "zTXt":
            info.add_text("parameters", bomb, zip=True)
        else:
            info.add_itxt("parameters", bomb, zip=True)
        Image.new("RGB", (8, 8)).save(path, pnginfo=info)
    return build


# ------------------------------------------------------------------------------------------ models
def safetensors(header: Any, data: bytes = b"\0" * 16, declared: int | None = None) -> Builder:
    """A `.safetensors` file with the given JSON header (any JSON value) and data after it."""
    def build(path: Path, ctx: Ctx) -> None:
        encoded = json.dumps(header).encode() if not isinstance(header, bytes) else header
        length = len(encoded) if declared is None else declared
        path.write_bytes(struct.pack("<Q", length) + encoded + data)
    return build


def _payload_pickle(marker: Path) -> bytes:
    return pickle.dumps({"state_dict": {"weight": RunsCode(f"touch {marker}")}}, protocol=2)


def unsafe_pickle(marker: str, zipped: bool = False) -> Builder:
    """A checkpoint whose pickle calls `os.system` (touching `marker`): legacy format, or torch's zip."""
    def build(path: Path, ctx: Ctx) -> None:
        payload = _payload_pickle(Path(ctx.expand(marker)))
        if not zipped:
            path.write_bytes(payload)
            return
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("archive/data.pkl", payload)
            archive.writestr("archive/version", "3\n")
    return build


def plain_pickle(value: Any) -> Builder:
    def build(path: Path, ctx: Ctx) -> None:
        path.write_bytes(pickle.dumps(value))
    return build


def tar_archive() -> Builder:
    def build(path: Path, ctx: Ctx) -> None:
        with tarfile.open(path, "w") as archive:
            info = tarfile.TarInfo("model/weights.bin")
            data = b"\0" * 64
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return build


def zip_of(names: dict[str, bytes]) -> Builder:
    def build(path: Path, ctx: Ctx) -> None:
        with zipfile.ZipFile(path, "w") as archive:
            for name, data in names.items():
                archive.writestr(name, data)
    return build


def copy_of(model: str) -> Builder:
    """A copy of a tiny model (a file with its sidecar config folder, or a diffusers folder)."""
    def build(path: Path, ctx: Ctx) -> None:
        import shutil

        source = ctx.model(model)
        if source.is_dir():
            shutil.copytree(source, path)
            return
        shutil.copy(source, path)
        sidecar = source.with_name(source.stem + ".config")
        if sidecar.is_dir():
            shutil.copytree(sidecar, path.with_name(path.stem + ".config"))
    return build


# ----------------------------------------------------------------------------------------- presets
PRESET_HEADER = "schema_version: 1\ntask: txt2img\n"


def preset(body: str = "", header: str = PRESET_HEADER) -> Builder:
    """A preset file: the usual header and `body` (YAML text, placeholders filled in)."""
    return text(header + body)


