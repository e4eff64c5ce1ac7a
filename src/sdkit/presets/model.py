"""The values the presets package hands out: a loaded `Preset`, a listed `PresetInfo`, and its errors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from sdkit.core.errors import UserInputError
from sdkit.core.tasks import Mode, Task

# Where a preset was found. A plugin's presets carry the plugin's distribution name instead.
SOURCE_USER = "user"
SOURCE_BUILTIN = "builtin"
SOURCE_FILE = "file"


@dataclass(frozen=True)
class Preset:
    """A validated preset in the current schema version (migrated if the file was older).

    `params` holds only what the preset sets; engine defaults fill the rest and flags override it.
    """

    name: str  # `txt2img/basic`, or the file path when it was given as a file
    source: str  # "user", a plugin's distribution name, "builtin" or "file"
    path: Path
    schema_version: int  # always the current version: the preset as sdkit uses it
    task: Task
    engine: str | None
    mode: Mode
    model: str | None
    description: str
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    migrated_from: int | None = None  # the file's schema_version when sdkit migrated it

    def effective(self) -> dict[str, Any]:
        """The preset as plain data in the current schema (what `presets show` prints)."""
        data: dict[str, Any] = {"schema_version": self.schema_version, "task": self.task.value}
        if self.engine is not None:
            data["engine"] = self.engine
        data["mode"] = self.mode.value
        if self.model is not None:
            data["model"] = self.model
        if self.description:
            data["description"] = self.description
        data["params"] = dict(self.params)
        return data


@dataclass(frozen=True)
class PresetInfo:
    """One line of `presets list`: the preset that wins for `name`, or why it cannot be read."""

    name: str
    source: str
    path: Path
    task: Task | None = None
    engine: str | None = None
    mode: Mode | None = None
    description: str = ""
    shadows: tuple[str, ...] = ()  # sources whose preset of the same name this one hides
    error: str | None = None  # set when the file is invalid; the other fields are then unknown

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "task": self.task.value if self.task else None,
            "engine": self.engine,
            "mode": self.mode.value if self.mode else None,
            "source": self.source,
            "description": self.description,
            "path": str(self.path),
            "shadows": list(self.shadows),
            "error": self.error,
        }


@dataclass(frozen=True)
class PresetProblem:
    """One thing wrong in a preset file."""

    field: str  # dotted key path, e.g. `params.steps`; "" for the file as a whole
    message: str
    line: int | None = None  # 1-based line in the file, where known
    hint: str | None = None

    def describe(self, path: Path | str) -> str:
        where = f"{path}:{self.line}" if self.line else str(path)
        text = f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text


# A message lists this many problems of one file; a file of thousands of wrong keys says how many more.
MAX_PROBLEMS_SHOWN = 20


class PresetError(UserInputError):
    """A preset file that cannot be used, with every problem found in it (`problems`; the message
    lists the first `MAX_PROBLEMS_SHOWN`)."""

    def __init__(self, path: Path | str, problems: list[PresetProblem], hint: str | None = None) -> None:
        self.path = Path(path)
        self.problems = problems
        count = len(problems)
        lines = [f"invalid preset {path} ({count} problem{'s' if count != 1 else ''}):"]
        lines += [f"  - {problem.describe(path)}" for problem in self.shown_problems]
        if self.more_problems:
            lines.append(f"  - … and {self.more_problems} more")
        super().__init__("\n".join(lines), hint or "fix the lines above; `sdkit presets schema` lists every "
                                                  "field a preset may have")

    @property
    def shown_problems(self) -> list[PresetProblem]:
        """The problems a message lists: the first `MAX_PROBLEMS_SHOWN`."""
        return self.problems[:MAX_PROBLEMS_SHOWN]

    @property
    def more_problems(self) -> int:
        """How many problems a message leaves out."""
        return max(0, len(self.problems) - MAX_PROBLEMS_SHOWN)
