"""Random-weight RRDBNet (ESRGAN / Real-ESRGAN) files in the layouts users meet, built in a blink.

spandrel reads the filter count and block count from the tensor shapes, so a network with 8 filters
and one block is detected as ESRGAN exactly like RealESRGAN_x4plus (64 filters, 23 blocks); only the
growth channels (32) are fixed by the architecture.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch


def old_arch_state(scale: int = 4, filters: int = 8, blocks: int = 1, seed: int = 0,
                   unshuffle: int | None = None) -> dict[str, torch.Tensor]:
    """An ESRGAN state dict in the original ("old-arch") key layout: model.0.weight, model.1.sub....

    Weights are initialised so the output depends on the input and is rarely clipped: kaiming-normal
    convolutions, the dense blocks scaled by 0.1 as basicsr does, the last bias at 0.5 (mid grey).
    """
    from spandrel.architectures.ESRGAN import ESRGAN

    generator = torch.Generator().manual_seed(seed)
    in_channels = 3 * unshuffle**2 if unshuffle else 3
    net_scale = scale * unshuffle if unshuffle else scale
    network = ESRGAN(in_nc=in_channels, out_nc=3, num_filters=filters, num_blocks=blocks, scale=net_scale,
                     shuffle_factor=unshuffle)
    state = {}
    for key, value in network.state_dict().items():
        if key.endswith("weight"):
            fan_in = value[0].numel()
            tensor = torch.randn(value.shape, generator=generator) * (2.0 / fan_in) ** 0.5
            if ".RDB" in key:
                tensor *= 0.1
        else:
            tensor = torch.zeros(value.shape)
        state[key] = tensor
    last = max(int(match.group(1)) for key in state if (match := re.match(r"model\.(\d+)\.bias", key)))
    state[f"model.{last}.bias"] = torch.full_like(state[f"model.{last}.bias"], 0.5)
    state[f"model.{last}.weight"] *= 0.15
    return state


def to_basicsr(old: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The same weights in basicsr's RRDBNet layout (conv_first, body.N.rdbM.convK, conv_up1, ...)."""
    blocks = 1 + max(int(m.group(1)) for key in old if (m := re.match(r"model\.1\.sub\.(\d+)\.RDB", key)))
    tail = sorted({int(m.group(1)) for key in old if (m := re.match(r"model\.(\d+)\.", key))} - {0, 1})
    # tail holds the upsampling convs (3, 6, ...), then hr conv and last conv
    names = {index: f"conv_up{n + 1}" for n, index in enumerate(tail[:-2])}
    names[tail[-2]], names[tail[-1]] = "conv_hr", "conv_last"
    new = {}
    for key, value in old.items():
        if m := re.match(r"model\.1\.sub\.(\d+)\.RDB(\d)\.conv(\d)\.0\.(weight|bias)", key):
            new[f"body.{m.group(1)}.rdb{m.group(2)}.conv{m.group(3)}.{m.group(4)}"] = value
        elif m := re.match(rf"model\.1\.sub\.{blocks}\.(weight|bias)", key):
            new[f"conv_body.{m.group(1)}"] = value
        elif m := re.match(r"model\.0\.(weight|bias)", key):
            new[f"conv_first.{m.group(1)}"] = value
        elif m := re.match(r"model\.(\d+)\.(weight|bias)", key):
            new[f"{names[int(m.group(1))]}.{m.group(2)}"] = value
        else:
            raise AssertionError(f"unexpected key {key}")
    return new


def write_basicsr_pth(path: Path, wrapper: str = "params_ema", **kwargs) -> Path:
    """A Real-ESRGAN release file: `{"params_ema": state}` (or `"params"`) saved with torch.save."""
    torch.save({wrapper: to_basicsr(old_arch_state(**kwargs))}, path)
    return path


def write_safetensors(path: Path, **kwargs) -> Path:
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in to_basicsr(old_arch_state(**kwargs)).items()}, str(path))
    return path


def write_old_style_pth(path: Path, **kwargs) -> Path:
    """An original-ESRGAN / model-site file: a bare state dict with model.N keys."""
    torch.save(old_arch_state(**kwargs), path)
    return path


def write_compact(path: Path, scale: int = 4, channels: int = 3) -> Path:
    """An SRVGGNetCompact file, the architecture of Real-ESRGAN's realesr-general-x4v3 and animevideov3."""
    from safetensors.torch import save_file
    from spandrel.architectures.Compact import Compact

    torch.manual_seed(0)
    network = Compact(num_in_ch=channels, num_out_ch=channels, num_feat=16, num_conv=4, upscale=scale)
    if path.suffix == ".pth":  # as Real-ESRGAN releases it: basicsr's {"params": ...} wrapper
        torch.save({"params": network.state_dict()}, path)
    else:
        save_file({k: v.contiguous() for k, v in network.state_dict().items()}, str(path))
    return path


def write_swinir(path: Path) -> Path:
    """A very small SwinIR x2 (one stage of two blocks), to show a transformer architecture runs too."""
    from safetensors.torch import save_file
    from spandrel.architectures.SwinIR import SwinIR

    torch.manual_seed(0)
    network = SwinIR(upscale=2, img_size=16, window_size=8, embed_dim=24, depths=[2], num_heads=[2],
                     mlp_ratio=2, upsampler="pixelshuffledirect")
    save_file({k: v.contiguous() for k, v in network.state_dict().items()}, str(path))
    return path
