"""Tiny random-weight Stable Diffusion models for tests: diffusers folders and LDM single files.

Each family gets the structural traits sdkit's detection and loading rely on, at a few hundred kB:
- sd1: CLIPTextModel (quick_gelu), conv proj_in/proj_out in the UNet, DDIM-style scheduler.
- sd2: OpenCLIP-like text encoder (gelu), linear proj_in/proj_out, per-block head counts, "!" padding,
  epsilon or v-prediction.
- sdxl: CLIPTextModel + CLIPTextModelWithProjection, UNet with addition_embed_type "text_time",
  cross-attention over both encoders' hidden states, Euler scheduler.
All VAEs have 4 blocks, so the latent scale factor is 8 as in real SD (64x64 images -> 8x8 latents).

`write_ldm_single_file` turns such a folder into one checkpoint in the original LDM key layout (the
A1111 format) and writes a sidecar `<stem>.config/` folder next to it, which sdkit uses instead of the
bundled full-size family config (tiny weights do not fit the real configs).

Reusable session fixtures: `tiny_pipeline_dir` / `tiny_single_file` (factories, cached per session).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

FAMILIES = ("sd1", "sd2", "sdxl")
MAX_TOKENS = 77


# ---------------------------------------------------------------------------------------------- parts
def write_char_tokenizer(folder: Path, pad_token: str = "<|endoftext|>") -> Any:
    """A character-level CLIP tokenizer (514 entries, no merges) saved in `folder`, and returned."""
    from transformers import CLIPTokenizer

    from sdkit.models.clip_vocab import byte_symbols

    folder.mkdir(parents=True, exist_ok=True)
    symbols = byte_symbols()
    vocab = {symbol: index for index, symbol in enumerate(symbols)}
    vocab.update({symbol + "</w>": 256 + index for index, symbol in enumerate(symbols)})
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "CLIPTokenizer", "model_max_length": MAX_TOKENS,
        "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>",
        "pad_token": pad_token,
    }), encoding="utf-8")
    return CLIPTokenizer.from_pretrained(folder)


def _text_encoder(tokenizer: Any, hidden_act: str, with_projection: bool = False, hidden_size: int = 32) -> Any:
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=37, num_hidden_layers=2,
        num_attention_heads=4, max_position_embeddings=MAX_TOKENS, projection_dim=32, hidden_act=hidden_act,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return (CLIPTextModelWithProjection if with_projection else CLIPTextModel)(config)


def _vae(scaling_factor: float) -> Any:
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(32, 32, 32, 32),
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=1, norm_num_groups=32, sample_size=64, scaling_factor=scaling_factor,
    )


def _unet(family: str, in_channels: int) -> Any:
    from diffusers import UNet2DConditionModel

    common: dict[str, Any] = dict(
        sample_size=8, in_channels=in_channels, out_channels=4, layers_per_block=1,
        block_out_channels=(32, 64), down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), norm_num_groups=32,
    )
    if family == "sd1":
        return UNet2DConditionModel(**common, cross_attention_dim=32, attention_head_dim=8)
    if family == "sd2":
        return UNet2DConditionModel(**common, cross_attention_dim=32, attention_head_dim=(2, 4),
                                    use_linear_projection=True)
    return UNet2DConditionModel(  # sdxl: both encoders' hidden states (32 + 64), pooled (32) + 6 size ids
        **common, cross_attention_dim=96, attention_head_dim=(2, 4), use_linear_projection=True,
        transformer_layers_per_block=(1, 2), addition_embed_type="text_time", addition_time_embed_dim=8,
        projection_class_embeddings_input_dim=32 + 6 * 8,
    )


def _scheduler(family: str, prediction_type: str) -> Any:
    from diffusers import DDIMScheduler, EulerDiscreteScheduler

    settings = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                    steps_offset=1, prediction_type=prediction_type)
    if family == "sdxl":
        return EulerDiscreteScheduler(**settings, timestep_spacing="leading")
    return DDIMScheduler(**settings, clip_sample=False, set_alpha_to_one=False)


# ------------------------------------------------------------------------------------------- builder
def build_tiny_pipeline(family: str, out_dir: Path, inpainting: bool = False,
                        prediction_type: str = "epsilon", seed: int = 0) -> Path:
    """Save a tiny random-weight diffusers pipeline folder of `family` ("sd1", "sd2", "sdxl") at `out_dir`."""
    import torch
    from diffusers import (
        StableDiffusionInpaintPipeline,
        StableDiffusionPipeline,
        StableDiffusionXLInpaintPipeline,
        StableDiffusionXLPipeline,
    )

    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, not {family!r}")
    out_dir = Path(out_dir)
    work = out_dir.parent / f".{out_dir.name}-tokenizers"
    torch.manual_seed(seed)
    in_channels = 9 if inpainting else 4
    open_clip_pad = "!"  # SD 2.x and SDXL's OpenCLIP tokenizer pads with "!", CLIP with <|endoftext|>
    if family == "sdxl":
        tokenizer = write_char_tokenizer(work / "tokenizer")
        tokenizer_2 = write_char_tokenizer(work / "tokenizer_2", pad_token=open_clip_pad)
        pipeline_class = StableDiffusionXLInpaintPipeline if inpainting else StableDiffusionXLPipeline
        pipeline = pipeline_class(
            unet=_unet(family, in_channels), vae=_vae(0.13025), scheduler=_scheduler(family, prediction_type),
            text_encoder=_text_encoder(tokenizer, "quick_gelu"), tokenizer=tokenizer,
            # Wider than the first encoder, as in real SDXL (768 and 1280): loaders tell them apart by width.
            text_encoder_2=_text_encoder(tokenizer_2, "gelu", with_projection=True, hidden_size=64),
            tokenizer_2=tokenizer_2,
        )
    else:
        tokenizer = write_char_tokenizer(work / "tokenizer", pad_token=open_clip_pad if family == "sd2" else
                                         "<|endoftext|>")
        pipeline_class = StableDiffusionInpaintPipeline if inpainting else StableDiffusionPipeline
        pipeline = pipeline_class(
            unet=_unet(family, in_channels), vae=_vae(0.18215), scheduler=_scheduler(family, prediction_type),
            text_encoder=_text_encoder(tokenizer, "gelu" if family == "sd2" else "quick_gelu"),
            tokenizer=tokenizer, safety_checker=None, feature_extractor=None, requires_safety_checker=False,
        )
    pipeline.save_pretrained(out_dir)
    # transformers 5 saves only tokenizer.json; keep vocab.json/merges.txt too, for transformers 4.
    for name in ("tokenizer", "tokenizer_2"):
        if (work / name).is_dir():
            for file_name in ("vocab.json", "merges.txt"):
                shutil.copy(work / name / file_name, out_dir / name / file_name)
    shutil.rmtree(work, ignore_errors=True)
    return out_dir


# --------------------------------------------------------------------------- diffusers -> LDM layout
def _load_weights(folder: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    files = sorted(folder.glob("*.safetensors"))
    if len(files) != 1:
        raise FileNotFoundError(f"expected one .safetensors weights file in {folder}, found {len(files)}")
    return load_file(files[0])


def _unet_to_ldm(weights: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """diffusers UNet2DConditionModel keys -> `model.diffusion_model.*` (the inverse of diffusers' loader)."""
    resnet_renames = [("norm1", "in_layers.0"), ("conv1", "in_layers.2"), ("time_emb_proj", "emb_layers.1"),
                      ("norm2", "out_layers.0"), ("conv2", "out_layers.3"), ("conv_shortcut", "skip_connection")]
    # (diffusers prefix, ldm prefix, is_resnet), longest prefixes matched first
    prefixes: list[tuple[str, str, bool]] = [
        ("time_embedding.linear_1.", "time_embed.0.", False), ("time_embedding.linear_2.", "time_embed.2.", False),
        ("add_embedding.linear_1.", "label_emb.0.0.", False), ("add_embedding.linear_2.", "label_emb.0.2.", False),
        ("conv_in.", "input_blocks.0.0.", False), ("conv_norm_out.", "out.0.", False),
        ("conv_out.", "out.2.", False),
        ("mid_block.resnets.0.", "middle_block.0.", True), ("mid_block.attentions.0.", "middle_block.1.", False),
        ("mid_block.resnets.1.", "middle_block.2.", True),
    ]
    layers = config["layers_per_block"]
    blocks = len(config["down_block_types"])
    index = 1
    for block in range(blocks):
        for layer in range(layers):
            prefixes.append((f"down_blocks.{block}.resnets.{layer}.", f"input_blocks.{index}.0.", True))
            prefixes.append((f"down_blocks.{block}.attentions.{layer}.", f"input_blocks.{index}.1.", False))
            index += 1
        if block < blocks - 1:
            prefixes.append((f"down_blocks.{block}.downsamplers.0.conv.", f"input_blocks.{index}.0.op.", False))
            index += 1
    index = 0
    for block, block_type in enumerate(config["up_block_types"]):
        for layer in range(layers + 1):
            prefixes.append((f"up_blocks.{block}.resnets.{layer}.", f"output_blocks.{index}.0.", True))
            prefixes.append((f"up_blocks.{block}.attentions.{layer}.", f"output_blocks.{index}.1.", False))
            if layer == layers and block < blocks - 1:
                slot = 2 if "CrossAttn" in block_type else 1
                prefixes.append((f"up_blocks.{block}.upsamplers.0.", f"output_blocks.{index}.{slot}.", False))
            index += 1
    prefixes.sort(key=lambda item: len(item[0]), reverse=True)
    converted = {}
    for key, tensor in weights.items():
        for old, new, is_resnet in prefixes:
            if key.startswith(old):
                rest = key[len(old):]
                if is_resnet:
                    for diffusers_name, ldm_name in resnet_renames:
                        if rest.startswith(diffusers_name + "."):
                            rest = ldm_name + rest[len(diffusers_name):]
                            break
                converted["model.diffusion_model." + new + rest] = tensor
                break
        else:
            raise KeyError(f"no LDM name for UNet weight {key}")
    return converted


def _vae_to_ldm(weights: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """diffusers AutoencoderKL keys -> `first_stage_model.*`; attention as 1x1 convs as in the original."""
    blocks = len(config["up_block_types"])
    converted = {}
    attention_names = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}
    for key, tensor in weights.items():
        new = key.replace("conv_norm_out", "norm_out").replace("conv_shortcut", "nin_shortcut")
        new = new.replace("mid_block.resnets.0", "mid.block_1").replace("mid_block.resnets.1", "mid.block_2")
        if "mid_block.attentions.0." in new:
            head, name = new.split("mid_block.attentions.0.")
            layer, param = name.rsplit(".", 1)
            new = f"{head}mid.attn_1.{attention_names[layer]}.{param}"
            if tensor.ndim == 2:
                tensor = tensor[:, :, None, None]
        if new.startswith("encoder.down_blocks."):
            parts = new.split(".")
            block = parts[2]
            tail = ".".join(parts[3:])
            tail = tail.replace("resnets.", "block.").replace("downsamplers.0.", "downsample.")
            new = f"encoder.down.{block}.{tail}"
        elif new.startswith("decoder.up_blocks."):
            parts = new.split(".")
            block = blocks - 1 - int(parts[2])  # LDM numbers the decoder's up blocks in reverse
            tail = ".".join(parts[3:])
            tail = tail.replace("resnets.", "block.").replace("upsamplers.0.", "upsample.")
            new = f"decoder.up.{block}.{tail}"
        converted["first_stage_model." + new] = tensor
    return converted


def _clip_to_ldm(weights: dict[str, Any], prefix: str) -> dict[str, Any]:
    """HF CLIP text model -> `<prefix>text_model.*` (transformers >= 5.6 drops `text_model.` itself)."""
    converted = {}
    for key, tensor in weights.items():
        if key.startswith("text_projection"):
            continue
        name = key if key.startswith("text_model.") else "text_model." + key
        converted[prefix + name] = tensor
    return converted


def _open_clip_to_ldm(weights: dict[str, Any], prefix: str) -> dict[str, Any]:
    """HF CLIP text model -> OpenCLIP layout (`resblocks`, fused in_proj, `text_projection` transposed)."""
    import torch

    weights = {key.removeprefix("text_model."): tensor for key, tensor in weights.items()}
    hidden = weights["embeddings.token_embedding.weight"].shape[1]
    converted = {
        prefix + "token_embedding.weight": weights["embeddings.token_embedding.weight"],
        prefix + "positional_embedding": weights["embeddings.position_embedding.weight"],
        prefix + "ln_final.weight": weights["final_layer_norm.weight"],
        prefix + "ln_final.bias": weights["final_layer_norm.bias"],
        # SD 2.x's encoder has no projection in diffusers; OpenCLIP always carries one (hidden x hidden).
        prefix + "text_projection": (weights["text_projection.weight"].T.contiguous()
                                     if "text_projection.weight" in weights else torch.eye(hidden)),
    }
    layer_ids = sorted({int(key.split(".")[2]) for key in weights if key.startswith("encoder.layers.")})
    for layer in layer_ids:
        old = f"encoder.layers.{layer}."
        new = f"{prefix}transformer.resblocks.{layer}."
        for kind in ("weight", "bias"):
            converted[new + f"attn.in_proj_{kind}"] = torch.cat(
                [weights[old + f"self_attn.{name}_proj.{kind}"] for name in ("q", "k", "v")])
            converted[new + f"attn.out_proj.{kind}"] = weights[old + f"self_attn.out_proj.{kind}"]
            converted[new + f"ln_1.{kind}"] = weights[old + f"layer_norm1.{kind}"]
            converted[new + f"ln_2.{kind}"] = weights[old + f"layer_norm2.{kind}"]
            converted[new + f"mlp.c_fc.{kind}"] = weights[old + f"mlp.fc1.{kind}"]
            converted[new + f"mlp.c_proj.{kind}"] = weights[old + f"mlp.fc2.{kind}"]
    return converted


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def ldm_state_dict(diffusers_dir: Path) -> dict[str, Any]:
    """All weights of a diffusers SD/SDXL folder under their original LDM (A1111 checkpoint) names."""
    diffusers_dir = Path(diffusers_dir)
    unet_config = _read_json(diffusers_dir / "unet" / "config.json")
    state = _unet_to_ldm(_load_weights(diffusers_dir / "unet"), unet_config)
    state.update(_vae_to_ldm(_load_weights(diffusers_dir / "vae"), _read_json(diffusers_dir / "vae" / "config.json")))
    text_weights = _load_weights(diffusers_dir / "text_encoder")
    if (diffusers_dir / "text_encoder_2").is_dir():
        state.update(_clip_to_ldm(text_weights, "conditioner.embedders.0.transformer."))
        second = _load_weights(diffusers_dir / "text_encoder_2")
        state.update(_open_clip_to_ldm(second, "conditioner.embedders.1.model."))
    elif unet_config.get("use_linear_projection"):
        state.update(_open_clip_to_ldm(text_weights, "cond_stage_model.model."))
    else:
        state.update(_clip_to_ldm(text_weights, "cond_stage_model.transformer."))
    # Real checkpoints also carry buffers the loaders must ignore: CLIP's position ids, LDM's noise schedule.
    import torch

    for prefix in ("cond_stage_model.transformer.", "conditioner.embedders.0.transformer."):
        if any(key.startswith(prefix) for key in state):
            state[prefix + "text_model.embeddings.position_ids"] = torch.arange(MAX_TOKENS)[None]
    betas = torch.linspace(0.00085**0.5, 0.012**0.5, 1000) ** 2
    state["betas"] = betas
    state["alphas_cumprod"] = torch.cumprod(1 - betas, dim=0)
    return {key: tensor.contiguous() for key, tensor in state.items()}


def copy_config_folder(diffusers_dir: Path, config_dir: Path) -> Path:
    """Copy a diffusers folder without its weights: what `from_single_file(config=...)` needs."""
    weight_suffixes = (".safetensors", ".bin", ".ckpt", ".pt", ".pth")
    shutil.copytree(diffusers_dir, config_dir, dirs_exist_ok=True,
                    ignore=lambda _folder, names: [n for n in names if n.endswith(weight_suffixes)])
    return config_dir


def write_ldm_single_file(diffusers_dir: Path, out_file: Path, with_config: bool = True) -> Path:
    """Write `diffusers_dir` as one LDM-layout checkpoint (.safetensors, or a {"state_dict"} .ckpt).

    With `with_config`, also write the sidecar `<stem>.config/` folder that sdkit loads tiny files with.
    """
    out_file = Path(out_file)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    state = ldm_state_dict(diffusers_dir)
    if out_file.suffix.lower() == ".safetensors":
        from safetensors.torch import save_file

        save_file(state, str(out_file))
    else:
        import torch

        torch.save({"state_dict": state, "global_step": 1}, out_file)
    if with_config:
        copy_config_folder(Path(diffusers_dir), out_file.with_name(out_file.stem + ".config"))
    return out_file


# ------------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="session")
def tiny_pipeline_dir(tmp_path_factory):
    """Factory: `tiny_pipeline_dir(family, inpainting=False, prediction_type="epsilon") -> Path`.

    Built once per session and argument set; treat the folder as read-only.
    """
    built: dict[tuple[str, bool, str], Path] = {}
    root = tmp_path_factory.mktemp("tiny-pipelines")

    def make(family: str, inpainting: bool = False, prediction_type: str = "epsilon") -> Path:
        key = (family, inpainting, prediction_type)
        if key not in built:
            name = f"tiny-{family}{'-inpaint' if inpainting else ''}{'-v' if prediction_type != 'epsilon' else ''}"
            built[key] = build_tiny_pipeline(family, root / name, inpainting, prediction_type)
        return built[key]

    return make


@pytest.fixture(scope="session")
def tiny_single_file(tiny_pipeline_dir, tmp_path_factory):
    """Factory: `tiny_single_file(family, inpainting=False, prediction_type="epsilon", suffix=".safetensors")`.

    An LDM-layout checkpoint with its sidecar `<stem>.config/` folder, built once per session.
    """
    built: dict[tuple[str, bool, str, str], Path] = {}
    root = tmp_path_factory.mktemp("tiny-single-files")

    def make(family: str, inpainting: bool = False, prediction_type: str = "epsilon",
             suffix: str = ".safetensors") -> Path:
        key = (family, inpainting, prediction_type, suffix)
        if key not in built:
            folder = tiny_pipeline_dir(family, inpainting, prediction_type)
            built[key] = write_ldm_single_file(folder, root / (folder.name + suffix))
        return built[key]

    return make
