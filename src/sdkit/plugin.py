"""Everything a plugin author needs, in one place: `from sdkit.plugin import ...`.

sdkit's own engines, model sources and samplers import their contract from here too, so this module
is what the built-ins prove every day. The four entry-point groups and what their objects provide:

- `sdkit.pipelines`: an `Engine`. sdkit resolves seeds, splits the run into batches, opens input
  images, numbers and saves images and writes the common infotext; the engine's `draw` gets one
  resolved `Batch` and returns one `GeneratedImage` per seed. An engine that sets `hires_fix = True`
  also draws A1111's hires-fix second pass when the batch carries a `HiresPass`.
- `sdkit.models`: a `ModelSource` that turns `--model` strings into `ModelRef`s (any `family` key)
  and loads their components.
- `sdkit.samplers`: a `SamplerSpec` (a new sampler) or a `SamplerAlias` (new names for one).
- `sdkit.presets`: a folder of `<task>/<name>.yaml` presets, or a callable returning one.

Raise `UserInputError(message, hint)` for bad input (exit 2), `RuntimeFailure` for failures while
running (exit 1), `UnknownKeyError(group, key, known)` for unknown names (it adds a did-you-mean), and
`Interrupted` when `events.should_stop()` asks you to stop. docs/plugins.md has complete examples.
Importing this module is light: no torch, diffusers or PIL.
"""

from sdkit.core.engine import Batch, Engine, GeneratedImage, LoadOptions, NullStepEvents, StepEvents
from sdkit.core.errors import Interrupted, RuntimeFailure, SdkitError, UnknownKeyError, UserInputError
from sdkit.core.hires import HiresPass, HiresSize
from sdkit.core.models import PREDICTION_TYPES, Family, ModelRef, ModelSource
from sdkit.core.params import (
    SEED_MAX,
    Img2ImgParams,
    InpaintParams,
    ParamsBase,
    SizeLimits,
    Txt2ImgParams,
    UpscaleParams,
)
from sdkit.core.tasks import Mode, Task
from sdkit.samplers.spec import SamplerAlias, SamplerSpec

__all__ = [
    "PREDICTION_TYPES",
    "SEED_MAX",
    "Batch",
    "Engine",
    "Family",
    "GeneratedImage",
    "HiresPass",
    "HiresSize",
    "Img2ImgParams",
    "InpaintParams",
    "Interrupted",
    "LoadOptions",
    "Mode",
    "ModelRef",
    "ModelSource",
    "NullStepEvents",
    "ParamsBase",
    "RuntimeFailure",
    "SamplerAlias",
    "SamplerSpec",
    "SdkitError",
    "SizeLimits",
    "StepEvents",
    "Task",
    "Txt2ImgParams",
    "UnknownKeyError",
    "UpscaleParams",
    "UserInputError",
]
