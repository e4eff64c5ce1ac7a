"""The infotext fields sdkit writes for every engine: what the run layer knows about a run.

An engine adds only what it alone knows (its sampler's A1111 name, a plugin's own keys);
`sdkit.outputs.infotext.arrange_fields` puts both in A1111's order. Everything `generate --from-image`
needs to tell the run again is here: "Mask blur" marks an inpaint (as in A1111), and "Prediction type"
(sdkit's own key) records a `--prediction-type` the model itself did not say.
"""

from __future__ import annotations

from typing import Any

from sdkit import __version__
from sdkit.core.models import ModelRef
from sdkit.core.params import Img2ImgParams, InpaintParams, ParamsBase, Txt2ImgParams
from sdkit.core.tasks import Mode


def vae_label(vae: str | None) -> str | None:
    """A1111 records the VAE by its file name only."""
    return vae and str(vae).replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]


PREDICTION_TYPE_KEY = "Prediction type"


def variation_fields(params: Txt2ImgParams, index: int) -> dict[str, Any]:
    """A1111's keys for variation seeds (image `index` of the run) and "Seed resize from", when on."""
    fields: dict[str, Any] = {}
    if params.variation_strength:
        fields["Variation seed"] = (params.variation_seed + index) % 2**32
        fields["Variation seed strength"] = params.variation_strength
    if params.seed_resize_from_width > 0 and params.seed_resize_from_height > 0:
        fields["Seed resize from"] = f"{params.seed_resize_from_width}x{params.seed_resize_from_height}"
    return fields


def common_fields(params: ParamsBase, seed: int | None, model_ref: ModelRef | None, vae: str | None,
                  model_hash: str | None, prediction_type: str | None = None, index: int = 0) -> dict[str, Any]:
    """The fields of one image (run-wide `index`) from its parameters, seed and model; None values are left out."""
    fields: dict[str, Any] = {}
    if isinstance(params, Txt2ImgParams):
        fields.update({
            "Steps": params.steps,
            "CFG scale": params.cfg_scale,
            "Seed": seed,
            "Size": f"{params.width}x{params.height}",
        })
    if model_ref is not None and isinstance(params, Txt2ImgParams):
        fields.update({"Model hash": model_hash, "Model": model_ref.name})
    if isinstance(params, Txt2ImgParams):
        fields.update({
            "VAE": vae_label(vae),
            **variation_fields(params, index),
            "Denoising strength": params.strength if isinstance(params, Img2ImgParams) else None,
            "Mask blur": params.mask_blur if isinstance(params, InpaintParams) else None,
            "Clip skip": params.clip_skip if params.clip_skip > 1 else None,
            "RNG": {"cpu": "CPU", "nv": "NV"}.get(params.rng),  # device: none, A1111's GPU default
            "Mode": params.mode.value if params.mode is not Mode.NORMAL else None,
            PREDICTION_TYPE_KEY: prediction_type,
        })
    fields["Version"] = f"sdkit {__version__}"
    return fields
