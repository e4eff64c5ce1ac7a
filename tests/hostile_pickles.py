"""What a hostile pickle holds, for tests that prove sdkit never runs one."""

from __future__ import annotations

import os
from typing import Any


class RunsCode:
    """Pickles as a call to `os.system(command)`: loaded unsafely, it runs the command."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (self.command,))
