"""The root `sdkit` command: global flags, command groups and the one place errors become exit codes.

Command modules are imported here, so none of them may import torch or diffusers at module level:
`sdkit --help` must stay fast.
"""

from __future__ import annotations

import logging
import sys
import warnings
from importlib import import_module

import typer
from rich.markup import escape

from sdkit import __version__
from sdkit.cli.console import err
from sdkit.core.errors import SdkitError
from sdkit.runtime.logs import log_failure, setup_logging

# Each module defines `register(app)`; the order is the order in `sdkit --help`.
COMMAND_MODULES = [
    "sdkit.cli.generate",
    "sdkit.cli.presets",
    "sdkit.cli.samplers",
    "sdkit.cli.models",
    "sdkit.cli.inspect",
    "sdkit.cli.plugins",
    "sdkit.cli.benchmark",
    "sdkit.cli.export_debug",
]

app = typer.Typer(
    name="sdkit",
    help="Stable Diffusion image generation from the command line: txt2img, img2img, inpaint, upscale.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Plain click help: typer's rich help pulls in markdown-it and pygments, ~50 ms of the 0.25 s budget.
    rich_markup_mode=None,
)

_options = {"debug": False}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"sdkit {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks and debug logs on the console."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show informational logs on the console."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    _options["debug"] = debug
    if not debug:
        # Deprecation chatter from the ML libraries is for their developers, not for sdkit's users.
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"(diffusers|transformers|torch)\b")
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"(diffusers|transformers|torch)\b")
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    setup_logging(level)
    warnings.showwarning = _show_warning


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: object = None, line: str | None = None) -> None:
    """Warnings reach the console as one plain line (and the log), not as source locations."""
    text = str(message)
    logging.getLogger("sdkit.warnings").debug("%s: %s (%s:%s)", category.__name__, text, filename, lineno)
    err.print(f"[yellow]warning:[/] {escape(text)}", markup=True, highlight=False)


def _register_commands() -> None:
    for module_name in COMMAND_MODULES:
        try:
            module = import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name == module_name:  # a command group not written yet
                continue
            raise
        module.register(app)


_register_commands()


def _log_location() -> str:
    from sdkit.runtime.paths import paths

    return str(paths().log_file)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; turn sdkit errors into a message, a hint and an exit code."""
    try:
        app(args=argv, prog_name="sdkit")
    except SdkitError as error:
        log_failure(error)
        if _options["debug"]:
            raise
        err.print(f"[bold red]error:[/] {escape(error.message)}", markup=True, highlight=False)
        if error.hint:
            err.print(f"[yellow]hint:[/] {escape(error.hint)}", markup=True, highlight=False)
        if error.exit_code != 2:
            err.print(f"details are in the log: {_log_location()}")
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as error:  # a bug or an unexpected failure: short message, details in the log
        log_failure(error)
        if _options["debug"]:
            raise
        err.print(f"[bold red]sdkit failed:[/] {type(error).__name__}: {escape(str(error))}", markup=True,
                  highlight=False)
        err.print(f"details are in the log: {_log_location()}; rerun with --debug to see the traceback")
        sys.exit(1)
