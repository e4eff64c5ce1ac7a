"""What sdkit plugins are installed and whether each entry point loads (for `plugins list` and export-debug).

Entries are read from entry-point metadata through the registries. With `load=True` each winning entry
is loaded to learn whether it works; sdkit's own entries are import-light, but a third-party module may
import whatever it likes, so callers that must stay light pass `load=False`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from sdkit.registry import GROUPS, PLUGINS_ENV, Entry, PluginLoadError, normalize_distribution, registry

OK = "ok"
BROKEN = "broken"
DISABLED = "disabled"  # turned off by SDKIT_LOAD_PLUGINS
SHADOWED = "shadowed"  # another distribution registered the same key and won
UNCHECKED = "unchecked"  # listed without loading


@dataclass(frozen=True)
class EntryStatus:
    """One entry point of one distribution and whether it works."""

    group: str
    key: str
    target: str
    status: str
    detail: str | None = None  # the load error, or who shadows it, or why it is disabled

    def as_dict(self) -> dict[str, Any]:
        return {"group": self.group, "key": self.key, "target": self.target, "status": self.status,
                "detail": self.detail}


@dataclass
class DistributionStatus:
    """A distribution that provides sdkit entry points."""

    name: str
    version: str
    builtin: bool
    entries: list[EntryStatus] = field(default_factory=list)

    @property
    def status(self) -> str:
        return overall_status(self.entries)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "builtin": self.builtin, "status": self.status,
                "entry_points": [entry.as_dict() for entry in self.entries]}


def overall_status(entries: list[EntryStatus]) -> str:
    """broken if any entry is broken; disabled if all are; unchecked if not loaded; else ok."""
    statuses = {entry.status for entry in entries}
    if BROKEN in statuses:
        return BROKEN
    if statuses == {DISABLED}:
        return DISABLED
    if UNCHECKED in statuses:
        return UNCHECKED
    return OK


def _status_of_winner(group: str, entry: Entry, load: bool) -> EntryStatus:
    if not load:
        return EntryStatus(group, entry.key, entry.target, UNCHECKED)
    try:
        registry(group).get(entry.key)
    except PluginLoadError as error:
        cause = error.__cause__
        detail = f"{type(cause).__name__}: {cause}" if cause is not None else error.message
        return EntryStatus(group, entry.key, entry.target, BROKEN, detail)
    return EntryStatus(group, entry.key, entry.target, OK)


def plugin_inventory(load: bool = True) -> list[DistributionStatus]:
    """Every distribution with sdkit entry points, built-in first, then by name."""
    by_name: dict[str, DistributionStatus] = {}

    def add(entry: Entry, status: EntryStatus) -> None:
        marker = normalize_distribution(entry.distribution)
        if marker not in by_name:
            by_name[marker] = DistributionStatus(entry.distribution, entry.version, entry.builtin)
        by_name[marker].entries.append(status)

    for group in GROUPS:
        reg = registry(group)
        for entry in reg.entries().values():
            add(entry, _status_of_winner(group, entry, load))
        for collision in reg.collisions():
            for loser in collision.losers:
                add(loser, EntryStatus(group, loser.key, loser.target, SHADOWED,
                                       f"{collision.winner.source} registers {loser.key!r} too and wins"))
        for entry in reg.disabled():
            add(entry, EntryStatus(group, entry.key, entry.target, DISABLED, _disabled_reason()))
    return sorted(by_name.values(), key=lambda dist: (not dist.builtin, normalize_distribution(dist.name)))


def _disabled_reason() -> str:
    setting = os.environ.get(PLUGINS_ENV, "")
    if not setting.strip():
        return f"{PLUGINS_ENV} is empty, which turns off every third-party plugin"
    return f"not in {PLUGINS_ENV}={setting}"
