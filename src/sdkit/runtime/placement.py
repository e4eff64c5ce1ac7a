"""Putting a loaded model's parts on their device: the process-wide policies a model load applies.

- Parts go to the chosen device, unless model CPU offload keeps them in RAM (GPU only).
- On the CPU in bf16 the VAE stays fp32: clean images for a small time cost (docs/performance.md).
- Small models run on one CPU thread (below), unless the user chose a count with OMP_NUM_THREADS.
Torch is imported inside the functions only.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)

# Below this many parameters a model's steps are too small to share between threads: the threads
# spend their time waiting on each other, and on a busy machine a 64² demo image took 68 s with 2
# threads against 0.5 s with one.
SINGLE_THREAD_PARAMETERS = 20_000_000


def place_components(components: Mapping[str, Any], device: str, dtype: Any, *, cpu_offload: bool,
                     main_part: str = "unet", vae_part: str = "vae") -> None:
    """Move every torch module in `components` to `device` and apply the CPU policies above."""
    if not cpu_offload:
        for component in components.values():
            if hasattr(component, "to") and hasattr(component, "parameters"):
                component.to(device)
    elif not device.startswith("cuda"):
        log.warning("--cpu-offload only helps on a GPU; ignored on %s", device)
    if device != "cpu":
        return
    if str(dtype) == "torch.bfloat16" and vae_part in components:
        from sdkit.runtime.device import keep_vae_fp32

        keep_vae_fp32(components[vae_part], dtype)
    if main_part in components:
        fit_cpu_threads(components[main_part])


def fit_cpu_threads(model: Any) -> None:
    """Run tiny models on one CPU thread, unless the user chose a thread count (OMP_NUM_THREADS)."""
    import torch

    if "OMP_NUM_THREADS" in os.environ:
        return
    parameters = sum(parameter.numel() for parameter in model.parameters())
    if parameters < SINGLE_THREAD_PARAMETERS and torch.get_num_threads() != 1:
        log.info("small model (%.1f M parameters): running on one CPU thread", parameters / 1e6)
        torch.set_num_threads(1)
