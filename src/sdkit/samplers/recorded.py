"""Infotext keys that record which computation ran a sampler, for engines to write and `--from-image` to read.

An image sdkit computed as ComfyUI does (a ComfyUI-named sampler) records ComfyUI's sampler and
scheduler names beside A1111's "Sampler" and "Schedule type" labels, and, in a batch of several, its
place in that batch: ComfyUI draws a batch's noise from one generator, so the place is part of the seed.
"""

COMFYUI_SAMPLER_KEY = "ComfyUI sampler"
COMFYUI_SCHEDULER_KEY = "ComfyUI scheduler"
COMFYUI_BATCH_INDEX_KEY = "ComfyUI batch index"  # 0-based, ComfyUI's batch_index
COMFYUI_BATCH_SIZE_KEY = "ComfyUI batch size"
