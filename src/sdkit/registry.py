"""One small registry class over an entry-point group.

Listing reads entry-point metadata only and imports nothing; an object is imported when it is first
used. sdkit's own built-ins are ordinary entry points of the `sdkit-cli` distribution, so they go
through exactly the code paths a third-party plugin does.

Rules:
- An unknown key raises `UnknownKeyError` (a `KeyError`) naming the group and the closest keys.
- Two distributions registering one key: a third-party plugin wins over the built-in (so plugins can
  replace a built-in on purpose); between third parties the distribution whose name sorts first wins.
  Either way a warning names both, so there is never a silent winner.
- A plugin that fails to import or load is recorded as broken; only the commands that need it fail.
- `SDKIT_LOAD_PLUGINS` limits third-party plugins: unset loads all; empty loads none; a comma-separated
  list of distribution names loads only those. Built-ins are always loaded.

Reading the entry points of every installed distribution (and the name and version of the ones that
register sdkit groups) costs tens of milliseconds of every command; `sdkit.runtime.site_cache` keeps
the result in sdkit's cache folder for as long as the installed distributions are the same.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from importlib import import_module
from typing import Any

from sdkit.core.errors import RuntimeFailure, SdkitError, UnknownKeyError, closest_matches

log = logging.getLogger(__name__)

BUILTIN_DISTRIBUTION = "sdkit-cli"
PLUGINS_ENV = "SDKIT_LOAD_PLUGINS"

PIPELINES = "sdkit.pipelines"
SAMPLERS = "sdkit.samplers"
MODELS = "sdkit.models"
PRESETS = "sdkit.presets"
GROUPS = {PIPELINES: "engine", SAMPLERS: "sampler", MODELS: "model source", PRESETS: "preset set"}


def normalize_distribution(name: str) -> str:
    """PEP 503 normalisation, so `My_Plugin` and `my-plugin` are one distribution."""
    return re.sub(r"[-_.]+", "-", name).lower()


def allowed_plugins() -> set[str] | None:
    """Third-party distributions the user allows, or None for all of them."""
    setting = os.environ.get(PLUGINS_ENV)
    if setting is None:
        return None
    return {normalize_distribution(part.strip()) for part in setting.split(",") if part.strip()}


_checked_allow_list = False


def _warn_unknown_allowed(allowed: set[str]) -> None:
    """Warn (once per process) about names in SDKIT_LOAD_PLUGINS that no installed plugin has.

    A typo there silently turns off the plugin the user meant, so name the closest installed one.
    """
    global _checked_allow_list
    if _checked_allow_list:
        return
    _checked_allow_list = True
    installed = {normalize_distribution(entry.distribution) for entry in _installed_entries()}
    installed.discard(BUILTIN_DISTRIBUTION)
    for name in sorted(allowed - installed):
        suggestions = closest_matches(name, installed)
        hint = f"did you mean {', '.join(repr(s) for s in suggestions)}?" if suggestions else (
            f"installed plugins: {', '.join(sorted(installed))}" if installed else "no plugin is installed")
        warnings.warn(f"{PLUGINS_ENV} names {name!r}, which is not an installed sdkit plugin; {hint}",
                      PluginWarning, stacklevel=3)


class PluginWarning(UserWarning):
    """Two plugins registered the same key, or a plugin was skipped."""


class PluginLoadError(RuntimeFailure):
    """A plugin's entry point failed to import, or gave an object of the wrong shape."""


class PluginFailure(RuntimeFailure):
    """A plugin's object failed while sdkit used it (an engine drawing, a source loading)."""


@dataclass(frozen=True)
class Entry:
    """One registered key, as read from entry-point metadata (nothing imported)."""

    group: str
    key: str
    target: str  # "module:attribute"
    distribution: str
    version: str

    @property
    def builtin(self) -> bool:
        return normalize_distribution(self.distribution) == BUILTIN_DISTRIBUTION

    @property
    def source(self) -> str:
        return "built-in" if self.builtin else f"{self.distribution} {self.version}"


@dataclass(frozen=True)
class Collision:
    key: str
    winner: Entry
    losers: tuple[Entry, ...]


