"""What a look through the model sources found: the usable models, and the files that cannot be used and why.

A broken or foreign file in the models folder must not hide the rest of the folder, and must not vanish
without a word either: `sdkit models list` shows it as unreadable, with the reason that
`generate --model` would give for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sdkit.core.models import ModelRef


@dataclass(frozen=True)
class UnreadableModel:
    """A file or folder that looks like a model (by its name or layout) but cannot be read as one."""

    name: str  # what `--model NAME` would be
    location: Path
    source: str  # the source kind that found it
    format: str  # "safetensors", "ckpt", "diffusers", ...
    problem: str  # the error's message, which names the file and what is wrong with it
    hint: str | None = None  # what was expected, what to do
    size_bytes: int = 0

    def describe(self) -> dict[str, Any]:
        """Plain data for `--json`: the same keys as a model's, with nothing that could not be read."""
        return {
            "name": self.name, "location": str(self.location), "source": self.source, "format": self.format,
            "family": None, "inpainting": None, "prediction_type": None, "size_bytes": self.size_bytes,
            "guessed": [], "unreadable": True, "problem": self.problem, "hint": self.hint,
        }


@dataclass(frozen=True)
class ModelSurvey:
    """Everything the sources can see: the models, sorted by name, and what could not be read."""

    models: list[ModelRef] = field(default_factory=list)
    unreadable: list[UnreadableModel] = field(default_factory=list)
