"""Core value types shared by every layer: tasks, modes, requests, parameters and errors.

Nothing here imports torch; the CLI, presets and engines all depend on this package.
"""

from sdkit.core.errors import (
    Interrupted,
    ParamsError,
    Problem,
    RuntimeFailure,
    SdkitError,
    UnknownKeyError,
    UserInputError,
)
from sdkit.core.tasks import Mode, Task

__all__ = [
    "Interrupted",
    "Mode",
    "ParamsError",
    "Problem",
    "RuntimeFailure",
    "SdkitError",
    "Task",
    "UnknownKeyError",
    "UserInputError",
]
