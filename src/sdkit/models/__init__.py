"""Model sources: find a model by path, name or hub id, describe it without loading, load it safely.

Public API (no torch at import time):
- `resolve_model(reference)` -> `ModelRef` (None means the bundled demo model)
- `load_components(ref, torch_dtype=None, vae=None)` -> dict of diffusers/transformers components
- `list_models()` -> every `ModelRef` the sources can see (for `sdkit models list`)
"""

from sdkit.models.base import Family, ModelRef, ModelSource
from sdkit.models.resolve import list_models, load_components, resolve_model

__all__ = ["Family", "ModelRef", "ModelSource", "list_models", "load_components", "resolve_model"]
