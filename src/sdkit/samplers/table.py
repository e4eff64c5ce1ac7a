"""The process-wide sampler table: every sampler and alias from the `sdkit.samplers` registry.

Built once per registry (tests reset the registries; the table follows). A plugin entry that fails to
load or has the wrong shape is skipped with a warning and recorded in `problems`; it never stops sdkit.
"""

from __future__ import annotations

import logging
import re
import warnings
from dataclasses import dataclass, field

from sdkit.registry import SAMPLERS, PluginLoadError, PluginWarning, Registry, registry
from sdkit.samplers.builtin import BUILTIN_SAMPLERS, SCHEDULES
from sdkit.samplers.spec import SamplerAlias, SamplerSpec, ScheduleSpec

log = logging.getLogger(__name__)


def name_key(name: str) -> str:
    """The form names are compared in: case, spaces, underscores and hyphens do not matter."""
    return re.sub(r"[\s_\-]+", "", name.strip().lower())


@dataclass
class SamplerTable:
    """Samplers by id (built-ins first, in their order), every spelling that finds one, and schedules."""

    samplers: dict[str, SamplerSpec] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # id -> "built-in" or "dist version"
    plugin_aliases: dict[str, list[str]] = field(default_factory=dict)  # id -> names added by plugins
    problems: list[str] = field(default_factory=list)  # plugin entries that were skipped, and why
    _by_key: dict[str, str] = field(default_factory=dict)

    def find(self, name: str) -> SamplerSpec | None:
        sampler_id = self._by_key.get(name_key(name))
        return self.samplers[sampler_id] if sampler_id is not None else None

    def aliases(self, sampler_id: str) -> list[str]:
        """Every other name of a sampler: its own aliases, then those plugins added."""
        return [*self.samplers[sampler_id].aliases, *self.plugin_aliases.get(sampler_id, [])]

    def spellings(self) -> list[str]:
        """Every id, display name and alias (for did-you-mean suggestions)."""
        names: list[str] = []
        for sampler_id, spec in self.samplers.items():
            names += [sampler_id, spec.display_name, *self.aliases(sampler_id)]
        return names

    def _claim(self, name: str, sampler_id: str, source: str) -> bool:
        key = name_key(name)
        owner = self._by_key.get(key)
        if owner is not None and owner != sampler_id:
            message = f"sampler name {name!r} from {source} is already taken by {owner!r}; ignored"
            self.problems.append(message)
            warnings.warn(message, PluginWarning, stacklevel=3)
            return False
        self._by_key[key] = sampler_id
        return True

    def add_sampler(self, spec: SamplerSpec, source: str) -> None:
        replaced = self.samplers.get(spec.id)
        if replaced is not None:  # a plugin's spec overrides the built-in: forget the old names
            self._by_key = {key: owner for key, owner in self._by_key.items() if owner != spec.id}
        self.samplers[spec.id] = spec
        self.sources[spec.id] = source
        for name in (spec.id, spec.display_name, *spec.aliases):
            self._claim(name, spec.id, source)

    def add_alias(self, alias: SamplerAlias, source: str) -> None:
        target = self.find(alias.target)
        if target is None:
            message = f"alias {', '.join(alias.names)} from {source} points at unknown sampler {alias.target!r}"
            self.problems.append(message)
            warnings.warn(message, PluginWarning, stacklevel=3)
            return
        for name in alias.names:
            if self._claim(name, target.id, source):
                self.plugin_aliases.setdefault(target.id, []).append(name)


def build_table(reg: Registry) -> SamplerTable:
    """Read every entry of the samplers registry into a table; skip (and record) broken ones."""
    table = SamplerTable()
    loaded = reg.load_all()
    entries = reg.entries()
    builtin_ids = {spec.id for spec in BUILTIN_SAMPLERS}
    if not builtin_ids & set(entries):
        # An install whose metadata predates the sampler entry points: keep the built-ins working.
        log.warning("sdkit's built-in samplers are not registered (stale install?); using them directly")
        for spec in BUILTIN_SAMPLERS:
            table.add_sampler(spec, "built-in")
    specs: list[tuple[str, SamplerSpec, str]] = []
    aliases: list[tuple[SamplerAlias, str]] = []
    for key, obj in loaded.items():
        source = entries[key].source
        if isinstance(obj, PluginLoadError):
            table.problems.append(obj.message)
            warnings.warn(obj.message, PluginWarning, stacklevel=2)
        elif isinstance(obj, SamplerSpec):
            if obj.id != key:
                message = f"sampler entry {key!r} from {source} holds a spec with id {obj.id!r}; ignored"
                table.problems.append(message)
                warnings.warn(message, PluginWarning, stacklevel=2)
                continue
            unknown = sorted(set(obj.schedule_types) - {schedule.id for schedule in SCHEDULES})
            if unknown:
                message = f"sampler {key!r} from {source} names unknown schedule types {unknown}; ignored"
                table.problems.append(message)
                warnings.warn(message, PluginWarning, stacklevel=2)
                continue
            specs.append((key, obj, source))
        elif isinstance(obj, SamplerAlias):
            aliases.append((obj, source))
        else:
            message = (f"sampler entry {key!r} from {source} is a {type(obj).__name__}, "
                       "not a SamplerSpec or SamplerAlias; ignored")
            table.problems.append(message)
            warnings.warn(message, PluginWarning, stacklevel=2)
    # Built-ins claim their names first, so a plugin can never take "Euler" away from euler.
    order = {spec.id: index for index, spec in enumerate(BUILTIN_SAMPLERS)}
    specs.sort(key=lambda item: (item[2] != "built-in", order.get(item[0], len(order)), item[0]))
    for _key, spec, source in specs:
        table.add_sampler(spec, source)
    for alias, source in aliases:
        table.add_alias(alias, source)
    return table


_cache: dict[int, tuple[Registry, SamplerTable]] = {}


def sampler_table() -> SamplerTable:
    """The table for the current samplers registry (rebuilt after `reset_registries`)."""
    reg = registry(SAMPLERS)
    cached = _cache.get(0)
    if cached is None or cached[0] is not reg:
        _cache[0] = (reg, build_table(reg))
    return _cache[0][1]


SCHEDULE_BY_KEY: dict[str, ScheduleSpec] = {
    name_key(name): schedule for schedule in SCHEDULES for name in schedule.names
}


def find_schedule(name: str) -> ScheduleSpec | None:
    return SCHEDULE_BY_KEY.get(name_key(name))
