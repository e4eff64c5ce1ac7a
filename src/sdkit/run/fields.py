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


def common_fields(params: ParamsBase, seed: int | None, model_ref: ModelRef | None, vae: str | None,
                  model_hash: str | None, prediction_type: str | None = None) -> dict[str, Any]:
    """The fields of one image that follow from its parameters, seed and model; None values are left out."""
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
            "Denoising strength": params.strength if isinstance(params, Img2ImgParams) else None,
            "Mask blur": params.mask_blur if isinstance(params, InpaintParams) else None,
            "Clip skip": params.clip_skip if params.clip_skip > 1 else None,
            "RNG": {"cpu": "CPU", "nv": "NV"}.get(params.rng),  # device: none, A1111's GPU default
            "Mode": params.mode.value if params.mode is not Mode.NORMAL else None,
            PREDICTION_TYPE_KEY: prediction_type,
        })
    fields["Version"] = f"sdkit {__version__}"
    return fields
