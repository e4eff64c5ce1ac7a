"""`sdkit export-debug`: write a redacted zip of facts for a bug report and tell the user where it is."""

from __future__ import annotations

from pathlib import Path

import typer

from sdkit.cli.console import err, message, out, plain
from sdkit.runtime.logs import command_context


def export_debug(
    output: str | None = typer.Option(
        None, "--output", "-o",
        help="Zip file to write (must not exist) or a folder for it. Default: a new timestamped file here.",
    ),
) -> None:
    """Write a zip with what a bug report needs: system, packages, plugins, config, last preset, logs.

    User names, secret-looking settings and tokens are removed; model files and images are never included.
    """
    from sdkit.core.errors import UserInputError
    from sdkit.debug.bundle import export_debug_bundle

    if output is not None and not output.strip():
        # '' (an unset shell variable) would otherwise mean the current folder, which the user did not say
        raise UserInputError("the output path is empty (-o '')",
                             "pass -o FILE.zip or -o FOLDER, or leave -o out for a new file in the current folder")
    with command_context("export-debug"):
        err.print("collecting system facts, packages, plugins and logs…")
        result = export_debug_bundle(Path(output) if output is not None else None)
    redactions = sum(item["count"] for item in result.manifest["redactions"])
    for note in result.manifest["notes"]:
        message("note", note)
    err.print(f"wrote {len(result.manifest['files'])} files, {redactions} redaction(s); "
              "see manifest.json inside for what is in it")
    out.print(plain(str(result.path)))
    err.print("Please attach this file to your bug report. It holds no model files or images; user names, "
              "tokens and secret-looking settings were removed, but look inside before you share it if unsure.")


def register(app: typer.Typer) -> None:
    app.command("export-debug")(export_debug)
