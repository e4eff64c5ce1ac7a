"""`sdkit samplers ...`: list samplers and schedule types, and show what a sampler name resolves to.

Thin: the logic lives in `sdkit.samplers`; this module only prints. Nothing here imports torch.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from sdkit.cli.console import err, out, print_json

samplers_app = typer.Typer(
    name="samplers",
    help="Samplers and schedule types, in A1111, ComfyUI and diffusers vocabulary.",
    no_args_is_help=True,
)


def _sampler_record(sampler_id: str) -> dict[str, Any]:
    from sdkit.samplers import sampler_table
    from sdkit.samplers.builtin import COMFYUI_SAMPLERS

    table = sampler_table()
    spec = table.samplers[sampler_id]
    return {
        "id": spec.id,
        "display_name": spec.display_name,
        "aliases": table.aliases(sampler_id),
        "default_schedule": spec.default_schedule,
        "schedule_types": list(spec.schedule_types),
        "supported": spec.supported,  # diffusers runs it (under diffusers' names, or "diffusers:<name>")
        "a1111_method": spec.a1111_faithful,  # its A1111 name runs A1111's own method (sdkit.sampling)
        "comfyui_method": spec.id in COMFYUI_SAMPLERS,  # its id (ComfyUI's name) runs ComfyUI's method
        "nearest": spec.nearest,
        "stochastic": spec.stochastic,
        "scheduler_class": spec.scheduler_class,
        "scheduler_kwargs": dict(spec.scheduler_kwargs),
        "source": table.sources[sampler_id],
        "notes": spec.notes,
    }


@samplers_app.command("list")
def list_command(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    supported_only: bool = typer.Option(False, "--supported", help="Leave out samplers sdkit cannot run."),
) -> None:
    """List every sampler: id, A1111 name, aliases, default and supported schedule types."""
    from sdkit.samplers import sampler_table

    records = [_sampler_record(sampler_id) for sampler_id in sampler_table().samplers]
    if supported_only:
        records = [record for record in records
                   if record["supported"] or record["a1111_method"] or record["comfyui_method"]]
    if as_json:
        print_json(records)
        return
    # Skipped plugin entries were already reported as warnings while the table was built.
    table = Table()
    table.add_column("id", no_wrap=True)  # ids are what people copy into --sampler
    table.add_column("display name", no_wrap=True)
    table.add_column("aliases", min_width=16, overflow="fold")
    table.add_column("default schedule", no_wrap=True)
    table.add_column("schedule types", min_width=16, overflow="fold")
    for record in records:
        if record["supported"]:
            status = record["default_schedule"]
            schedules = ", ".join(record["schedule_types"])
        elif record["a1111_method"] or record["comfyui_method"]:
            status = record["default_schedule"]
            names = [f"--sampler {record['display_name']!r}"] * record["a1111_method"]
            names += [f"--sampler {record['id']}"] * record["comfyui_method"]
            schedules = "no diffusers twin: " + " or ".join(names)
        else:
            status = "[red]unsupported[/]"
            schedules = f"use {record['nearest']} instead"
        source = "" if record["source"] == "built-in" else f"\n({record['source']})"
        marked = record["display_name"] + (" *" if record["a1111_method"] else "")
        marked_id = record["id"] + (" +" if record["comfyui_method"] else "")
        table.add_row(escape(marked_id), escape(marked) + escape(source),
                      escape(", ".join(record["aliases"])), status, escape(schedules))
    out.print(table)
    err.print("automatic (the default) keeps the model's own scheduler; a schedule type of automatic "
              "means the sampler's default schedule")
    err.print("* the display name (A1111's, any case, or a k_ alias) runs A1111's own method; + the id "
              "(ComfyUI's name) runs ComfyUI's; diffusers class names and diffusers:<name> run diffusers' "
              "scheduler, as do unmarked ids (docs/samplers.md)")
    err.print("schedule types: ComfyUI's names take ComfyUI's schedulers (default normal), A1111's names "
              "A1111's, diffusers' the ones listed")


@samplers_app.command("schedules")
def schedules_command(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List schedule types (A1111's "Schedule type", ComfyUI's scheduler) and their diffusers settings."""
    from sdkit.samplers import SCHEDULES

    records = [{
        "id": schedule.id, "label": schedule.label, "aliases": list(schedule.aliases),
        "supported": schedule.supported, "nearest": schedule.nearest,
        "sigmas_flag": schedule.sigmas_flag, "timestep_spacing": schedule.spacing,
    } for schedule in SCHEDULES]
    if as_json:
        print_json(records)
        return
    table = Table()
    table.add_column("id", no_wrap=True, min_width=max(len(record["id"]) for record in records))
    table.add_column("label", no_wrap=True)
    table.add_column("aliases", overflow="fold")
    table.add_column("diffusers settings", overflow="fold")
    for record in records:
        if record["id"] == "automatic":
            settings = "the sampler's default schedule"
        elif not record["supported"]:
            settings = f"[red]unsupported[/]: use {record['nearest']} instead"
        else:
            parts = [f"{record['sigmas_flag']}=True"] if record["sigmas_flag"] else []
            parts += [f"timestep_spacing={record['timestep_spacing']!r}"] if record["timestep_spacing"] else []
            settings = escape(", ".join(parts) or "the model's own timestep spacing")
        table.add_row(record["id"], escape(record["label"]), escape(", ".join(record["aliases"])), settings)
    out.print(table)


@samplers_app.command("show")
def show_command(
    name: str = typer.Argument(..., help="Any sampler name: dpmpp_2m, \"DPM++ 2M Karras\", k_euler_a, ..."),
    schedule: str = typer.Option(None, "--schedule", help="Schedule type (Karras, exponential, ...)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show what a sampler name (and schedule type) resolves to, and how sdkit writes it in infotext."""
    from sdkit.samplers import a1111_names, resolve_sampler

    resolved = resolve_sampler(name, schedule)
    if resolved.spec is None:
        record: dict[str, Any] = {"id": "automatic", "schedule": resolved.schedule,
                                  "meaning": "keep the model's own scheduler"}
    else:
        from sdkit.samplers.recorded import COMFYUI_SAMPLER_KEY, COMFYUI_SCHEDULER_KEY

        sampler_label, schedule_label = a1111_names(resolved)
        infotext = {"Sampler": sampler_label, "Schedule type": schedule_label}
        if resolved.comfyui_sampling:
            computed_by = "sdkit.sampling, as ComfyUI computes it"
            infotext.update({COMFYUI_SAMPLER_KEY: resolved.id, COMFYUI_SCHEDULER_KEY: resolved.schedule})
        elif resolved.a1111_sampling:
            computed_by = "sdkit.sampling, as A1111 computes it"
        else:
            computed_by = f"diffusers' {resolved.spec.scheduler_class}"
        record = {**_sampler_record(resolved.spec.id), "schedule": resolved.schedule, "computed_by": computed_by,
                  "infotext": infotext}
    if as_json:
        print_json(record)
        return
    table = Table(show_header=False)
    table.add_column("field", no_wrap=True)
    table.add_column("value")
    for key, value in record.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v!r}" if key == "scheduler_kwargs" else f"{k}: {v}" for k, v in value.items())
        elif isinstance(value, list):
            value = ", ".join(map(str, value))
        table.add_row(key, escape("" if value is None else str(value)))
    out.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(samplers_app, name="samplers")
