"""Importing Gradio for the web UI: offline settings first, and a clear message when it is missing.

Gradio is an optional extra (`sdkit-cli[ui]`); only the UI's own functions call `import_gradio`, so
no other command ever pays its ~6 s import or needs it installed.
"""

from __future__ import annotations

import os
from typing import Any

from sdkit.core.errors import UserInputError

# Set before gradio is imported: it reads them at import time. No analytics, no version check and no
# hub lookups, so the UI never sends traffic beyond this machine.
OFFLINE_ENVIRONMENT = {
    "GRADIO_ANALYTICS_ENABLED": "False",
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
}


def import_gradio() -> Any:
    """The `gradio` module, imported with the offline settings; UserInputError when it is not installed."""
    for name, value in OFFLINE_ENVIRONMENT.items():
        os.environ[name] = value
    try:
        import gradio
    except ModuleNotFoundError as error:
        if error.name is None or error.name.split(".")[0] != "gradio":
            raise
        raise UserInputError("the web UI needs Gradio, which is not installed",
                             "pip install 'sdkit-cli[ui]'") from None
    return gradio
