"""`sdkit models ...`: list the models sdkit can see and show what one reference resolves to.

Thin: the logic lives in `sdkit.models`; this module only prints. Describing models reads file headers,
pickle checkpoints' tables of tensors and configs only; nothing here imports torch.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from sdkit.cli.console import err, out, print_json

log = logging.getLogger(__name__)

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


PREDICTION_SHORT = {"epsilon": "eps", "v_prediction": "v"}


def _record(ref: Any, with_hash: bool) -> dict[str, Any]:
    from sdkit.models import model_short_hash

    record = ref.describe()
    record["short_hash"] = model_short_hash(ref) if with_hash else None
    record["unreadable"], record["problem"] = False, None
    return record


def _prediction(record: dict[str, Any]) -> str:
    if record["prediction_type"] is None:  # unreadable: nothing is known
        return ""
    value = PREDICTION_SHORT.get(record["prediction_type"], str(record["prediction_type"]))
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
    """List the models in the models folder and the local hub cache: name, family, format, size, hash.

    Files that look like models but cannot be read are listed too, marked unreadable, with the reason.
    """
    from sdkit.models import survey_models
    from sdkit.runtime.config import models_dir, models_dir_error

    folder_problem = models_dir_error()
    if folder_problem is not None:  # the hub cache may still have models: warn, and list those
        log.info("%s", folder_problem.message)
        err.print(f"[yellow]warning:[/] {escape(folder_problem.message)}", markup=True)
        err.print(f"[yellow]hint:[/] {escape(folder_problem.hint or '')}", markup=True)
    survey = survey_models()
    records = [_record(ref, with_hash) for ref in survey.models] + [item.describe() for item in survey.unreadable]
    records.sort(key=lambda record: (record["name"].lower(), record["location"]))
    if as_json:
        print_json(records)
        return
    directory = models_dir()
    if not records:
        missing = "" if directory.exists() else " (the folder does not exist)"
        err.print(f"no models found in {escape(str(directory))}{missing} or the local hub cache")
        err.print("put .safetensors checkpoints or diffusers folders there, or set SDKIT_MODELS_DIR")
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("name", no_wrap=True)  # what people copy into --model
    table.add_column("family", no_wrap=True)
    table.add_column("format", no_wrap=True)
    table.add_column("pred", no_wrap=True)
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("hash", no_wrap=True)
    table.add_column("where", overflow="fold", min_width=12)
    for record in records:
        if record["unreadable"]:
            family = "[red]unreadable[/]"
        else:
            family = record["family"] + (" inpaint" if record["inpainting"] else "")
        table.add_row(
            escape(record["name"]), family, escape(record["format"]), _prediction(record),
            _size(record["size_bytes"]), record.get("short_hash") or "", escape(_where(record["location"], directory)),
        )
    out.print(table)
    if any("prediction_type" in record["guessed"] for record in records):
        err.print("pred '?': guessed, because the model does not say (SD 2.x single files, folders whose "
                  "scheduler config has no prediction_type); `generate --prediction-type` sets it")
    for item in survey.unreadable:
        err.print(f"[red]unreadable:[/] {escape(item.problem)}", markup=True)
        if item.hint:
            err.print(f"  {escape(item.hint)}", markup=True)


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
            value = f"{value} (guessed: the model does not say; --prediction-type sets it)"
        out.print(f"{key}: {escape(str(value))}")


def register(app: typer.Typer) -> None:
    app.add_typer(models_app)
