"""Entry in `sdkit.pipelines`: `solid-colour`, a txt2img engine that fills each image with one colour.

It shows the whole engine contract at its cheapest: no torch, no weights. sdkit resolves the seeds,
splits the run into batches, numbers and saves the images and writes the common infotext; the engine
only draws one batch. The colour is the first one the prompt names (`red`, `#ff8800`), else the
model's (`--model solid:blue`, the default `solid:grey`). Only Pillow is imported, and only in `draw`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sdkit.plugin import Batch, GeneratedImage, LoadOptions, Mode, ModelRef, SizeLimits, StepEvents, Task

from .colours import colour_in_prompt, parse_colour
from .models import FAMILY, PREFIX


class SolidColourEngine:
    """Makes images of one flat colour; sdkit validates every parameter before `draw` sees it."""

    name = "solid-colour"
    description = "Example plugin: fills the image with the colour named in the prompt."
    tasks = frozenset({Task.TXT2IMG})
    modes = frozenset({Mode.NORMAL})
    families = frozenset({FAMILY})  # `--model solid:red` alone chooses this engine
    default_model = f"{PREFIX}grey"  # used when no --model is given

    def defaults(self, task: Task, mode: Mode) -> Mapping[str, Any]:
        # Steps and guidance mean nothing here; they are set because every txt2img request has them.
        return {"steps": 1, "cfg_scale": 1.0, "width": 256, "height": 256, "sampler": "automatic"}

    def size_limits(self, task: Task) -> SizeLimits:
        return SizeLimits(min_size=8, max_size=4096, multiple_of=8)

    def load(self, model: ModelRef | None, options: LoadOptions) -> tuple[int, int, int]:
        """The 'model' is just a colour, read from its `solid:` reference."""
        assert model is not None  # sdkit passes the default model when none is named
        colour = parse_colour(str(model.location)[len(PREFIX):])
        assert colour is not None  # the model source only describes valid colours
        return colour

    def draw(self, loaded: tuple[int, int, int], batch: Batch, events: StepEvents) -> list[GeneratedImage]:
        from PIL import Image

        params = batch.params
        colour = colour_in_prompt(params.prompt) or loaded
        for step in range(params.steps):
            if events.should_stop():
                return []  # sdkit drops an unfinished batch and keeps the images saved before it
            events.step_finished(step + 1, params.steps)
        hex_colour = "#{:02x}{:02x}{:02x}".format(*colour)
        # One image per seed; a real engine seeds its noise with each one (batch.seeds).
        return [GeneratedImage(Image.new("RGB", (params.width, params.height), colour), {"Colour": hex_colour})
                for _ in batch.seeds]


ENGINE = SolidColourEngine()
