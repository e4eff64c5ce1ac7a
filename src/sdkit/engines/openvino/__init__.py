"""The OpenVINO backend of the SD engines: the UNet and the VAE run as OpenVINO-compiled models on the CPU.

The loaded torch modules stay where they are; only their `forward` is swapped for one that runs the
same computation compiled by OpenVINO (`stand_ins.py`), with the same call signature and output types.
So every sampler (diffusers' schedulers and sdkit's A1111 sampling), the seeds and CPU noise, prompt
chunking, CLIP skip, embeddings, the hires fix, infotext and outputs work unchanged; a call OpenVINO
cannot serve exactly (LoRA adapters active, a ControlNet residual, a size the traced graph does not
fit) runs the torch module, which is still loaded.

- `backends.py`: `--backend auto|torch|openvino`, and what `auto` picks (measured: docs/openvino.md);
- `ir_cache.py`: the converted models (OpenVINO IR) on disk, keyed by the weights' hash, the part's
  config, the dynamic input shapes, the OpenVINO version and this converter's version;
- `convert.py`: converting a module once, with dynamic batch, size and token dims, saying so meanwhile;
- `stand_ins.py`: the compiled models per input shape, and the swapped `forward`s.

`openvino` is an optional extra: it is imported only here, when a model is loaded with this backend.
"""

from sdkit.engines.openvino.backends import BACKEND_NAMES, Backend, apply_backend, openvino_load_dtype

__all__ = ["BACKEND_NAMES", "Backend", "apply_backend", "openvino_load_dtype"]
