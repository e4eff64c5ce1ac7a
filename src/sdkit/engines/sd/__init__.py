"""The Stable Diffusion engines `sd15`, `sd2` and `sdxl` (entry points in `sdkit.pipelines`).

One engine object per family (`families.py` says what differs); `engine.py` draws, `pipelines.py`
builds the diffusers pipelines, `prompts.py` encodes long prompts, `inputs.py` prepares img2img and
inpaint inputs. `sd15` serves the bundled demo model when no model is named; `sd2` and `sdxl` ask
for one. Importing this package is light: torch and diffusers load in `load` and `draw`.
"""

from sdkit.demo import DEMO_MODEL_DIR
from sdkit.engines.sd.engine import StableDiffusionEngine
from sdkit.engines.sd.families import SD1, SD2, SDXL

sd15 = StableDiffusionEngine("sd15", SD1, "Stable Diffusion 1.x (512²) through diffusers",
                             default_model=str(DEMO_MODEL_DIR))
sd2 = StableDiffusionEngine("sd2", SD2, "Stable Diffusion 2.x (768² v-prediction or 512² epsilon) through diffusers")
sdxl = StableDiffusionEngine("sdxl", SDXL, "Stable Diffusion XL (1024²) through diffusers")

__all__ = ["StableDiffusionEngine", "sd15", "sd2", "sdxl"]
