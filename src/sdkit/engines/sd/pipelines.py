"""A loaded model, and the diffusers pipelines over its shared components, built once per task."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sdkit.plugin import LoadOptions, ModelRef, Task

if TYPE_CHECKING:
    from sdkit.engines.sd.families import SdFamily

DIFFUSERS_SCHEDULER_KEY = "Diffusers scheduler"  # infotext: the first pass ran on this diffusers scheduler
DIFFUSERS_HIRES_SCHEDULER_KEY = "Diffusers hires scheduler"  # and the hires fix's second pass on this one


def _torch_backend() -> Any:
    from sdkit.engines.openvino import Backend

    return Backend()


@dataclass
class LoadedModel:
    """A model's components on their device, and the pipelines built over them so far."""

    ref: ModelRef
    components: dict[str, Any]
    device: str
    dtype: Any
    options: LoadOptions
    scheduler_config: dict[str, Any]
    pipelines: dict[Task, Any] = field(default_factory=dict)
    lora_adapters: dict[str, Any] = field(default_factory=dict)  # LoRA hash -> its PEFT adapter (`loras.py`)
    sigma_table: Any = None  # sdkit.sampling's σ table of the model, built on first use (`a1111.py`)
    backend: Any = field(default_factory=_torch_backend)  # sdkit.engines.openvino.Backend: where it runs



def pipeline_for(loaded: LoadedModel, family: SdFamily, task: Task) -> Any:
    """The diffusers pipeline of `task` over `loaded`'s components, with the load options applied."""
    if task in loaded.pipelines:
        return loaded.pipelines[task]
    import diffusers

    pipeline_class = getattr(diffusers, family.pipelines[task])
    parts = {**family.pipeline_parts(), **loaded.components}
    pipeline = pipeline_class(**parts)
    pipeline.set_progress_bar_config(disable=True)
    options = loaded.options
    if options.attention_slicing:
        pipeline.enable_attention_slicing()
    if options.vae_tiling:
        pipeline.vae.enable_tiling()
    if options.cpu_offload and loaded.device.startswith("cuda"):
        pipeline.enable_model_cpu_offload()
    loaded.pipelines[task] = pipeline
    return pipeline


def noise_device(rng: str, loaded: LoadedModel) -> str:
    """Where the diffusers path's torch generators draw: the device for `--rng device`, else the CPU."""
    return loaded.device if rng == "device" else "cpu"
