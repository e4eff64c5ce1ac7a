"""`sdkit inspect IMAGE...`: print the generation parameters stored in sdkit or A1111 PNG files.

Thin: reading and parsing live in `sdkit.outputs.infotext`. Nothing here imports torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from sdkit.cli.console import message, out, plain, print_json
from sdkit.core.errors import UserInputError


def _record(path: Path, raw: bool) -> dict[str, Any]:
    from sdkit.outputs.infotext import parse_infotext, read_png_parameters

    text = read_png_parameters(path)
    parsed = parse_infotext(text)
    record: dict[str, Any] = {
        "file": str(path),
        "prompt": parsed.prompt,
        "negative_prompt": parsed.negative_prompt,
        "parameters": parsed.fields,
        "width": parsed.width,
        "height": parsed.height,
    }
    if raw:
        record["infotext"] = text
    return record


def _print_table(record: dict[str, Any]) -> None:
    # Everything shown comes from the file: `plain` keeps its markup, emoji codes and escape sequences
    # from acting on the terminal (`--json` has the exact text).
    table = Table(title=plain(record["file"]), title_justify="left", show_header=False)
    table.add_column("field", no_wrap=True, style="bold")
    table.add_column("value", overflow="fold")
    table.add_row("Prompt", plain(record["prompt"]))
    table.add_row("Negative prompt", plain(record["negative_prompt"]))
    for key, value in record["parameters"].items():
        table.add_row(plain(key), plain(value))
    out.print(table)
    if "infotext" in record:
        out.print(plain(record["infotext"]))


def _expand_folders(paths: list[Path]) -> list[Path]:
    expanded: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(child for child in path.iterdir() if child.suffix.lower() == ".png" and child.is_file())
            if not found:
                raise UserInputError(f"{path}: a folder with no PNG files in it", hint="name PNG files or a folder of them")
            expanded += found
        else:
            expanded.append(path)
    return expanded


def inspect_command(
    images: list[Path] = typer.Argument(..., help="PNG files written by sdkit or A1111, or folders of them.",
                                        show_default=False),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (a list, one object per file)."),
    raw: bool = typer.Option(False, "--raw", help="Also print the infotext exactly as stored."),
) -> None:
    """Print the generation parameters (prompt, sampler, seed, size, model, ...) stored in PNG files.

    A folder stands for the PNG files directly in it.
    """
    images = _expand_folders(images)
    records: list[dict[str, Any]] = []
    failures: list[UserInputError] = []
    for path in images:
        try:
            records.append(_record(path, raw))
        except UserInputError as error:
            if len(images) == 1:
                raise
            failures.append(error)
            records.append({"file": str(path), "error": error.message})
    if as_json:
        print_json(records)
    else:
        for record in records:
            if "error" in record:
                message("error", record["error"])
            else:
                _print_table(record)
    if failures:
        raise UserInputError(
            f"{len(failures)} of {len(images)} files have no readable generation parameters",
            hint=failures[0].hint,
        )


def register(app: typer.Typer) -> None:
    app.command("inspect")(inspect_command)
