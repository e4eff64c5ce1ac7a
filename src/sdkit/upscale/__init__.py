"""Upscaling images with super-resolution models (Real-ESRGAN and the other spandrel architectures).

Public API: `upscale_image` (a PIL image in, the upscaled image and its infotext fields out) and
`load_upscaler`. Importing this package imports neither torch nor spandrel; they load on first use.
"""

from sdkit.upscale.api import upscale_image, upscale_with
from sdkit.upscale.loading import Upscaler, clear_cache, load_upscaler

__all__ = ["Upscaler", "clear_cache", "load_upscaler", "upscale_image", "upscale_with"]
