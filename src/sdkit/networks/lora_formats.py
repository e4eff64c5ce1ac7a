"""What a LoRA file is, read from its safetensors header alone: its format, the parts it changes, its family.

Formats (the key layouts users have):
- `lora`: kohya / A1111 LoRA (`lora_unet_*`, `lora_te_*`; SDXL `lora_te1_*`, `lora_te2_*`; with
  `lora_down`, `lora_up`, `alpha`); `locon` is the same layout with convolution layers too.
- `loha` (LyCORIS `hada_w1_a`, ...) and `lokr` (LyCORIS `lokr_w1`, ...), under kohya's names.
- `diffusers`: diffusers / PEFT LoRA keys (`unet.*.lora_A.weight`, `text_encoder.*.lora.down.weight`).
IA3, OFT, BOFT, GLoRA and full-difference files are refused by name.

The family comes from names where they say it (a second text encoder or SGM block names: SDXL), else
from widths: the cross-attention context (768 SD 1.x, 1024 SD 2.x, 2048 SDXL) or the text encoder's
(768, 1024). A file that says neither (a tiny test LoRA) has family None, and the engine checks it
against the loaded model's layers instead. No torch: `generate --dry-run` reads this.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sdkit.core.errors import UserInputError

KOHYA_PARTS = {"lora_unet_": "unet", "lora_te_": "text_encoder", "lora_te1_": "text_encoder",
               "lora_te2_": "text_encoder_2"}
DIFFUSERS_PARTS = {"unet.": "unet", "text_encoder.": "text_encoder", "text_encoder_2.": "text_encoder_2"}
FORMAT_LABELS = {"lora": "LoRA", "locon": "LoCon", "loha": "LoHa (LyCORIS)", "lokr": "LoKr (LyCORIS)",
                 "diffusers": "diffusers/PEFT LoRA"}
FAMILY_LABELS = {"sd1": "SD 1.x", "sd2": "SD 2.x", "sdxl": "SDXL"}
# Widths that name a family: the UNet's cross-attention context, and the (first) text encoder's.
CONTEXT_WIDTHS = {768: "sd1", 1024: "sd2", 2048: "sdxl"}
TEXT_WIDTHS = {768: "sd1", 1024: "sd2"}
# How other LyCORIS kinds end their keys (`<kohya name>.<suffix>`).
_UNSUPPORTED = ((".oft_blocks", "an OFT"), (".oft_diag", "an OFT"), (".boft_blocks", "a BOFT"),
                (".on_input", "an IA3"), (".a1.weight", "a GLoRA"), (".diff", "a full-difference (diff) LyCORIS"),
                (".diff_b", "a full-difference (diff) LyCORIS"))
_SGM_BLOCKS = ("input_blocks", "middle_block", "output_blocks")


@dataclass(frozen=True)
class LoraInfo:
    path: Path  # the safetensors file read
    format: str  # a key of FORMAT_LABELS
    parts: frozenset[str]  # "unet", "text_encoder", "text_encoder_2"
    family: str | None  # "sd1", "sd2", "sdxl", or None where the file does not say
    modules: int  # layers it changes

    @property
    def label(self) -> str:
        return FORMAT_LABELS[self.format]


def _format(keys: list[str], path: Path) -> str:
    for marker, name in _UNSUPPORTED:
        if any(key.endswith(marker) for key in keys):
            raise UserInputError(f"{path}: {name} file; sdkit loads LoRA, LoCon, LoHa and LoKr files",
                                 "see docs/prompts.md (LoRA) for the formats sdkit reads")
    if any(".hada_w1_a" in key for key in keys):
        return "loha"
    if any(".lokr_w1" in key for key in keys):
        return "lokr"
    if any(key.startswith(tuple(KOHYA_PARTS)) and ".lora_down." in key for key in keys):
        return "lora"
    if any(key.startswith(tuple(DIFFUSERS_PARTS)) and (".lora_A." in key or ".lora.down." in key
                                                       or "lora_linear_layer.down" in key) for key in keys):
        return "diffusers"
    raise UserInputError(f"{path}: not a LoRA file sdkit can read (no kohya, LyCORIS or diffusers LoRA keys)",
                         "give a LoRA / LyCORIS .safetensors file, or a diffusers LoRA folder")


def _part(key: str, prefixes: dict[str, str]) -> str | None:
    for prefix, part in prefixes.items():
        if key.startswith(prefix):
            return part
    return None


def _input_width(key: str, shapes: dict[str, tuple[int, ...]], lora_format: str) -> int | None:
    """The input width of the layer a down/`_b` weight belongs to, where the key is one that says it."""
    shape = shapes[key]
    if lora_format == "lokr":
        if not key.endswith((".lokr_w1", ".lokr_w1_b")):
            return None
        module = key.rsplit(".", 1)[0]
        second = shapes.get(module + ".lokr_w2") or shapes.get(module + ".lokr_w2_b")
        return shape[1] * second[1] if second is not None and len(shape) == 2 and len(second) == 2 else None
    ends = {"loha": (".hada_w1_b",), "lora": (".lora_down.weight",), "locon": (".lora_down.weight",),
            "diffusers": (".lora_A.weight", ".lora.down.weight", "lora_linear_layer.down.weight")}[lora_format]
    return shape[1] if key.endswith(ends) and len(shape) >= 2 else None


def _family(keys: list[str], shapes: dict[str, tuple[int, ...]], lora_format: str, parts: set[str]) -> str | None:
    if "text_encoder_2" in parts or any(key.startswith("lora_unet_") and any(block in key for block in _SGM_BLOCKS)
                                        for key in keys):
        return "sdxl"
    for key in keys:
        plain = key.replace(".", "_")
        if "attn2_to_k" in plain or "attn2_to_v" in plain:
            width = _input_width(key, shapes, lora_format)
            if width in CONTEXT_WIDTHS:
                return CONTEXT_WIDTHS[width]
    for key in keys:
        if _part(key, {**KOHYA_PARTS, **DIFFUSERS_PARTS}) == "text_encoder" and "q_proj" in key:
            width = _input_width(key, shapes, lora_format)
            if width in TEXT_WIDTHS:
                return TEXT_WIDTHS[width]
    return None


def read_lora_info(path: Path) -> LoraInfo:
    """Format, parts and family of the LoRA at `path` (a file or a diffusers folder), from its header."""
    from sdkit.models.checkpoint import read_safetensors_header
    from sdkit.networks.lora_files import weights_file

    weights = weights_file(Path(path))
    try:
        header: dict[str, Any] = read_safetensors_header(weights)
    except UserInputError as error:
        raise UserInputError(f"LoRA file {error.message}", "download the LoRA again, or remove it from the prompt "
                             "(or the --lora value)") from None
    shapes = {key: tuple(info["shape"]) for key, info in header.items() if key != "__metadata__"}
    keys = list(shapes)
    lora_format = _format(keys, weights)
    prefixes = KOHYA_PARTS if lora_format != "diffusers" else DIFFUSERS_PARTS
    parts = {part for key in keys if (part := _part(key, prefixes)) is not None}
    if lora_format == "lora" and any(len(shapes[key]) == 4 and shapes[key][2:] != (1, 1)
                                     for key in keys if key.endswith(".lora_down.weight")):
        lora_format = "locon"
    modules = len({key.split(".", 1)[0] if lora_format != "diffusers" else key.rsplit(".lora", 1)[0]
                   for key in keys if _part(key, prefixes) is not None})
    return LoraInfo(weights, lora_format, frozenset(parts), _family(keys, shapes, lora_format, parts), modules)


def check_family(info: LoraInfo, name: str, model_family: str, model_name: str) -> None:
    """Refuse a LoRA made for another family than the model's (an SDXL LoRA on an SD 1.5 model)."""
    if info.family is None or info.family == str(model_family):
        return
    theirs = FAMILY_LABELS.get(info.family, info.family)
    ours = FAMILY_LABELS.get(str(model_family), str(model_family))
    raise UserInputError(f"LoRA {name!r} ({info.path.name}) is made for {theirs} models, but the model "
                         f"{model_name} is {ours}",
                         f"a LoRA works only with models of its family: use an {theirs} model (--model), or a "
                         f"LoRA made for {ours}")
