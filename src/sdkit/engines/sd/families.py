"""What differs between the Stable Diffusion families sdkit runs: one table row each, no string tests.

Each row names the family key its models carry (`ModelRef.family`), the diffusers pipeline class per
task, how prompts are encoded (SDXL has two text encoders and a pooled embedding), the family's
native size, its size limits and the few-step modes its distilled models come in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sdkit.plugin import Family, Mode, SizeLimits, Task


@dataclass(frozen=True)
class SdFamily:
    key: str
    pipelines: dict[Task, str]  # diffusers class names
    dual_text_encoder: bool  # SDXL: two CLIP encoders and a pooled embedding
    default_size: int
    limits: SizeLimits
    modes: frozenset[Mode]

    def pipeline_parts(self) -> dict[str, Any]:
        """Pipeline arguments sdkit never uses (safety checker, IP-Adapter encoder), set to nothing."""
        if self.dual_text_encoder:
            return {"image_encoder": None, "feature_extractor": None}
        return {"safety_checker": None, "feature_extractor": None, "requires_safety_checker": False}


_SD_PIPELINES = {Task.TXT2IMG: "StableDiffusionPipeline", Task.IMG2IMG: "StableDiffusionImg2ImgPipeline",
                 Task.INPAINT: "StableDiffusionInpaintPipeline"}
_SDXL_PIPELINES = {Task.TXT2IMG: "StableDiffusionXLPipeline", Task.IMG2IMG: "StableDiffusionXLImg2ImgPipeline",
                   Task.INPAINT: "StableDiffusionXLInpaintPipeline"}

SD1 = SdFamily(Family.SD1.value, _SD_PIPELINES, False, 512, SizeLimits(64, 2048, 8),
               frozenset({Mode.NORMAL, Mode.LCM}))
SD2 = SdFamily(Family.SD2.value, _SD_PIPELINES, False, 768, SizeLimits(64, 2048, 8),
               frozenset({Mode.NORMAL, Mode.TURBO}))
SDXL = SdFamily(Family.SDXL.value, _SDXL_PIPELINES, True, 1024, SizeLimits(64, 4096, 8),
                frozenset({Mode.NORMAL, Mode.LCM, Mode.TURBO, Mode.LIGHTNING}))
