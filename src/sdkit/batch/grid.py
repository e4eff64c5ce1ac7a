"""Comparison grids of a batch (`--grid x=sampler,y=cfg_scale`), laid out as A1111's X/Y/Z plot.

One grid per combination of the parameters that are not on an axis (`z=` puts one more parameter
among those, so it gets one grid per value): columns are the x values, rows the y values, in the
order the job file gives them. The x labels make a row above the images, the y labels a column to
their left, and a legend below names the fixed values. The grid is a PNG beside the images, with its
own infotext: the first image's, plus which parameter each axis shows and its values. A cell whose
image failed stays blank. A grid is named after what it shows, so a rerun that made nothing new
leaves it alone; after new images a new grid is written next to the old one (nothing is overwritten).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sdkit.batch.expand import Item
from sdkit.batch.jobs import job_keys
from sdkit.core.errors import UnknownKeyError, UserInputError

AXES = ("x", "y", "z")
FONT_FILES = ("DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
PADDING = 6


def parse_grid(text: str) -> dict[str, str]:
    """`x=sampler,y=cfg_scale[,z=steps]` as {axis: parameter}; a `UserInputError` for anything else."""
    hint = "write --grid x=PARAMETER,y=PARAMETER (y and z optional), e.g. --grid x=sampler,y=cfg_scale"
    axes: dict[str, str] = {}
    for part in text.split(","):
        axis, equals, name = (piece.strip() for piece in part.partition("="))
        if not equals or axis not in AXES or not name:
            raise UserInputError(f"--grid {text!r}: {part.strip()!r} is not AXIS=PARAMETER with AXIS x, y or z", hint)
        if name not in job_keys() or name == "count":
            raise UnknownKeyError("grid parameter", name, job_keys() - {"count"}, hint)
        axes[axis] = name
    if "x" not in axes or len(set(axes.values())) != len(axes):
        raise UserInputError(f"--grid {text!r} needs an x axis, and each parameter on one axis only", hint)
    return axes


@dataclass(frozen=True)
class Layout:
    """Where everything of one grid goes, in pixels."""

    cell: tuple[int, int]  # the images' size
    column_width: int  # at least the cell's width; wider where an x label is wider
    min_width: int  # the legend's width
    left: int  # width of the y label column
    top: int  # height of the x label row
    legend: int  # height of the legend below
    columns: int
    rows: int

    @property
    def size(self) -> tuple[int, int]:
        width = max(self.left + self.columns * self.column_width, self.min_width)
        return width, self.top + self.rows * self.cell[1] + self.legend

    def cell_box(self, column: int, row: int) -> tuple[int, int, int, int]:
        """Where the image of (column, row) goes: centred in its column."""
        x = self.left + column * self.column_width + (self.column_width - self.cell[0]) // 2
        y = self.top + row * self.cell[1]
        return x, y, x + self.cell[0], y + self.cell[1]


def _font(height: int) -> Any:
    from PIL import ImageFont

    size = max(12, height // 6)
    for name in FONT_FILES:
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default()


def _text_size(font: Any, text: str) -> tuple[int, int]:
    left, top, right, bottom = font.getbbox(text or " ")
    return right - left, bottom - top


# Axis labels as A1111's X/Y/Z plot writes them: "CFG Scale: 7"; a sampler, model or prompt stands alone.
_AXIS_NAMES = {"cfg_scale": "CFG Scale", "steps": "Steps", "seed": "Seed", "schedule": "Schedule type",
               "strength": "Denoising", "width": "Width", "height": "Height", "clip_skip": "Clip skip"}
_BARE_AXES = {"sampler", "model", "prompt", "negative_prompt"}


def _value_label(name: str | None, value: Any) -> str:
    if name is None or name in _BARE_AXES:
        return str(value)
    return f"{_AXIS_NAMES.get(name, name.replace('_', ' ').capitalize())}: {value}"


def _ordered(values: list[Any]) -> list[Any]:
    seen: list[Any] = []
    for value in values:
        if value not in seen:
            seen.append(value)
    return seen


def make_grids(items: list[Item], done: dict[str, str], folder: Path, axes: dict[str, str],
               made: set[str]) -> list[Path]:
    """Write one grid per group of items; `done` maps job keys to files, `made` the keys made this run."""
    groups: dict[str, list[Item]] = {}
    shown = {axes["x"], axes.get("y")}
    for item in items:
        fixed = {key: value for key, value in {**item.run, **item.params}.items() if key not in shown}
        groups.setdefault(json.dumps(fixed, sort_keys=True, default=str), []).append(item)
    written = []
    for group_key, group in groups.items():
        path = _write_grid(group, json.loads(group_key), done, folder, axes, made)
        if path is not None:
            written.append(path)
    return written


def _value(item: Item, name: str | None) -> Any:
    if name is None:
        return None
    return {**item.run, **item.params}.get(name)


def _write_grid(group: list[Item], fixed: dict[str, Any], done: dict[str, str], folder: Path,
                axes: dict[str, str], made: set[str]) -> Path | None:
    from PIL import Image, ImageDraw

    files = [done.get(item.key) for item in group]
    if not any(files):
        return None
    name = "grid-" + hashlib.sha256(json.dumps([i.key for i in group]).encode()).hexdigest()[:12]
    if (folder / f"{name}.png").exists() and not any(item.key in made for item in group):
        return None  # nothing new since the grid was drawn
    x_values = _ordered([_value(item, axes["x"]) for item in group])
    y_values = _ordered([_value(item, axes.get("y")) for item in group])
    with Image.open(folder / next(file for file in files if file)) as first:
        cell, first_text = first.size, first.info.get("parameters", "")
    font = _font(cell[1])
    line_height = _text_size(font, "Ag")[1] + PADDING
    legend_lines = [f"{key}: {value}" for key, value in fixed.items()]
    x_labels = [_value_label(axes["x"], value) for value in x_values]
    y_labels = [_value_label(axes.get("y"), value) for value in y_values]
    left = 0 if "y" not in axes else max(_text_size(font, label)[0] for label in y_labels) + 2 * PADDING
    column_width = max([cell[0], *(_text_size(font, label)[0] + 2 * PADDING for label in x_labels)])
    min_width = max([0, *(_text_size(font, line)[0] + 2 * PADDING for line in legend_lines)])
    legend_height = line_height * len(legend_lines) + PADDING
    layout = Layout(cell, column_width, min_width, left, line_height + PADDING, legend_height,
                    len(x_values), len(y_values))
    grid = Image.new("RGB", layout.size, "white")
    draw = ImageDraw.Draw(grid)
    for column, label in enumerate(x_labels):
        box = layout.cell_box(column, 0)
        draw.text(((box[0] + box[2] - _text_size(font, label)[0]) // 2, PADDING // 2), label, fill="black", font=font)
    for row, label in enumerate(y_labels):
        if "y" in axes:
            box = layout.cell_box(0, row)
            draw.text((PADDING, (box[1] + box[3] - line_height) // 2), label, fill="black", font=font)
    for item, file in zip(group, files, strict=True):
        if file:
            column, row = x_values.index(_value(item, axes["x"])), y_values.index(_value(item, axes.get("y")))
            with Image.open(folder / file) as image:
                grid.paste(image.convert("RGB"), layout.cell_box(column, row)[:2])
    for number, line in enumerate(legend_lines):
        draw.text((PADDING, layout.size[1] - layout.legend + number * line_height), line, fill="dimgray", font=font)
    return _save(grid, folder, name, first_text, axes, x_values, y_values, layout)


def _save(grid: Any, folder: Path, name: str, first_text: str, axes: dict[str, str], x_values: list[Any],
          y_values: list[Any], layout: Layout) -> Path:
    from PIL.PngImagePlugin import PngInfo

    from sdkit.files.atomic import create_first_free

    axis_fields = f", X Type: {axes['x']}, X Values: \"{', '.join(map(str, x_values))}\""
    if "y" in axes:
        axis_fields += f", Y Type: {axes['y']}, Y Values: \"{', '.join(map(str, y_values))}\""
    info = PngInfo()
    info.add_text("parameters", first_text + axis_fields)
    # Where each cell is, for tools that cut a grid back into its images.
    info.add_text("sdkit-grid", json.dumps({"axes": axes, "columns": x_values, "rows": y_values, "cell": layout.cell,
                                            "column_width": layout.column_width, "left": layout.left,
                                            "top": layout.top}, default=str))

    def write(stream: Any) -> None:
        grid.save(stream, format="PNG", pnginfo=info)

    names = [f"{name}.png", *(f"{name}-{number}.png" for number in range(2, 10_000))]
    return create_first_free(folder, names, write)
