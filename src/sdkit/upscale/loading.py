"""Loading upscaler weights safely and turning them into a runnable spandrel model, cached per process.

spandrel detects the architecture (ESRGAN/Real-ESRGAN, SwinIR, HAT, ...) from the state dict's keys
and shapes. The file itself is read here, not by spandrel, so that pickles are always opened with
`torch.load(weights_only=True)` and every failure becomes a `UserInputError` the user can act on.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sdkit.core.errors import UserInputError
from sdkit.upscale.files import resolve_model_file

log = logging.getLogger(__name__)

# Loaded models kept per process; two is enough for "generate, then upscale" without holding many.
_CACHE_SIZE = 2
_cache: OrderedDict[tuple[Any, ...], Upscaler] = OrderedDict()


@dataclass
class Upscaler:
    """A loaded upscaler model, ready to run on `device` in `dtype`."""

    descriptor: Any  # spandrel.ImageModelDescriptor
    name: str  # the file stem, written into image metadata
    path: Path
    architecture: str  # spandrel's architecture id, e.g. "ESRGAN"
    scale: int  # the model's native scale
    input_channels: int  # 1 (greyscale models) or 3
    device: str
    dtype: Any  # torch.dtype
    tags: list[str] = field(default_factory=list)
    tiling_advice: str = "SUPPORTED"  # spandrel's ModelTiling name: SUPPORTED, DISCOURAGED or INTERNAL

    @property
    def dtype_name(self) -> str:
        from sdkit.runtime.device import dtype_label

        return dtype_label(self.dtype)

    @property
    def num_filters(self) -> int | None:
        """Feature channels, where the architecture's tags say (ESRGAN: "64nf"); used for memory estimates."""
        for tag in self.tags:
            if tag.endswith("nf") and tag[:-2].isdigit():
                return int(tag[:-2])
        return None


def supported_architectures() -> list[str]:
    """The architecture ids spandrel can detect, in its registry order."""
    from spandrel import MAIN_REGISTRY

    return [support.architecture.id for support in MAIN_REGISTRY.architectures()]


def read_state_dict(path: Path) -> dict[str, Any]:
    """The tensors in a weight file, read without running any code stored in it."""
    import pickle

    import torch

    name = path.name
    if path.stat().st_size == 0:
        raise UserInputError(f"{name} is empty (0 bytes)", "download the weight file again")
    if path.suffix.lower() == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError) as error:
            raise UserInputError(f"{name} is not a readable .safetensors file: {error}",
                                 "download the weight file again") from error
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "global" not in str(error).lower():  # not a forbidden object: the bytes are simply no pickle
            raise UserInputError(f"{name} is not a readable PyTorch weight file (damaged or another format)",
                                 "download the weight file again, or use its .safetensors version") from error
        # weights_only refuses any pickled object that is not a tensor or plain container: such a file
        # could run code on load, so it is refused, not retried without the guard.
        raise UserInputError(
            f"refused to load {name}: it holds Python objects besides weights, and loading it could run code",
            "use a .safetensors version of the model, or one saved as a plain state dict",
        ) from error
    except (RuntimeError, EOFError, OSError, ValueError) as error:
        raise UserInputError(f"{name} is not a readable PyTorch weight file: {error}",
                             "download the weight file again, or use its .safetensors version") from error
    if not isinstance(data, dict):
        raise UserInputError(f"{name} holds a {type(data).__name__}, not a state dict of weights",
                             "use the model's weight file (a state dict), e.g. RealESRGAN_x4plus.pth")
    return data


def describe_state_dict(state_dict: dict[str, Any], name: str) -> Any:
    """The spandrel model descriptor for these weights; a clear error when spandrel cannot use them."""
    from spandrel import ImageModelDescriptor, ModelLoader, UnsupportedModelError

    try:
        descriptor = ModelLoader(device="cpu").load_from_state_dict(state_dict)
    except UnsupportedModelError:
        raise UserInputError(
            f"{name}: unknown upscaler architecture (not one spandrel recognises)",
            f"supported architectures: {', '.join(supported_architectures())}",
        ) from None
    except Exception as error:  # an architecture matched the keys but the shapes did not fit
        raise UserInputError(
            f"{name}: the weights look like a known architecture but could not be loaded "
            f"({type(error).__name__}: {error})",
            "the file may be damaged or a variant spandrel does not support; "
            f"supported architectures: {', '.join(supported_architectures())}",
        ) from error
    arch = descriptor.architecture.id
    if not isinstance(descriptor, ImageModelDescriptor):
        raise UserInputError(f"{name} is a {arch} {descriptor.purpose.lower()} model, not an upscaler",
                             "use an image-to-image upscaler such as Real-ESRGAN")
    if descriptor.input_channels not in (1, 3) or descriptor.output_channels != descriptor.input_channels:
        raise UserInputError(
            f"{name}: a {arch} model with {descriptor.input_channels} input and "
            f"{descriptor.output_channels} output channels is not supported",
            "sdkit runs upscalers that map RGB to RGB or greyscale to greyscale",
        )
    return descriptor


def _choose_dtype(requested: str, device: str, descriptor: Any, name: str) -> Any:
    import torch

    from sdkit.runtime.device import choose_dtype

    dtype = choose_dtype(requested, device)
    supported = {torch.float32: True, torch.float16: descriptor.supports_half,
                 torch.bfloat16: descriptor.supports_bfloat16}
    if supported.get(dtype, False):
        return dtype
    if requested == "auto":  # the device prefers half precision, the architecture does not allow it
        return torch.bfloat16 if descriptor.supports_bfloat16 and device.startswith("cuda") else torch.float32
    raise UserInputError(f"{name}: the {descriptor.architecture.id} architecture does not run in {requested}",
                         "use --dtype fp32 (or auto)")


def load_upscaler(model: str | Path | None, device: str = "auto", dtype: str = "auto") -> Upscaler:
    """Load `model` (a file path or a name in `<models>/upscale`) on `device`, reusing a cached copy."""
    from sdkit.runtime.device import choose_device

    path = resolve_model_file(str(model) if model is not None else None)
    chosen_device = choose_device(device)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size, chosen_device, dtype)
    if key in _cache:
        _cache.move_to_end(key)
        return _cache[key]

    state_dict = read_state_dict(path)
    descriptor = describe_state_dict(state_dict, path.name)
    chosen_dtype = _choose_dtype(dtype, chosen_device, descriptor, path.name)
    descriptor.to(chosen_device, chosen_dtype).eval()
    upscaler = Upscaler(
        descriptor=descriptor,
        name=path.stem,
        path=path,
        architecture=descriptor.architecture.id,
        scale=int(descriptor.scale),
        input_channels=int(descriptor.input_channels),
        device=chosen_device,
        dtype=chosen_dtype,
        tags=list(descriptor.tags),
        tiling_advice=descriptor.tiling.name,
    )
    log.info("loaded upscaler %s: %s x%d %s on %s (%s)", path, upscaler.architecture, upscaler.scale,
             " ".join(upscaler.tags), chosen_device, upscaler.dtype_name)
    _cache[key] = upscaler
    while len(_cache) > _CACHE_SIZE:
        _cache.popitem(last=False)
    return upscaler


def clear_cache() -> None:
    """Forget loaded upscalers (tests; freeing memory between jobs)."""
    _cache.clear()
