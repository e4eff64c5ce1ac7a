"""Entry in `sdkit.models`: the `solid` model source, for references like `solid:red` or `solid:#ff8800`.

A model source recognises reference strings (`describe`), lists what it can offer (`list_available`)
and loads components (`load_components`). This one has no weights: its "models" are colours of the
family `solid`, which only the solid-colour engine serves, so sdkit never hands one to a Stable
Diffusion engine.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sdkit.plugin import ModelRef, UnknownKeyError, UserInputError

from .colours import PALETTE, parse_colour

PREFIX = "solid:"
FAMILY = "solid"  # a family of this plugin's own; engines say which families they serve


class SolidColourSource:
    kind = "solid"

    def describe(self, reference: str) -> ModelRef | None:
        # sdkit offers every --model string to plugin sources first: answer None quickly if not ours.
        if not reference.startswith(PREFIX):
            return None
        colour = reference[len(PREFIX):].strip()
        if parse_colour(colour) is None:
            raise UnknownKeyError("solid colour", colour, PALETTE,
                                  hint=f"use {PREFIX}NAME with one of: {', '.join(PALETTE)}, or {PREFIX}#rrggbb")
        return _ref(colour)

    def list_available(self, models_dir: Path) -> Iterable[ModelRef]:
        return [_ref(name) for name in PALETTE]

    def load_components(self, ref: ModelRef, torch_dtype: Any = None) -> dict[str, Any]:
        raise UserInputError(f"{ref.name} is a colour for the solid-colour engine, not a Stable Diffusion model",
                             "add --engine solid-colour")


def _ref(colour: str) -> ModelRef:
    name = f"{PREFIX}{colour.lower()}"
    return ModelRef(name=name, location=name, source="solid", format="solid-colour", family=FAMILY)


SOURCE = SolidColourSource()
