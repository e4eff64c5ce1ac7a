"""The root `sdkit` command: global flags, command groups and the one place errors become exit codes.

A command's module is imported only when that command runs (or its own help is asked for): the
root group lists every command from `COMMAND_SLOTS`, a table of names and short helps
(`sdkit.cli.lazy`), so `sdkit presets list` pays for the presets code alone. Still, no command module
may import torch or diffusers at module level.
"""

from __future__ import annotations

import logging
import sys
import warnings
from gettext import gettext
from typing import Any

import typer
from rich.text import Text
from typer.core import TyperGroup

from sdkit import __version__
from sdkit.cli.console import err, message, plain
from sdkit.cli.lazy import CommandSlot, LazyCommands, skip_identity_conversions
from sdkit.core.errors import SdkitError
from sdkit.runtime.logs import clear_context, log_failure, log_usage_error, setup_logging

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
    "sdkit.cli.prompt",
    "sdkit.cli.batch",
    "sdkit.cli.serve",
    "sdkit.cli.ui",
]

# What each module registers, so `sdkit --help` and the dispatch to a command need no imports. A module
# listed above without rows here still works (imported whenever the command list is needed);
# tests/cli/test_startup.py checks that these rows match what each existing module registers.
COMMAND_SLOTS = [
    CommandSlot("generate", "sdkit.cli.generate", False, "Make images: txt2img, img2img, inpaint or upscale."),
    CommandSlot("presets", "sdkit.cli.presets", True,
                "List, show, validate and compare presets (versioned YAML files of parameters)."),
    CommandSlot("samplers", "sdkit.cli.samplers", True,
                "Samplers and schedule types, in A1111, ComfyUI and diffusers vocabulary."),
    CommandSlot("models", "sdkit.cli.models", True,
                "Models: what is in the models folder and the local hub cache, and what a --model value means."),
    CommandSlot("inspect", "sdkit.cli.inspect", False,
                "Print the generation parameters (prompt, sampler, seed, size, model, ...) stored in PNG files."),
    CommandSlot("plugins", "sdkit.cli.plugins", True, "Installed plugins and sdkit's built-ins."),
    CommandSlot("benchmark", "sdkit.cli.benchmark", True,
                "Time generation on this machine, and sdkit's cost over plain diffusers on the same job."),
    CommandSlot("export-debug", "sdkit.cli.export_debug", False,
                "Write a zip with what a bug report needs: system, packages, plugins, config, last preset, logs."),
    CommandSlot("prompt", "sdkit.cli.prompt", False,
                "Show how sdkit reads a prompt: weights, 75-token chunks, embeddings, LoRA tags and scheduled parts."),
    CommandSlot("batch", "sdkit.cli.batch", False,
                "Run a job file: sweeps, seed ranges, wildcards; one model load per model; resumable."),
    CommandSlot("serve", "sdkit.cli.serve", False,
                "Serve image generation over HTTP: A1111's /sdapi/v1 API, sdkit's /v1 jobs, OpenAPI docs at /docs."),
    CommandSlot("ui", "sdkit.cli.ui", False,
                "Open the web UI: txt2img, img2img, inpaint, upscale, presets and PNG info in the browser."),
]

_options = {"debug": False}
# Click's base of usage errors. Newer typer releases vendor Click, older ones use the click package: the
# class is found through typer.BadParameter, which every release has.
_CLICK_ERROR = next(cls for cls in typer.BadParameter.__mro__ if cls.__name__ == "ClickException")
# The arguments of the command line being run, for the log record of a usage error.
_arguments: list[str] = []


class _RootGroup(TyperGroup):
    """The root command group; Click's own usage errors (`--seed abc`) reach the log file too.

    Click still prints them and exits 2; this only records the command line and the error first. They
    come from parsing the root's options (`make_context`) or a command's (inside `invoke`).

    Its commands are `LazyCommands`: each command module is imported when its command is looked up.
    """

    def __init__(self, **attributes: Any) -> None:
        super().__init__(**attributes)
        self.commands = LazyCommands(COMMAND_MODULES, COMMAND_SLOTS, _command_holder)
        skip_identity_conversions(self, subcommands=False)  # the commands get theirs when they are loaded

    def list_commands(self, ctx: Any) -> list[str]:
        return self.commands.names()

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        # TyperGroup's listing, with each short help from the table instead of the imported command.
        names = [name for name in self.list_commands(ctx) if not self.commands.summary(name).hidden]
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = [(name, self.commands.summary(name).get_short_help_str(limit)) for name in names]
        with formatter.section(gettext("Commands")):
            formatter.write_dl(rows)

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except _CLICK_ERROR as error:
            _log_usage_error(error)
            raise

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except _CLICK_ERROR as error:
            _log_usage_error(error)
            raise


def _log_usage_error(error: Any) -> None:
    if type(error).__name__ == "NoArgsIsHelpError":  # plain `sdkit`: help was asked for, not an error
        return
    log_usage_error(_arguments, error.format_message())


app = typer.Typer(
    name="sdkit",
    cls=_RootGroup,
    help="Stable Diffusion image generation from the command line: txt2img, img2img, inpaint, upscale.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Plain click help: typer's rich help pulls in markdown-it and pygments, ~50 ms of the 0.25 s budget.
    rich_markup_mode=None,
)


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


def _show_warning(warning: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: object = None, line: str | None = None) -> None:
    """Warnings reach the console as one `warning: ...` line (and the log), not as source locations.

    They go through logging, so they look exactly like sdkit's own logged warnings.
    """
    warnings_log = logging.getLogger("sdkit.warnings")
    warnings_log.debug("%s at %s:%s", category.__name__, filename, lineno)
    warnings_log.warning("%s", warning)


def _command_holder() -> typer.Typer:
    """A Typer app with the root's settings, for a command module to register onto when it is imported."""
    return typer.Typer(pretty_exceptions_enable=False, add_completion=False, rich_markup_mode=None)


def _log_location() -> str:
    from sdkit.runtime.paths import paths

    return str(paths().log_file)


def _interrupted(error: BaseException) -> bool:
    """Whether a KeyboardInterrupt is among the causes of `error`."""
    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; turn sdkit errors into a message, a hint and an exit code."""
    _options["debug"] = False
    clear_context()  # a command run before this one in the same process must not colour this one's log entries
    _arguments[:] = sys.argv[1:] if argv is None else argv
    try:
        app(args=argv, prog_name="sdkit")
    except SdkitError as error:
        log_failure(error)
        if _options["debug"]:
            raise
        message("error", error.message)
        if error.hint:
            message("hint", error.hint)
        if error.exit_code != 2:
            err.print(plain(f"details are in the log: {_log_location()}"))
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except SystemExit as leaving:
        # Typer turns a Ctrl-C (or SIGTERM, see __main__) inside any command into a silent exit 130;
        # say what happened, as for every other way a command ends.
        if leaving.code == 130 and _interrupted(leaving):
            logging.getLogger("sdkit").info("interrupted (Ctrl-C or SIGTERM); exit 130")
            err.print("interrupted")
        raise
    except Exception as error:  # a bug or an unexpected failure: short message, details in the log
        log_failure(error)
        if _options["debug"]:
            raise
        err.print(Text.assemble(("sdkit failed:", "bold red"), " ", plain(f"{type(error).__name__}: {error}")))
        err.print(plain(f"details are in the log: {_log_location()}; rerun with --debug to see the traceback"))
        sys.exit(1)
