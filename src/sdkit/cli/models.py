"""`sdkit models ...`: list the models sdkit can see and show what one reference resolves to.

Thin: the logic lives in `sdkit.models`; this module only prints. Describing models reads file headers
and configs only; nothing here imports torch unless a pickle checkpoint has to be inspected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from sdkit.cli.console import err, out, print_json

models_app = typer.Typer(
    name="models",
    help="Models: what is in the models folder and the local hub cache, and what a --model value means.",
    no_args_is_help=True,
)


def _size(size_bytes: int) -> str:
    value = float(size_bytes)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def _record(ref: Any, with_hash: bool) -> dict[str, Any]:
    from sdkit.models import model_short_hash

    record = ref.describe()
    record["short_hash"] = model_short_hash(ref) if with_hash else None
    return record


def _prediction(record: dict[str, Any]) -> str:
    value = "v" if record["prediction_type"] == "v_prediction" else "eps"
    return value + "?" if "prediction_type" in record["guessed"] else value  # "?": guessed, not read


def _where(location: str, directory: Path) -> str:
    """The location relative to the models folder when it is inside it (shorter, and unique)."""
    path = Path(location)
    try:
        return str(path.relative_to(directory)) + ("/" if path.is_dir() else "")
    except ValueError:
        return location


@models_app.command("list")
def list_command(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    with_hash: bool = typer.Option(True, "--hash/--no-hash",
                                   help="Show the A1111 short hash (hashed once per file, then cached)."),
) -> None:
    """List the models in the models folder and the local hub cache: name, family, format, size, hash."""
    from sdkit.models import list_models
    from sdkit.runtime.config import models_dir

    refs = list_models()
    records = [_record(ref, with_hash) for ref in refs]
    if as_json:
        print_json(records)
        return
    if not records:
        err.print(f"no models found in {escape(str(models_dir()))} or the local hub cache")
        err.print("put .safetensors checkpoints or diffusers folders there, or set SDKIT_MODELS_DIR")
        return
    directory = models_dir()
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("name", no_wrap=True)  # what people copy into --model
    table.add_column("family", no_wrap=True)
    table.add_column("format", no_wrap=True)
    table.add_column("pred", no_wrap=True)
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("hash", no_wrap=True)
    table.add_column("where", overflow="fold", min_width=12)
    for record in records:
        family = record["family"] + (" inpaint" if record["inpainting"] else "")
        table.add_row(
            escape(record["name"]), family, record["format"], _prediction(record), _size(record["size_bytes"]),
            record["short_hash"] or "", escape(_where(record["location"], directory)),
        )
    out.print(table)
    if any("prediction_type" in record["guessed"] for record in records):
        err.print("pred '?': guessed from the family (SD 2.x files do not say whether they are v-prediction)")


@models_app.command("show")
def show_command(
    model: str = typer.Argument(..., help="A path, a models-folder name or a hub id, as for --model."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
) -> None:
    """Show what a --model value resolves to: source, family, inpainting, prediction type, hash."""
    from sdkit.models import resolve_model

    record = _record(resolve_model(model), with_hash=True)
    if as_json:
        print_json(record)
        return
    for key in ("name", "location", "source", "format", "family", "inpainting", "prediction_type",
                "size_bytes", "short_hash"):
        value = record[key]
        if key == "prediction_type" and "prediction_type" in record["guessed"]:
            value = f"{value} (guessed from the family; the weights cannot tell)"
        out.print(f"{key}: {escape(str(value))}")


def register(app: typer.Typer) -> None:
    app.add_typer(models_app)
