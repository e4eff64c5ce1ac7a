"""Applying LoRA / LyCORIS files to a loaded SD model, per draw, without leaking into the next draw.

Each file is read once per loaded model and kept as a named PEFT adapter (keyed by its A1111 hash on
the `LoadedModel`), so changing only a weight never reads the file again. Loading is the libraries':
kohya LoRA / LoCon and diffusers LoRA files through diffusers' `load_lora_weights` (which converts
kohya names, SDXL's two text encoders and SGM blocks itself); LoHa and LoKr through PEFT's tuners,
after `sdkit.networks.lora_lycoris` renamed kohya's names to the model's (diffusers has no reader for
them under kohya's names).

Before every draw `activate` sets which adapters act, with which weights, on each part (the UNet
gets the UNet weight, the text encoders the text-encoder weight). A part with no LoRA, or only
weights of 0, has its adapter layers disabled: a disabled PEFT layer calls its original layer alone,
so the image is bit-identical to one made before any LoRA was loaded (tests prove it).
"""

from __future__ import annotations

import logging
import warnings
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sdkit.plugin import UserInputError

log = logging.getLogger(__name__)

PARTS = ("unet", "text_encoder", "text_encoder_2")
# Files kept loaded per model: a long-running process (a server) that meets many LoRAs drops the least
# recently used beyond this many (a dropped one is read again when it is next asked for).
MAX_LOADED_ADAPTERS = 16


@dataclass(frozen=True)
class Adapter:
    name: str  # the PEFT adapter name
    parts: frozenset[str]  # the model parts it changes


def _tuner_layers(model: Any, adapter_name: str | None = None) -> list[Any]:
    from peft.tuners.tuners_utils import BaseTunerLayer

    layers = [module for module in model.modules() if isinstance(module, BaseTunerLayer)]
    if adapter_name is None:
        return layers
    return [layer for layer in layers
            if any(adapter_name in getattr(layer, attribute, {}) for attribute in layer.adapter_layer_names)]


def _forget(components: dict[str, Any], adapter_name: str) -> None:
    """Remove a half-loaded adapter from every part (a file that did not fit)."""
    from diffusers.utils.peft_utils import delete_adapter_layers

    for part in PARTS:
        model = components.get(part)
        if model is not None and _tuner_layers(model, adapter_name):
            delete_adapter_layers(model, adapter_name)
            getattr(model, "peft_config", {}).pop(adapter_name, None)


def _inject_lycoris(model: Any, lora_format: str, part: Any, adapter_name: str) -> None:
    """Inject PEFT LoHa / LoKr layers for `part`'s modules and load their weights."""
    from peft import LoHaConfig, inject_adapter_in_model, set_peft_model_state_dict

    state = {f"{module}.{param}": tensor for module, params in part.weights.items() for param, tensor in params.items()}
    if lora_format == "lokr":
        import torch
        from diffusers.loaders.lora_conversion_utils import _bake_lokr_alpha_
        from diffusers.utils.peft_utils import _create_lokr_config

        state.update({f"{module}.alpha": torch.tensor(alpha) for module, alpha in part.alphas.items()})
        _bake_lokr_alpha_(state)  # LyCORIS scales by alpha / rank: diffusers folds that into the first factor
        config = _create_lokr_config(state, None)
    else:
        ranks = {module: params["hada_w1_b"].shape[0] for module, params in part.weights.items()}
        alphas = {module: part.alphas.get(module, float(rank)) for module, rank in ranks.items()}
        rank = Counter(ranks.values()).most_common(1)[0][0]
        config = LoHaConfig(r=rank, alpha=rank, target_modules=sorted(part.weights),
                            rank_pattern={f"^{module}": value for module, value in ranks.items()},
                            alpha_pattern={f"^{module}": value for module, value in alphas.items()},
                            use_effective_conv2d=any("hada_t1" in params for params in part.weights.values()))
    inject_adapter_in_model(config, model, adapter_name=adapter_name)
    result = set_peft_model_state_dict(model, state, adapter_name)
    unexpected = [key for key in getattr(result, "unexpected_keys", []) if adapter_name in key or "hada_" in key
                  or "lokr_" in key]
    if unexpected:
        raise ValueError(f"weights not loaded: {unexpected[:3]}")


