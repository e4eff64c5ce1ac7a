"""What a case of the bad-input corpus is, and the context it runs in.

A `Case` is data: the command line, the files it builds first, the exit code it must end with and the
words its message must contain. Arguments, environment values and words may name places with
placeholders, filled in per test:

- `{in}`: the folder the case's files are built in (`files={"x.png": builder}` makes `{in}/x.png`;
  `{x.png}` is short for it);
- `{out}`: an output folder that must be empty (or missing) when the command ends;
- `{cwd}`: the working folder of the command, which must stay empty too;
- `{tmp}`, `{home}` (SDKIT_HOME), `{models}` (SDKIT_MODELS_DIR, not created unless a case does);
- tiny models with random weights, built once per session: `{sd1}`, `{sd2}`, `{sdxl}` and
  `{sd1_inpaint}` (diffusers folders), `{sd1_file}` (an LDM `.safetensors` with its sidecar config),
  `{x4}` (a one-block x4 Real-ESRGAN `.pth`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# name -> (fixture, arguments)
MODELS: dict[str, tuple[str, tuple[Any, ...]]] = {
    "sd1": ("tiny_pipeline_dir", ("sd1",)),
    "sd2": ("tiny_pipeline_dir", ("sd2",)),
    "sdxl": ("tiny_pipeline_dir", ("sdxl",)),
    "sd1_inpaint": ("tiny_pipeline_dir", ("sd1", True)),
    "sd1_file": ("tiny_single_file", ("sd1",)),
    "x4": ("tiny_upscaler", ()),
}

_PLACEHOLDER = re.compile(r"\{([\w.-]+)\}")


class Ctx:
    """Where one case runs: its folders, its tiny models and pytest's helpers."""

    def __init__(self, tmp: Path, home: Path, request: Any, monkeypatch: Any) -> None:
        self.tmp = tmp
        self.home = home
        self.inputs = tmp / "in"
        self.out = tmp / "out"
        self.cwd = tmp / "cwd"
        self.models = tmp / "models"  # what the suite's conftest points SDKIT_MODELS_DIR at
        self.request = request
        self.monkeypatch = monkeypatch
        self.inputs.mkdir()
        self.cwd.mkdir()
        self.used_models: set[str] = set()

    @property
    def log_file(self) -> Path:
        return self.home / "logs" / "sdkit.log"

    def model(self, name: str) -> Path:
        fixture, arguments = MODELS[name]
        self.used_models.add(name)
        return self.request.getfixturevalue(fixture)(*arguments)

    def value(self, key: str) -> str | None:
        fixed = {"in": self.inputs, "out": self.out, "cwd": self.cwd, "tmp": self.tmp, "home": self.home,
                 "models": self.models}
        if key in fixed:
            return str(fixed[key])
        if key in MODELS:
            return str(self.model(key))
        candidate = self.inputs / key
        if "." in key and (candidate.exists() or candidate.is_symlink()):
            return str(candidate)
        return None

    def expand(self, text: str) -> str:
        """`text` with every known `{placeholder}` filled in; other braces are left as they are."""
        def fill(match: re.Match[str]) -> str:
            value = self.value(match.group(1))
            return match.group(0) if value is None else value

        return _PLACEHOLDER.sub(fill, text)


Builder = Callable[[Path, Ctx], object]
"""Writes one input file at the given path (its folder exists)."""


@dataclass(frozen=True)
class Case:
    """One bad input: the command, what it builds first, and how sdkit must answer."""

    id: str
    args: tuple[str, ...]
    code: int
    words: tuple[str, ...]  # in the console output, whitespace ignored (rich wraps long lines)
    files: Mapping[str, Builder] = field(default_factory=dict)
    env: Mapping[str, str | None] = field(default_factory=dict)  # None: unset
    setup: Callable[[Ctx], None] | None = None  # anything beyond files: mounts, models in the models folder
    log: tuple[str, ...] | None = None  # in the log file; default: the first of `words`
    hint: str = "hint:"  # how the console shows the hint of a bad input (Click's own: "Try 'sdkit ... --help'")
    stdout: tuple[str, ...] = ()  # in stdout itself (data commands)
    absent: tuple[str, ...] = ()  # paths that must not exist afterwards (payloads that must not run)
    not_words: tuple[str, ...] = ()  # must not be in the output
    kept: int | tuple[int, int] = 0  # complete files left in {out} (a surprise that still makes its image;
    # (fewest, most) where a stop keeps the images finished so far)
    process: bool = False  # run as a real process (signals, mounts in a namespace)
    signals: tuple[int, ...] = ()  # sent, 50 ms apart, once stderr shows `after`
    after: str = ""
    max_output: int = 20_000  # characters: nothing from the input is quoted at length
    time_limit: float = 10.0  # seconds the command may take (for signal cases: from the signal to the exit)

    def __post_init__(self) -> None:
        assert self.words, f"{self.id}: a case must say which words name the bad thing"
        assert self.code in (0, 1, 2, 130), self.id


def case(id: str, *args: str, code: int = 2, words: tuple[str, ...] | str, **options: Any) -> Case:
    """A `Case`, written compactly: the arguments as they are typed, `words` a tuple or one string."""
    return Case(id=id, args=tuple(args), code=code, words=(words,) if isinstance(words, str) else tuple(words),
                **options)


def flat(text: str) -> str:
    """Text without whitespace: the console wraps long messages, and folds long paths, at its width."""
    return "".join(text.split())