def _distribution_identity(dist: Any) -> tuple[str, str]:
    """Name and version of a distribution, even when its metadata is damaged.

    importlib_metadata raises KeyError for a METADATA file without `Name` or `Version`; one such
    half-installed package must not stop every command that lists a registry.
    """
    if dist is None:
        return "unknown", "?"
    try:
        name = dist.metadata["Name"]
    except KeyError:
        name = None
    if not name:
        folder = getattr(dist, "_path", None)
        name = folder.name.split("-")[0] if folder is not None else "unknown"
    try:
        version = dist.version or "?"
    except KeyError:
        version = "?"
    return name, version


_entries: list[Entry] | None = None  # every entry of sdkit's groups, read once per process (see reset_registries)


def scan_entry_points() -> list[Entry]:
    """Every entry point of sdkit's groups in the installed distributions, read from their metadata.

    One scan serves all four groups: each scan reads every distribution's entry points, and the name
    and version of each that registers one.
    """
    import importlib_metadata

    entry_points = importlib_metadata.entry_points()
    entries = []
    for group in GROUPS:
        seen: set[tuple[str, str]] = set()
        for entry_point in entry_points.select(group=group):
            dist_name, version = _distribution_identity(entry_point.dist)
            marker = (normalize_distribution(dist_name), entry_point.name)
            if marker in seen:  # the same distribution found twice on sys.path
                continue
            seen.add(marker)
            entries.append(Entry(group, entry_point.name, entry_point.value, dist_name, version))
    return entries


def _entry_rows(rows: Any) -> bool:
    """Whether cached data has the shape `_installed_entries` writes: rows of five strings."""
    return isinstance(rows, list) and all(
        isinstance(row, list) and len(row) == 5 and all(isinstance(part, str) for part in row) for row in rows)


def _installed_entries() -> list[Entry]:
    global _entries
    if _entries is None:
        from sdkit.runtime.site_cache import cached_scan

        def scan() -> list[list[str]]:
            return [[entry.group, entry.key, entry.target, entry.distribution, entry.version]
                    for entry in scan_entry_points()]

        _entries = [Entry(*row) for row in cached_scan("entry-points", scan, _entry_rows)]
    return _entries


def _read_group(group: str) -> list[Entry]:
    return [entry for entry in _installed_entries() if entry.group == group]


def _precedence(entry: Entry) -> tuple[int, str]:
    return (1 if entry.builtin else 0, normalize_distribution(entry.distribution))


class Registry:
    """The objects registered in one entry-point group, loaded lazily and cached."""

    def __init__(self, group: str, validate: Callable[[Any], None] | None = None) -> None:
        self.group = group
        self.kind = GROUPS.get(group, group)
        self._validate = validate
        self._loaded: dict[str, Any] = {}

    @cached_property
    def _resolution(self) -> tuple[dict[str, Entry], list[Collision], list[Entry]]:
        allowed = allowed_plugins()
        if allowed:
            _warn_unknown_allowed(allowed)
        by_key: dict[str, list[Entry]] = {}
        disabled: list[Entry] = []
        for entry in _read_group(self.group):
            turned_off = allowed is not None and normalize_distribution(entry.distribution) not in allowed
            if not entry.builtin and turned_off:
                disabled.append(entry)
                continue
            by_key.setdefault(entry.key, []).append(entry)
        chosen: dict[str, Entry] = {}
        collisions: list[Collision] = []
        for key, candidates in sorted(by_key.items()):
            ranked = sorted(candidates, key=_precedence)
            chosen[key] = ranked[0]
            if len(ranked) > 1:
                collision = Collision(key, ranked[0], tuple(ranked[1:]))
                collisions.append(collision)
                others = ", ".join(loser.source for loser in collision.losers)
                warnings.warn(
                    f"{self.kind} {key!r} is registered by {ranked[0].source} and by {others}; "
                    f"using {ranked[0].source}",
                    PluginWarning,
                    stacklevel=2,
                )
        return chosen, collisions, disabled

    def entries(self) -> dict[str, Entry]:
        """Registered keys and where they come from, without importing anything."""
        return self._resolution[0]

    def collisions(self) -> list[Collision]:
        return self._resolution[1]

    def disabled(self) -> list[Entry]:
        """Entries of third-party plugins that SDKIT_LOAD_PLUGINS turned off."""
        return self._resolution[2]

    def names(self) -> list[str]:
        return sorted(self.entries())

    def __contains__(self, key: object) -> bool:
        return key in self.entries()

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def entry(self, key: str) -> Entry:
        entries = self.entries()
        if key not in entries:
            raise UnknownKeyError(self.kind, key, entries)
        return entries[key]

    def get(self, key: str) -> Any:
        """The object registered under `key`, imported on first use."""
        if key in self._loaded:
            return self._loaded[key]
        entry = self.entry(key)
        try:
            obj = _load_target(entry)
            if self._validate is not None:
                self._validate(obj)
        except (Exception, SystemExit) as error:  # a plugin may raise anything while importing, even exit
            where = "sdkit itself" if entry.builtin else f"the plugin {entry.source}"
            raise PluginLoadError(
                f"{self.kind} {key!r} from {where} failed to load: {type(error).__name__}: {error}",
                hint=None if entry.builtin else (
                    f"update or uninstall {entry.distribution}, or leave it out with {PLUGINS_ENV}"
                ),
            ) from error
        log.debug("%s %r -> %s (from %s %s%s)", self.kind, key, entry.target, entry.distribution,
                  entry.version, ", built-in" if entry.builtin else "")
        self._loaded[key] = obj
        return obj

    def load_all(self) -> dict[str, Any | PluginLoadError]:
        """Every object, or the error that stopped it from loading (for `sdkit plugins list`)."""
        results: dict[str, Any | PluginLoadError] = {}
        for key in self.names():
            try:
                results[key] = self.get(key)
            except PluginLoadError as error:
                results[key] = error
        return results


