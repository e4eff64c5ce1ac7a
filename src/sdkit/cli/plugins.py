"""`sdkit plugins list`: the distributions that provide sdkit entry points and whether each one works.

By default each entry point is loaded to learn whether it works: sdkit's own entries are import-light
(a test proves `plugins list` imports no torch), while a third-party module may import whatever it
likes. `--no-load` lists from package metadata alone, importing nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.table import Table
from rich.text import Text

from sdkit.cli.console import err, out, print_json
from sdkit.runtime.logs import command_context

if TYPE_CHECKING:  # the inventory reads package metadata: imported only when the command runs
    from sdkit.debug.inventory import EntryStatus

_STATUS_STYLE = {"ok": "green", "broken": "bold red", "disabled": "yellow", "shadowed": "yellow",
                 "unchecked": "dim"}


def list_plugins(
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
    load: bool = typer.Option(
        True, "--load/--no-load",
        help="Load each entry point to show whether it works (default), or only read package metadata.",
    ),
) -> None:
    """List sdkit's built-ins and installed plugins: version, entry points, status (ok, broken, disabled)."""
    from sdkit.debug.inventory import overall_status, plugin_inventory

    with command_context("plugins list"):
        distributions = plugin_inventory(load=load)
    if as_json:
        print_json([dist.as_dict() for dist in distributions])
        return
    table = Table(title="sdkit plugins", title_justify="left")
    table.add_column("distribution", no_wrap=True)
    table.add_column("version", no_wrap=True)
    table.add_column("group", no_wrap=True)
    table.add_column("keys", overflow="fold", ratio=1)
    table.add_column("status", no_wrap=True)
    problems: list[str] = []
    for dist in distributions:
        groups: dict[str, list[EntryStatus]] = {}
        for entry in dist.entries:
            groups.setdefault(entry.group, []).append(entry)
            if entry.status != "ok" and entry.detail:
                problems.append(f"{dist.name}: {entry.group} {entry.key!r} is {entry.status}: {entry.detail}")
        for index, (group, entries) in enumerate(groups.items()):
            first = index == 0
            status = overall_status(entries)
            name = Text(dist.name)
            if dist.builtin:
                name.append("\n(built-in)", style="dim")
            table.add_row(
                name if first else "",
                Text(dist.version) if first else "",
                Text(group.removeprefix("sdkit.")),
                _keys_text(entries),
                Text(status, style=_STATUS_STYLE.get(status, "")),
                end_section=index == len(groups) - 1,
            )
    out.print(table)
    if not distributions:
        err.print("no distribution provides sdkit entry points; is sdkit installed?")
    for line in problems:
        err.print(Text(line))
    if not load:
        err.print("entry points were not loaded (--no-load); run without it to check that they work")


def _keys_text(entries: list[EntryStatus]) -> Text:
    """Keys joined by commas; a key whose status differs from ok carries it, in its colour."""
    text = Text()
    for index, entry in enumerate(entries):
        if index:
            text.append(", ")
        text.append(entry.key)
        if entry.status != "ok":
            text.append(f" ({entry.status})", style=_STATUS_STYLE.get(entry.status, ""))
    return text


def register(app: typer.Typer) -> None:
    plugins_app = typer.Typer(help="Installed plugins and sdkit's built-ins.", no_args_is_help=True)
    plugins_app.command("list")(list_plugins)
    app.add_typer(plugins_app, name="plugins")
