"""PNG info: an sdkit or A1111 PNG's parameters, read as `sdkit inspect` and `generate --from-image` read them.

`read_png_info` gives the stored text (as `inspect --raw` shows it) and the form values that
`--from-image` would recall, so "send to txt2img" fills the form with what regenerating the image
would use. Nothing here imports gradio or torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sdkit.ui.form import values_from_params


@dataclass(frozen=True)
class PngInfo:
    """What a PNG records: its infotext, fields, the task it was made by and the form it recalls."""

    infotext: str
    fields: dict[str, str]
    task: str
    values: list[Any]
    warnings: list[str] = field(default_factory=list)  # e.g. a recorded model that is not here


def read_png_info(path: str | Path) -> PngInfo:
    """The parameters of a PNG; raises the `UserInputError` `sdkit inspect` raises for one it cannot read."""
    from sdkit.core.errors import UserInputError
    from sdkit.outputs.infotext import parse_infotext, read_png_parameters
    from sdkit.run.from_image import read_recorded_run, recorded_model

    image = Path(path)
    text = read_png_parameters(image)
    parsed = parse_infotext(text)
    recorded = read_recorded_run(image)
    params = dict(recorded.params)
    warnings = []
    try:  # the model `--from-image` would use; blank is the engine's default (the demo model's images)
        model = recorded_model(recorded)
    except UserInputError as error:  # reading still works; generating then needs a model chosen
        model = None
        warnings.append(f"{error.message} ({error.hint})" if error.hint else error.message)
    fields = {"Prompt": parsed.prompt, "Negative prompt": parsed.negative_prompt, **parsed.fields}
    return PngInfo(text, fields, recorded.task.value, values_from_params(params, model), warnings)
