"""A command group whose commands are imported only when one of them is run or asked for.

`sdkit presets list` should pay for the presets code and nothing else, so the root group knows each
command's name, module and short help from a static table (`CommandSlot`s, kept in `sdkit.cli.app`)
and imports a command's module when Click asks for that command. The help listing is built from the
table, with Click's own shortening rule, so it reads exactly as if every command had been imported.

A command module defines `register(app)`, as before: it registers onto a throwaway Typer app whose
settings match the root's, and the Click command Typer builds from it is the one that runs.

Typer (0.29) converts every option value through a pydantic `TypeAdapter` it builds on first use,
even an unset `--task` (None); importing pydantic for that is a third of `presets list`. So the values
whose conversion is the identity (an unset option, a text option given text) skip it
(`_PlainValues`); any other value goes through Typer's own conversion, messages and all.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from dataclasses import dataclass
from importlib import import_module
from typing import Any, get_args, get_origin

import typer
import typer.main
from typer.core import TyperCommand


@dataclass(frozen=True)
class CommandSlot:
    """One command of the root group, as `sdkit --help` lists it, without importing its module."""

    name: str
    module: str  # the module whose `register(app)` adds it
    group: bool  # a command group (`app.add_typer`) rather than a single command (`app.command`)
    summary: str  # the first paragraph of its help; `sdkit --help` shortens it to fit


def module_exists(module_name: str) -> bool:
    """Whether the module can be found (a command group not written yet cannot), without importing it."""
    try:
        return importlib.util.find_spec(module_name) is not None
    except (ImportError, ValueError):
        return False


def _import_command_module(module_name: str) -> Any | None:
    try:
        return import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name == module_name:  # a command group not written yet
            return None
        raise


def commands_of(module_name: str, make_holder: Callable[[], typer.Typer]) -> dict[str, Any]:
    """The Click commands that `module_name`'s `register(app)` adds, by name, in registration order.

    Empty when the module does not exist. Typer puts single commands before command groups, which is
    also the order `sdkit --help` shows them in.
    """
    module = _import_command_module(module_name)
    if module is None:
        return {}
    holder = make_holder()
    module.register(holder)
    commands = dict(typer.main.get_group(holder).commands)
    for command in commands.values():
        skip_identity_conversions(command)
    return commands


class _PlainValues:
    """Typer's value conversion for one parameter, skipped where it would hand the value back unchanged.

    Typer's own conversion: a `None` stays `None` (`()` for a parameter taking many), and a `str`
    (or `list[str]`) parameter given text returns that text. Those cases are answered here; any other
    value builds Typer's converter (and imports pydantic) and goes through it.
    """

    def __init__(self, text: bool, text_list: bool) -> None:
        self.text = text
        self.text_list = text_list

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        many = param.multiple or param.nargs == -1
        if value is None:
            return () if many else None
        if self.text and not many and isinstance(value, str):
            return value
        if self.text_list and many and isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            return list(value)
        param._runtime_param = None  # Typer's own converter, built now and kept for later values
        return param.get_runtime_param().coerce(value, param=param, ctx=ctx)


def skip_identity_conversions(command: Any, *, subcommands: bool = True) -> None:
    """Put a `_PlainValues` before Typer's conversion of each parameter of `command` (and its subcommands).

    Click makes the `--help` option of a command when a context first asks for it, so that one is
    wrapped as it is made.
    """
    for param in getattr(command, "params", ()):
        _plain_values_for(param)
    make_help_option = getattr(command, "get_help_option", None)
    if make_help_option is not None:
        def get_help_option(ctx: Any) -> Any:
            option = make_help_option(ctx)
            if option is not None:
                _plain_values_for(option)
            return option

        command.get_help_option = get_help_option
    for subcommand in getattr(command, "commands", {}).values() if subcommands else ():
        skip_identity_conversions(subcommand)


def _plain_values_for(param: Any) -> None:
    descriptor = getattr(param, "type_descriptor", None)
    # Only parameters shaped as Typer 0.29 makes them, with no converter yet; on another Typer, nothing.
    if descriptor is None or getattr(param, "_runtime_param", False) is not None:
        return
    annotation = descriptor.annotation
    plain = getattr(descriptor.parameter_info, "parser", None) is None and descriptor.file_annotation is None
    text = plain and annotation is str
    text_list = plain and get_origin(annotation) is list and get_args(annotation) == (str,)
    param._runtime_param = _PlainValues(text, text_list)


class LazyCommands(MutableMapping):
    """The root group's `commands`: names come from the table, each command is imported on first use.

    Modules listed without a table row (a new command group nobody has described yet) are imported
    the first time the names are needed, so they still appear; only their laziness is lost.
    """

    def __init__(self, modules: Sequence[str], slots: Sequence[CommandSlot],
                 make_holder: Callable[[], typer.Typer]) -> None:
        self._modules = list(modules)
        self._slots = {slot.name: slot for slot in slots}
        self._make_holder = make_holder
        self._loaded: dict[str, Any] = {}
        self._listed: list[tuple[str, bool]] | None = None  # (name, is a group), in module order

    def _listing(self) -> list[tuple[str, bool]]:
        if self._listed is None:
            listed: list[tuple[str, bool]] = []
            described = {slot.module for slot in self._slots.values()}
            for module_name in self._modules:
                if module_name in described:
                    if module_exists(module_name):
                        listed += [(slot.name, slot.group) for slot in self._slots.values()
                                   if slot.module == module_name]
                    continue
                for name, command in commands_of(module_name, self._make_holder).items():
                    self._loaded[name] = command
                    listed.append((name, isinstance(command, typer.core.TyperGroup)))
            self._listed = listed
        return self._listed

    def names(self) -> list[str]:
        """Every command name in the order `sdkit --help` lists them: single commands, then groups."""
        listed = self._listing()
        ordered = [name for name, group in listed if not group] + [name for name, group in listed if group]
        return ordered + [name for name in self._loaded if name not in ordered]

    def summary(self, name: str) -> Any:
        """Something with Click's `get_short_help_str`: the command itself if loaded, else its table row."""
        if name in self._loaded:
            return self._loaded[name]
        return TyperCommand(name=name, help=self._slots[name].summary)

    def __getitem__(self, name: str) -> Any:
        if name in self._loaded:
            return self._loaded[name]
        slot = self._slots.get(name)
        if slot is None:
            raise KeyError(name)
        for loaded_name, command in commands_of(slot.module, self._make_holder).items():
            self._loaded.setdefault(loaded_name, command)
        if name not in self._loaded:
            raise KeyError(name)
        return self._loaded[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        del self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def __contains__(self, name: object) -> bool:
        return name in self._loaded or name in self.names()
