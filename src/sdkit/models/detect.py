"""Tell a model's family from what it holds: tensor names and shapes (single files) or configs (folders).

Single files in the original LDM layout (the A1111 format):
- SDXL has a second text encoder (`conditioner.embedders.1.model.*`, OpenCLIP) and the UNet's size
  embedding (`model.diffusion_model.label_emb.*`).
- SD 2.x has an OpenCLIP text encoder (`cond_stage_model.model.*`) and linear proj_in layers.
- SD 1.x has a CLIP text encoder (`cond_stage_model.transformer.*`) and 1x1-conv proj_in layers.
- Inpainting models have 9 UNet input channels (4 latent + 4 masked-image latent + 1 mask).
- v-prediction cannot be seen in the weights. A `v_pred` marker tensor (some SDXL fine-tunes) or an
  A1111-style `<name>.yaml` beside the file with `parameterization: "v"` says so; otherwise SD 2.x
  non-inpainting files are taken as 768-v models (SD 2.0/2.1 768, the common case), with the field
  marked as guessed so callers can say so and offer an override; SD 1.x, SDXL and SD 2.x inpainting
  files are epsilon, as their families are (v-prediction fine-tunes carry the marker or need the yaml).
- Diffusers folders state it in `scheduler/scheduler_config.json`; one that does not is taken as epsilon
  (diffusers' own default) and marked as guessed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sdkit.core.errors import UserInputError
from sdkit.core.models import PREDICTION_TYPES, Family
from sdkit.models.checkpoint import Shapes

UNET = "model.diffusion_model."
UNET_INPUT = UNET + "input_blocks.0.0.weight"
SDXL_SIZE_EMBED = UNET + "label_emb.0.0.weight"
VAE_PREFIXES = ("first_stage_model.", "vae.")
CLIP_SD1 = "cond_stage_model.transformer."
OPEN_CLIP_SD2 = "cond_stage_model.model."
CLIP_SDXL = "conditioner.embedders.0.transformer."
OPEN_CLIP_SDXL = "conditioner.embedders.1.model."
OPEN_CLIP_SDXL_REFINER = "conditioner.embedders.0.model."
V_PRED_MARKERS = ("v_pred", "edm_vpred.sigma_max")
SUPPORTED_PIPELINES = {
    "StableDiffusionPipeline": (Family.SD1, False),
    "StableDiffusionImg2ImgPipeline": (Family.SD1, False),
    "StableDiffusionInpaintPipeline": (Family.SD1, True),
    "StableDiffusionXLPipeline": (Family.SDXL, False),
    "StableDiffusionXLImg2ImgPipeline": (Family.SDXL, False),
    "StableDiffusionXLInpaintPipeline": (Family.SDXL, True),
}


@dataclass(frozen=True)
class Detection:
    family: Family
    inpainting: bool
    prediction_type: str
    guessed: tuple[str, ...] = ()


def _has_prefix(shapes: Shapes, prefix: str) -> bool:
    return any(name.startswith(prefix) for name in shapes)


def _not_a_model(path: Path, problem: str) -> UserInputError:
    return UserInputError(
        f"{path}: {problem}",
        "expected a Stable Diffusion 1.x, 2.x or SDXL checkpoint (UNet, VAE and text encoders in one file); "
        "LoRA, VAE-only, embedding and upscaler files are not models for --model",
    )


def detect_single_file(shapes: Shapes, path: Path) -> Detection:
    """The family of an LDM-layout checkpoint, from tensor names and shapes alone."""
    if UNET_INPUT not in shapes:
        if any(name.startswith(("lora_", "lora_unet", "lora_te")) or ".lora_" in name for name in shapes):
            raise _not_a_model(path, "this is a LoRA file, not a full model")
        if _has_prefix(shapes, "encoder.") and _has_prefix(shapes, "decoder."):
            raise _not_a_model(path, "this is a VAE-only file (use it with --vae)")
        # Names come from the file and may be any length: quote a few, cut short.
        sample = ", ".join(name if len(name) <= 60 else name[:60] + "..." for name in sorted(shapes)[:3]) or "(none)"
        raise _not_a_model(path, f"no Stable Diffusion UNet found in the file (tensors: {sample}, ...)")
    input_shape = shapes[UNET_INPUT]
    if len(input_shape) != 4 or input_shape[1] not in (4, 9):
        raise _not_a_model(path, f"the UNet's input layer has shape {list(input_shape)}; "
                           "expected 4 input channels (or 9 for inpainting)")
    inpainting = input_shape[1] == 9
    if _has_prefix(shapes, OPEN_CLIP_SDXL_REFINER) and not _has_prefix(shapes, OPEN_CLIP_SDXL):
        raise _not_a_model(path, "this is an SDXL refiner, which sdkit does not load as a model")
    if SDXL_SIZE_EMBED in shapes or _has_prefix(shapes, OPEN_CLIP_SDXL):
        family = Family.SDXL
        required = {"the first text encoder": CLIP_SDXL, "the second text encoder": OPEN_CLIP_SDXL}
    elif _has_prefix(shapes, OPEN_CLIP_SD2):
        family = Family.SD2
        required = {"the text encoder": OPEN_CLIP_SD2}
    elif _has_prefix(shapes, CLIP_SD1):
        family = Family.SD1
        required = {"the text encoder": CLIP_SD1}
    else:
        raise _not_a_model(path, "the file has a UNet but no text encoder")
    missing = [part for part, prefix in required.items() if not _has_prefix(shapes, prefix)]
    if not any(_has_prefix(shapes, prefix) for prefix in VAE_PREFIXES):
        missing.append("the VAE")
    if missing:
        raise _not_a_model(path, f"the {family} checkpoint lacks {' and '.join(missing)}")

    guessed: tuple[str, ...] = ()
    if any(marker in shapes for marker in V_PRED_MARKERS):
        prediction_type = "v_prediction"
    elif (from_yaml := _prediction_from_yaml(path)) is not None:
        prediction_type = from_yaml
    elif family == Family.SD2 and not inpainting:
        prediction_type, guessed = "v_prediction", ("prediction_type",)
    else:
        prediction_type = "epsilon"  # SD 1.x, SDXL and SD 2.x inpainting are all epsilon models
    return Detection(family, inpainting, prediction_type, guessed)


def _prediction_from_yaml(path: Path) -> str | None:
    """`parameterization` from an A1111-style original config `<stem>.yaml` beside the checkpoint."""
    import yaml

    config_path = path.with_suffix(".yaml")
    if not config_path.is_file():
        return None
    try:
        data = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return None
    params = data.get("model", {}).get("params", {}) if isinstance(data, dict) else {}
    if not isinstance(params, dict):
        return None
    return "v_prediction" if params.get("parameterization") == "v" else "epsilon"


def read_json(path: Path) -> dict[str, Any]:
    """A JSON config file as a dict, with a clear error when it is missing or broken."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserInputError(f"{path} is missing", "the diffusers folder is incomplete; download it again") from None
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise UserInputError(f"{path} is not valid JSON ({error})",
                             "the diffusers folder is damaged; download it again") from None
    if not isinstance(data, dict):
        raise UserInputError(f"{path} is not a JSON object", "the diffusers folder is damaged; download it again")
    return data


