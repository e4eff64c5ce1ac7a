"""`sdkit presets ...`: list, show, validate, compare and describe presets.

Thin: the logic lives in `sdkit.presets`; this module only prints. Nothing here imports torch, and
`presets list` imports neither yaml nor pydantic while the preset index is current.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.table import Table

from sdkit.cli.console import err, out, print_json
from sdkit.core.errors import SdkitError, UserInputError

if TYPE_CHECKING:
    from sdkit.presets import Preset

log = logging.getLogger(__name__)

presets_app = typer.Typer(
    name="presets",
    help="List, show, validate and compare presets (versioned YAML files of parameters).",
    no_args_is_help=True,
)


@presets_app.command("list")
def list_command(
    task: str = typer.Option(None, "--task", "-t", help="Only presets of this task."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List every preset: the user's, plugins' and the built-ins (the first source of a name wins)."""
    from sdkit.presets import list_presets

    if task:
        from sdkit.core.errors import UserInputError
        from sdkit.core.tasks import Task

        tasks = [known.value for known in Task]
        if task not in tasks:
            raise UserInputError(f"unknown task {task!r}", f"use one of {', '.join(tasks)}")
    infos = list_presets()
    if task:
        infos = [info for info in infos if info.task is not None and info.task.value == task]
    if as_json:
        print_json([info.to_dict() for info in infos])
        return
    if not infos:
        err.print("no presets found" + (f" for task {task}" if task else ""))
        return
    table = Table()
    # Names are what people copy into --preset, so they are never cut short.
    table.add_column("name", min_width=max(len(info.name) for info in infos), no_wrap=True)
    for column in ("task", "engine", "mode", "source"):
        table.add_column(column, no_wrap=True)
    table.add_column("description", min_width=20)
    for info in infos:
        source = info.source + "".join(f"\n(hides {hidden})" for hidden in info.shadows)
        if info.error is not None:
            table.add_row(escape(info.name), "[red]invalid[/]", "", "", escape(source), f"[red]{escape(info.error)}[/]")
            continue
        table.add_row(escape(info.name), info.task.value if info.task else "", escape(info.engine or "-"),
                      info.mode.value if info.mode else "", escape(source), escape(info.description))
    out.print(table)


@presets_app.command("show")
def show_command(
    name: str = typer.Argument(..., help="Preset name (txt2img/basic) or YAML file."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of YAML."),
) -> None:
    """Print a preset as sdkit uses it: validated and migrated to the current schema version."""
    import yaml

    from sdkit.presets.load import read_preset

    preset = read_preset(name)
    effective = preset.effective()
    if as_json:
        print_json(effective)
        return
    lines = [f"# preset {preset.name} from {preset.source}: {preset.path}"]
    if preset.migrated_from is not None:
        lines.append(f"# migrated from schema_version {preset.migrated_from}; save this output to update the file")
    text = yaml.safe_dump(effective, sort_keys=False, allow_unicode=True, default_flow_style=False)
    out.file.write("\n".join(lines) + "\n" + text)
    out.file.flush()


def _model_problem(preset: Preset) -> str | None:
    """Why the model the preset names cannot be used on this machine, or None.

    It is chosen as `generate` would choose it (the engine's own finder for upscalers, the model
    sources otherwise); diffusers folders and .safetensors files are known from their headers, without
    torch.
    """
    if preset.model is None:
        return None
    from sdkit.run.choose import choose

    try:
        choose(preset.task, preset.engine, preset.model)
    except SdkitError as error:  # a plugin's failure too: a warning must not stop the check of the rest
        return f"{error.message} ({error.hint})" if error.hint else error.message
    return None


@presets_app.command("validate")
def validate_command(
    files: list[str] = typer.Argument(..., help="Preset files (or names) to check."),
) -> None:
    """Check preset files; list every problem of each. Exit 0 when all are valid, 2 otherwise."""
    from sdkit.core.text import quoted
    from sdkit.presets import PresetError
    from sdkit.presets.load import read_preset
    from sdkit.registry import PIPELINES, registry

    installed_engines = set(registry(PIPELINES).names())  # entry-point metadata only: imports no engine
    invalid = 0
    for file in files:
        try:
            preset = read_preset(file)
        except PresetError as error:
            invalid += 1
            out.print(f"[red]invalid[/] {escape(file)}")
            for problem in error.problems:
                out.print(f"  - {escape(problem.describe(error.path))}")
            continue
        except UserInputError as error:  # an unknown name, or one that leaves its folder
            invalid += 1
            out.print(f"[red]invalid[/] {escape(file)}: {escape(error.message)}")
            continue
        note = ""
        if preset.migrated_from is not None:
            note = (f" (schema_version {preset.migrated_from}, migrated to {preset.schema_version}; "
                    f"`sdkit presets show {file}` prints the current form)")
        # Engines may come later from a plugin, so a missing one is a note, not an error.
        if preset.engine is not None and preset.engine not in installed_engines:
            note += f" (engine {quoted(preset.engine)} is not installed; `sdkit plugins list` shows the engines)"
        out.print(f"[green]ok[/] {escape(file)}{escape(note)}")
        # The model may be on the machine the preset is for, so a missing one is a warning, not an error.
        # Without the engine there is no telling how it finds its models.
        if preset.engine is None or preset.engine in installed_engines:
            problem = _model_problem(preset)
            if problem is not None:
                log.warning("%s: model %s is not usable here: %s", file, quoted(preset.model), problem)
    if invalid:
        raise UserInputError(f"{invalid} of {len(files)} preset{'s' if len(files) != 1 else ''} "
                             f"{'is' if invalid == 1 else 'are'} invalid",
                             "fix the problems listed above; `sdkit presets schema` lists every field")


def _cell(value: object) -> str:
    return "(unset)" if value is None else escape(json.dumps(value, ensure_ascii=False, default=str))


@presets_app.command("diff")
def diff_command(
    first: str = typer.Argument(..., help="Preset name or file."),
    second: str = typer.Argument(..., help="Preset name or file to compare with."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Show the fields two presets set differently (after migration to the current schema)."""
    from sdkit.presets import diff_presets
    from sdkit.presets.load import read_preset

    a, b = read_preset(first), read_preset(second)
    differences = diff_presets(a, b)
    if as_json:
        print_json([{"field": item.field, "a": item.a, "b": item.b} for item in differences])
        return
    if not differences:
        out.print(f"{escape(a.name)} and {escape(b.name)} set the same values")
        return
    table = Table("field", escape(a.name), escape(b.name))
    for item in differences:
        table.add_row(item.field, _cell(item.a), _cell(item.b))
    out.print(table)


@presets_app.command("schema")
def schema_command(
    output: Path = typer.Option(None, "--output", "-o", help="Write the schema to this file instead of stdout."),
) -> None:
    """Print the JSON Schema of preset files, for editors that autocomplete YAML."""
    from sdkit.presets.index import cached_json_schema

    schema = cached_json_schema()
    if output is None:
        print_json(schema)
        return
    try:
        output.write_text(json.dumps(schema, indent=2) + "\n", encoding="utf-8")
    except OSError as error:
        raise UserInputError(f"cannot write {output}: {error.strerror}", "choose a writable path") from None
    err.print(f"wrote {escape(str(output))}")


def register(app: typer.Typer) -> None:
    app.add_typer(presets_app, name="presets")