# An entry point's object reference, `package.module:attribute.attribute` (the packaging spec's form).
_OBJECT_REFERENCE = re.compile(r"^\s*(?P<module>[\w.]+)\s*:\s*(?P<attributes>[\w.]+)\s*$")


def _load_target(entry: Entry) -> Any:
    """The object `entry.target` names: imported as importlib_metadata's `EntryPoint.load` does it.

    The plain `module:attribute` form is imported directly, which spares every command importing
    importlib_metadata; any other form (extras, a bare module) is left to importlib_metadata.
    """
    reference = _OBJECT_REFERENCE.match(entry.target)
    if reference is None:
        import importlib_metadata

        return importlib_metadata.EntryPoint(name=entry.key, value=entry.target, group=entry.group).load()
    obj = import_module(reference.group("module"))
    for attribute in reference.group("attributes").split("."):
        obj = getattr(obj, attribute)
    return obj


def plugin_hint(entry: Entry) -> str:
    """What to do about a plugin that fails."""
    return (f"the plugin's fault, not your input: update or uninstall {entry.distribution}, "
            f"or run without it: {PLUGINS_ENV}=<the plugins you want>")


@contextmanager
def plugin_calls(entry: Entry, doing: str) -> Iterator[None]:
    """Name the plugin when code it registered fails with an unexpected error while `doing` something.

    sdkit's own errors (bad input, a stop request) pass through unchanged, and so does any error of a
    built-in: that is a bug of sdkit's, reported as such by the CLI.
    """
    try:
        yield
    except SdkitError:
        raise
    except Exception as error:
        if entry.builtin:
            raise
        log.debug("%s %r from %s (%s) failed while %s", GROUPS.get(entry.group, entry.group), entry.key,
                  entry.source, entry.target, doing, exc_info=True)
        raise PluginFailure(
            f"{GROUPS.get(entry.group, entry.group)} {entry.key!r} from the plugin {entry.source} failed while "
            f"{doing}: {type(error).__name__}: {error}",
            plugin_hint(entry),
        ) from error


_registries: dict[str, Registry] = {}


def registry(group: str) -> Registry:
    """The process-wide registry of `group` (entry points are read once per process)."""
    if group not in _registries:
        _registries[group] = Registry(group, _LazyValidator(group))
    return _registries[group]


class _LazyValidator:
    """A group's shape check, imported on the first load: listing alone must not import the protocols
    (sdkit.models pulls in more than `plugins list --no-load` should pay for)."""

    def __init__(self, group: str) -> None:
        self.group = group

    def __call__(self, obj: Any) -> None:
        check = _validator(self.group)
        if check is not None:
            check(obj)


def _validator(group: str) -> Callable[[Any], None] | None:
    """The shape check for a group's objects (imported lazily: the protocols live with their users)."""
    if group == PIPELINES:
        from sdkit.core.engine import validate_engine

        return validate_engine
    if group == MODELS:
        from sdkit.core.models import validate_source

        return validate_source
    return None


def reset_registries() -> None:
    """Forget what was read, e.g. after a plugin was installed in a test."""
    global _entries, _checked_allow_list
    _registries.clear()
    _entries = None
    _checked_allow_list = False
