"""An instant command line: each command imports its own module only, from a table that matches the modules.

No timings here (a busy machine would make them flaky): the tests check the mechanism instead, that is
what is imported, and that the table the root group lists commands from says what the modules register.
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import import_module

import pytest
import typer
import typer.main
from cli_helpers import run_sdkit
from typer.core import TyperGroup

from sdkit.cli import app as app_module
from sdkit.cli.lazy import module_exists

HEAVY = ("torch", "diffusers", "transformers", "PIL", "numpy", "pydantic", "yaml")


def _eager_group() -> TyperGroup:
    """The root's commands as the old eager registration built them: every module registered at once."""
    holder = typer.Typer(pretty_exceptions_enable=False, add_completion=False, rich_markup_mode=None)
    for module_name in app_module.COMMAND_MODULES:
        if module_exists(module_name):
            import_module(module_name).register(holder)
    return typer.main.get_group(holder)


def _first_paragraph(text: str) -> str:
    return " ".join(text.split("\n\n")[0].split())


def test_the_command_table_says_what_each_module_registers():
    slots = {slot.name: slot for slot in app_module.COMMAND_SLOTS}
    assert {slot.module for slot in slots.values()} <= set(app_module.COMMAND_MODULES)
    eager = _eager_group()
    for name, command in eager.commands.items():
        assert name in slots, f"{name!r} is registered but has no CommandSlot in sdkit.cli.app"
        slot = slots[name]
        described = (slot.group, slot.summary)
        registered = (isinstance(command, TyperGroup), _first_paragraph(command.help or ""))
        assert described == registered, f"update the CommandSlot of {name!r} in sdkit.cli.app"
        assert command.short_help is None and not command.hidden and not command.deprecated
    written = {slot.name for slot in slots.values() if module_exists(slot.module)}
    assert written == set(eager.commands), "a CommandSlot names a command its module does not register"


@pytest.mark.parametrize("width", [60, 80, 120])
def test_the_help_listing_equals_the_one_of_imported_commands(width):
    eager = _eager_group()
    lazy_root = typer.main.get_command(app_module.app)
    listings = []
    for group in (eager, lazy_root):
        context = group.context_class(group, info_name="sdkit", terminal_width=width, max_content_width=width)
        formatter = context.make_formatter()
        group.format_commands(context, formatter)
        listings.append(formatter.getvalue())
    assert listings[0] == listings[1] and "presets" in listings[0]
    assert lazy_root.list_commands(None) == list(eager.commands)


def _modules_after(*args: str) -> list[str]:
    """The modules a real `sdkit ARGS` process has imported when it ends."""
    code = (f"import sys, runpy; sys.argv = ['sdkit', *{list(args)!r}]\n"
            "try:\n    runpy.run_module('sdkit', run_name='__main__')\nexcept SystemExit: pass\n"
            "import json; print(json.dumps(sorted(sys.modules)))")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_presets_list_imports_its_own_command_and_nothing_heavy(sdkit_home):
    _modules_after("presets", "list")  # the first run writes the preset index
    loaded = _modules_after("presets", "list", "--task", "txt2img")
    assert [name for name in loaded if name.split(".")[0] in HEAVY] == []
    # The entry points come from the cache: no metadata scan, no email parser for names and versions.
    assert [name for name in loaded if name.split(".")[0] in ("importlib_metadata", "email")] == []
    commands = [name for name in loaded if name.startswith("sdkit.cli.") and name not in
                ("sdkit.cli.app", "sdkit.cli.console", "sdkit.cli.lazy")]
    assert commands == ["sdkit.cli.presets"]
    assert not any(name.startswith(("sdkit.presets.validate", "sdkit.presets.schema")) for name in loaded)


def test_unknown_commands_are_refused_as_before(capsys):
    result = run_sdkit(capsys, "presetz", "list")
    assert result.exit_code == 2
    assert "No such command 'presetz'. Did you mean 'presets'?" in result.stderr


def test_typed_values_are_still_converted_and_checked_by_typer(capsys, sdkit_home):
    # --steps is an int with bounds: it goes through Typer's own conversion, messages and all.
    result = run_sdkit(capsys, "prompt", "--steps", "abc", "a cat")
    assert result.exit_code == 2 and "Invalid value for '--steps'" in result.stderr
    assert "valid integer" in result.stderr
    result = run_sdkit(capsys, "prompt", "--steps", "0", "a cat")
    assert result.exit_code == 2 and "greater than or equal to 1" in result.stderr
    result = run_sdkit(capsys, "presets", "validate")
    assert result.exit_code == 2 and "Missing argument 'files'" in result.stderr