def detect_diffusers_folder(folder: Path) -> Detection:
    """The family of a diffusers pipeline folder, from model_index.json and the component configs."""
    index = read_json(folder / "model_index.json")
    class_name = str(index.get("_class_name", ""))
    if class_name not in SUPPORTED_PIPELINES:
        raise UserInputError(
            f"{folder} is a diffusers {class_name or 'pipeline of unknown type'} folder",
            "sdkit loads Stable Diffusion 1.x, 2.x and SDXL pipelines "
            f"({', '.join(sorted(SUPPORTED_PIPELINES))})",
        )
    family, inpainting = SUPPORTED_PIPELINES[class_name]
    unet = read_json(folder / "unet" / "config.json")
    if unet.get("in_channels") == 9:
        inpainting = True
    if family == Family.SDXL or unet.get("addition_embed_type") == "text_time" or "text_encoder_2" in index:
        family = Family.SDXL
        if "text_encoder" not in index or index.get("text_encoder") == [None, None]:
            raise UserInputError(f"{folder} is an SDXL refiner, which sdkit does not load as a model",
                                 "use an SDXL base model")
    elif unet.get("use_linear_projection") or unet.get("cross_attention_dim") == 1024:
        family = Family.SD2
    prediction_type, guessed = _folder_prediction(folder / "scheduler" / "scheduler_config.json")
    return Detection(family, inpainting, prediction_type, guessed)


def _folder_prediction(scheduler_config: Path) -> tuple[str, tuple[str, ...]]:
    """The prediction type a folder's scheduler config states; epsilon, marked guessed, when it states none."""
    configured = read_json(scheduler_config).get("prediction_type") if scheduler_config.is_file() else None
    if configured is None:
        # diffusers itself falls back to epsilon, but the folder does not say so: show it as a guess.
        return "epsilon", ("prediction_type",)
    if configured not in PREDICTION_TYPES:
        raise UserInputError(
            f"{scheduler_config}: prediction_type {str(configured)[:60]!r} is not one sdkit draws with",
            f"sdkit draws {' and '.join(PREDICTION_TYPES)} models; correct the scheduler config if it is wrong",
        )
    return configured, ()


def native_size(folder: Path) -> int | None:
    """The image size a diffusers folder was trained at: unet.sample_size × the VAE's downscale factor.

    None when the folder does not say (a single file, a damaged config): callers use the family's size.
    """
    try:
        unet = json.loads((folder / "unet" / "config.json").read_text())
        vae = json.loads((folder / "vae" / "config.json").read_text())
        sample_size = unet["sample_size"]
        if isinstance(sample_size, list):
            sample_size = sample_size[0]
        return int(sample_size) * 2 ** (len(vae["block_out_channels"]) - 1)
    except (OSError, KeyError, ValueError, TypeError):
        return None
