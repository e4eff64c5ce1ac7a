"""The input images of a run (`--image`, `--mask`): opened and checked once, before anything loads.

`generate --dry-run` opens them too, so a broken or unreadable input fails the dry run exactly as it
would fail the run.
"""

from __future__ import annotations

from typing import Any

from sdkit.core.params import ParamsBase

INPUT_IMAGES = ("image", "mask")
ROLES = {"image": "input image", "mask": "mask"}


def open_inputs(params: ParamsBase) -> dict[str, Any]:
    """The run's input images by parameter name, decoded; a `UserInputError` names any that is unusable."""
    from sdkit.files.images import open_image

    opened = {}
    for name in INPUT_IMAGES:
        path = getattr(params, name, None)
        if path:
            opened[name] = open_image(path, role=ROLES[name])
    return opened
