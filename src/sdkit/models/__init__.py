"""Model sources: find a model by path, name or hub id, describe it without loading, load it safely.

Public API (no torch at import time):
- `resolve_model(reference)` -> `ModelRef` (the engine's `default_model` is used when none is named)
- `load_components(ref, torch_dtype=None, vae=None)` -> dict of diffusers/transformers components
- `list_models()` -> every `ModelRef` the sources can see
- `survey_models()` -> those models and the files that look like models but cannot be read (for
  `sdkit models list`)
- `model_short_hash(ref)` -> A1111's short hash; reads all the weights the first time (then cached)
"""

from sdkit.core.models import Family, ModelRef, ModelSource
from sdkit.models.hashing import model_short_hash
from sdkit.models.resolve import list_models, load_components, resolve_model, survey_models

__all__ = ["Family", "ModelRef", "ModelSource", "list_models", "load_components", "model_short_hash", "resolve_model",
           "survey_models"]
