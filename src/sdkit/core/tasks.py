"""What sdkit can be asked to do (`Task`) and in which regime (`Mode`)."""

from __future__ import annotations

from enum import Enum


class Task(str, Enum):
    TXT2IMG = "txt2img"
    IMG2IMG = "img2img"
    INPAINT = "inpaint"
    UPSCALE = "upscale"

    def __str__(self) -> str:
        return self.value


class Mode(str, Enum):
    """Few-step distilled models (LCM, Turbo, Lightning) need different defaults from normal ones."""

    NORMAL = "normal"
    LCM = "lcm"
    TURBO = "turbo"
    LIGHTNING = "lightning"

    def __str__(self) -> str:
        return self.value
