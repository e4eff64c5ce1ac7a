"""Entry in `sdkit.pipelines`: `solid-colour`, a txt2img engine that fills each image with one colour.

It shows the whole `sdkit.engines.base.Engine` contract at its cheapest: no torch, no weights. The
colour is the first one the prompt names (`red`, `#ff8800`), else the model's (`--model solid:blue`),
else grey. Only Pillow is imported, and only inside `run`.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from typing import Any

from sdkit.core.errors import Interrupted
from sdkit.core.params import SEED_MAX, ParamsBase
from sdkit.core.tasks import Mode, Task
from sdkit.engines.base import GeneratedImage, LoadOptions, RunEvents, SizeLimits

from .colours import DEFAULT_COLOUR, PALETTE, colour_in_prompt
from .models import colour_of_model


class SolidColourEngine:
    """Makes images of one flat colour; sdkit validates every parameter before `run` sees it."""

    name = "solid-colour"
    description = "Example plugin: fills the image with the colour named in the prompt (no model needed)."
    tasks = frozenset({Task.TXT2IMG})
    modes = frozenset({Mode.NORMAL})

    def defaults(self, task: Task, mode: Mode) -> Mapping[str, Any]:
        # Steps and guidance mean nothing here; they are set because every txt2img request has them.
        return {"steps": 1, "cfg_scale": 1.0, "width": 256, "height": 256, "sampler": "automatic"}

    def size_limits(self, task: Task) -> SizeLimits:
        return SizeLimits(min_size=8, max_size=4096, multiple_of=8)

    def load(self, model: Any, options: LoadOptions) -> tuple[int, int, int]:
        """The 'model' is just a colour: from a `solid:` model reference, else the default."""
        return colour_of_model(model) or PALETTE[DEFAULT_COLOUR]

    def run(self, loaded: tuple[int, int, int], params: ParamsBase, events: RunEvents) -> Iterator[GeneratedImage]:
        from PIL import Image

        colour = colour_in_prompt(params.prompt) or loaded
        first_seed = params.seed if params.seed >= 0 else random.randrange(SEED_MAX)
        total = params.image_count
        for index in range(total):
            if events.should_stop():
                raise Interrupted("stopped by the user", "finished images are kept")
            events.image_started(index, total, params.steps)
            for step in range(params.steps):
                events.step_finished(index, step + 1, params.steps)
            seed = (first_seed + index) % (SEED_MAX + 1)
            yield GeneratedImage(
                image=Image.new("RGB", (params.width, params.height), colour),
                index=index,
                seed=seed,
                infotext={"Steps": params.steps, "Sampler": params.sampler, "CFG scale": params.cfg_scale,
                          "Seed": seed, "Size": f"{params.width}x{params.height}",
                          "Model": "solid-colour", "Colour": "#{:02x}{:02x}{:02x}".format(*colour)},
                prompt=params.prompt,
                negative_prompt=params.negative_prompt,
            )


ENGINE = SolidColourEngine()
