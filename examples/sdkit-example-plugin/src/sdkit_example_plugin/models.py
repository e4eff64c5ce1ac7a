"""Entry in `sdkit.models`: the `solid` model source, for references like `solid:red` or `solid:#ff8800`.

A model source recognises reference strings (`describe`), lists what it can offer (`list_available`)
and loads components (`load_components`). This one has no weights: its "models" are colours for the
solid-colour engine, so loading components for a Stable Diffusion engine is refused with a hint.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sdkit.core.errors import UnknownKeyError, UserInputError
from sdkit.models.base import Family, ModelRef

from .colours import PALETTE, parse_colour

PREFIX = "solid:"


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
    # `family` is required by ModelRef; a colour has none, so it carries SD1 and is never loaded as one.
    return ModelRef(name=f"{PREFIX}{colour.lower()}", location=f"{PREFIX}{colour.lower()}", source="solid",
                    format="solid-colour", family=Family.SD1)


def colour_of_model(model: Any) -> tuple[int, int, int] | None:
    """The colour of a `solid:` reference (a ModelRef or the plain string), else None."""
    text = str(getattr(model, "location", model) or "")
    return parse_colour(text[len(PREFIX):]) if text.startswith(PREFIX) else None


SOURCE = SolidColourSource()