def _load_file(loaded: Any, pipeline: Any, use: Any, info: Any, adapter_name: str) -> frozenset[str]:
    from safetensors.torch import load_file

    state = load_file(str(info.path))
    components = loaded.components
    if info.format in ("loha", "lokr"):
        from sdkit.networks.lora_lycoris import lycoris_parts

        modules = {part: [name for name, _ in components[part].named_modules()] for part in PARTS
                   if components.get(part) is not None}
        unet_config = components["unet"].config if components.get("unet") is not None else None
        parts, unmatched = lycoris_parts(state, info.format, modules, unet_config)
        if unmatched:
            raise _does_not_fit(use, loaded, f"{len(unmatched)} of its layers ({unmatched[0]}, ...) are not in it")
        for part_name, part in parts.items():
            _inject_lycoris(components[part_name], info.format, part, adapter_name)
        return frozenset(parts)
    pipeline.load_lora_weights(state, adapter_name=adapter_name)
    return frozenset(part for part in PARTS if components.get(part) is not None
                     and _tuner_layers(components[part], adapter_name))


def _does_not_fit(use: Any, loaded: Any, why: str) -> UserInputError:
    return UserInputError(f"LoRA {use.name!r} ({use.path.name}) does not fit the model {loaded.ref.name}: {why}",
                          "it was made for another model or family; use a LoRA made for this model's family")


def _load_adapter(loaded: Any, pipeline: Any, use: Any) -> Adapter:
    from sdkit.networks.lora_formats import check_family

    info = use.info
    check_family(info, use.name, loaded.ref.family, loaded.ref.name)
    adapter_name = f"lora_{use.short_hash}"
    log.info("loading %s %s (%s, %d layers) as adapter %s", info.label, use.name, info.path, info.modules,
             adapter_name)
    library_log = logging.getLogger("diffusers")
    level = library_log.level
    library_log.setLevel(logging.CRITICAL)  # diffusers logs a failed load as an error; sdkit says it once, below
    try:
        with warnings.catch_warnings():  # PEFT warns that a second adapter joins the first: that is the design
            warnings.filterwarnings("ignore", message="Already found a `peft_config` attribute")
            parts = _load_file(loaded, pipeline, use, info, adapter_name)
    except UserInputError:
        _forget(loaded.components, adapter_name)
        raise
    except (ValueError, RuntimeError, KeyError, TypeError, IndexError) as error:
        _forget(loaded.components, adapter_name)
        lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()] or [type(error).__name__]
        reason = next((line for line in lines if line.startswith("size mismatch")), lines[0])
        raise _does_not_fit(use, loaded, reason[:300]) from None
    finally:
        library_log.setLevel(level)
    injected = sum(len(_tuner_layers(loaded.components[part], adapter_name)) for part in parts)
    if injected < info.modules:
        _forget(loaded.components, adapter_name)
        raise _does_not_fit(use, loaded, f"only {injected} of its {info.modules} layers are in it")
    return Adapter(adapter_name, parts)


def activate(loaded: Any, pipeline: Any, uses: list[Any]) -> None:
    """Make exactly `uses` act on the model for the next draw (loading any file not loaded yet)."""
    adapters: dict[str, Adapter] = loaded.lora_adapters
    weights: dict[str, list[float]] = {}
    for use in uses:
        if use.short_hash not in adapters:
            adapters[use.short_hash] = _load_adapter(loaded, pipeline, use)
        adapter = adapters.pop(use.short_hash)
        adapters[use.short_hash] = adapter  # the most recently used last
        total = weights.setdefault(adapter.name, [0.0, 0.0])
        total[0] += use.text_encoder_weight  # the same file twice: its weights add, as two applications would
        total[1] += use.unet_weight
    in_use = {use.short_hash for use in uses}
    for short_hash in [key for key in adapters if key not in in_use][:max(0, len(adapters) - MAX_LOADED_ADAPTERS)]:
        log.info("dropping LoRA adapter %s (more than %d loaded)", adapters[short_hash].name, MAX_LOADED_ADAPTERS)
        _forget(loaded.components, adapters.pop(short_hash).name)
    if not adapters:
        return  # none loaded: adapter layers left without adapters (a dropped file) call their original alone
    from diffusers.utils.peft_utils import set_adapter_layers, set_weights_and_activate_adapters

    parts_of = {adapter.name: adapter.parts for adapter in adapters.values()}
    for part in PARTS:
        model = loaded.components.get(part)
        if model is None or not _tuner_layers(model):
            continue
        chosen = [(name, weight) for name, (text_weight, unet_weight) in weights.items()
                  if part in parts_of[name] and (weight := unet_weight if part == "unet" else text_weight) != 0]
        set_adapter_layers(model, enabled=bool(chosen))
        if chosen:
            set_weights_and_activate_adapters(model, [name for name, _ in chosen], [weight for _, weight in chosen])
