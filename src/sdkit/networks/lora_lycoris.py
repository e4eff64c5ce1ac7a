"""LyCORIS LoHa and LoKr files under kohya's names, turned into PEFT adapter weights for a model's modules.

diffusers reads kohya LoRA and LoCon files itself (`load_lora_weights`), but not LoHa, nor LoKr under
kohya's names. This module only renames: a kohya module name (`lora_unet_down_blocks_1_..._to_q`,
`lora_te_text_model_encoder_layers_0_mlp_fc1`, SDXL's SGM names `lora_unet_input_blocks_4_1_...`)
becomes the module's name in the loaded diffusers / transformers model, found the way A1111 finds it:
the model's module names with `.` written as `_`. SGM block names are first mapped by diffusers' own
`_maybe_map_sgm_blocks_to_diffusers` and `_convert_unet_lora_key`. PEFT's LoHa / LoKr tuners do the
arithmetic (the engine injects them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

PART_PREFIXES = (("lora_unet_", "unet"), ("lora_te1_", "text_encoder"), ("lora_te2_", "text_encoder_2"),
                 ("lora_te_", "text_encoder"))
LYCORIS_PARAMS = {
    "loha": ("hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b", "hada_t1", "hada_t2"),
    "lokr": ("lokr_w1", "lokr_w1_a", "lokr_w1_b", "lokr_w2", "lokr_w2_a", "lokr_w2_b", "lokr_t2"),
}


@dataclass
class LycorisPart:
    """One model part's LyCORIS weights, under that part's own module names."""

    weights: dict[str, dict[str, Any]] = field(default_factory=dict)  # module -> {param: tensor}
    alphas: dict[str, float] = field(default_factory=dict)  # module -> alpha (where the file gives one)


def _kohya_table(prefix: str, module_names: Iterable[str]) -> dict[str, str]:
    """kohya name -> module name; text encoders also under `text_model_` (transformers < 5 had that level)."""
    table = {}
    for name in module_names:
        if not name:
            continue
        table[prefix + name.replace(".", "_")] = name
        if prefix != "lora_unet_" and not name.startswith("text_model."):
            table[prefix + "text_model_" + name.replace(".", "_")] = name
    return table


def _diffusers_unet_name(kohya_name: str, unet_config: Any) -> str:
    """diffusers' own reading of a kohya UNet name (SGM block names included), as a module name."""
    from diffusers.loaders.lora_conversion_utils import _convert_unet_lora_key, _maybe_map_sgm_blocks_to_diffusers

    probe = kohya_name + ".lora_down.weight"
    mapped = _maybe_map_sgm_blocks_to_diffusers({probe: None}, unet_config)
    converted = _convert_unet_lora_key(next(iter(mapped)))
    for suffix in ("_lora.down.weight", ".lora.down.weight"):
        converted = converted.removesuffix(suffix)
    converted = converted.replace(".processor.", ".")
    return converted + ".0" if converted.endswith("to_out") else converted


def lycoris_parts(state_dict: Mapping[str, Any], lora_format: str, module_names: Mapping[str, Iterable[str]],
                  unet_config: Any = None) -> tuple[dict[str, LycorisPart], list[str]]:
    """The file's weights per model part (`unet`, `text_encoder`, `text_encoder_2`), and the kohya names
    that match no module of the model (a LyCORIS file for another model)."""
    names = {part: set(found) for part, found in module_names.items()}
    tables = {prefix: _kohya_table(prefix, names.get(part, ())) for prefix, part in PART_PREFIXES}
    wanted = LYCORIS_PARAMS[lora_format]
    parts: dict[str, LycorisPart] = {}
    unmatched: list[str] = []
    for key, tensor in state_dict.items():
        kohya_name, _, param = key.partition(".")
        if param not in (*wanted, "alpha"):
            continue
        prefix, part = next(((p, name) for p, name in PART_PREFIXES if kohya_name.startswith(p)), (None, None))
        if prefix is None or part is None:
            unmatched.append(kohya_name)
            continue
        module = tables[prefix].get(kohya_name)
        if module is None and part == "unet" and unet_config is not None:
            candidate = _diffusers_unet_name(kohya_name, unet_config)
            module = candidate if candidate in names.get("unet", ()) else None
        if module is None:
            unmatched.append(kohya_name)
            continue
        target = parts.setdefault(part, LycorisPart())
        if param == "alpha":
            target.alphas[module] = float(tensor.item()) if hasattr(tensor, "item") else float(tensor)
        else:
            target.weights.setdefault(module, {})[param] = tensor
    return parts, sorted(set(unmatched))
