"""`--backend auto|torch|openvino`: where a loaded SD model's UNet and VAE run, and what `auto` picks.

- `torch`: the modules as diffusers loaded them (every device and dtype).
- `openvino`: on the CPU in fp32, the UNet and the VAE (decoder and encoder) compiled by OpenVINO;
  the text encoder stays in torch (a few percent of a step's time; prompt chunking, CLIP skip and
  embeddings work on it as before). Needs the extra: `pip install 'sdkit-cli[openvino]'`.
- `auto`: `openvino` only where it was measured faster, torch everywhere else (docs/openvino.md):
  the model runs on the CPU in fp32 (`--dtype auto` there means a CPU without native bf16; on one with
  it torch's bf16 is the measured choice), the extra is installed, and either the UNet is large
  (`AUTO_MIN_PARAMETERS`: SD 1.5's conversion is paid back within its first 512² image) or the model
  was converted before. A small model (the bundled demo) runs faster per image on OpenVINO too, but its
  conversion takes longer than hundreds of its images: `auto` uses OpenVINO for it only once
  `--backend openvino` has converted it, and never converts it itself.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sdkit.core.errors import UserInputError

log = logging.getLogger(__name__)

BACKEND_NAMES = ("auto", "torch", "openvino")
INSTALL_HINT = "pip install 'sdkit-cli[openvino]'"
# The demo model's UNet has ~1-3 M parameters, SD 1.5's 860 M; OpenVINO was faster per image on the
# latter and no faster on the former (docs/openvino.md), so `auto` draws the line well between them.
AUTO_MIN_PARAMETERS = 100_000_000


def import_openvino() -> Any:
    """The `openvino` module, or a UserInputError that says how to install it.

    OpenVINO's importer and converter send usage events to Google Analytics by default (and write a
    client id into ~/intel) when the `openvino_telemetry` package is installed, as it is with openvino;
    they fall back to a silent stub when it cannot be imported, which is what sdkit makes happen here.
    Every sdkit module imports openvino only after this function ran.
    """
    if "openvino_telemetry" not in sys.modules:
        sys.modules["openvino_telemetry"] = None  # type: ignore[assignment]  # `import` now raises ImportError
    try:
        import openvino
    except ImportError as error:
        raise UserInputError(f"--backend openvino needs the openvino package, which is not installed ({error})",
                             INSTALL_HINT) from None
    return openvino


def openvino_installed() -> bool:
    """Whether `import openvino` would find the package (without importing it: that takes a second)."""
    try:
        return importlib.util.find_spec("openvino") is not None
    except (ImportError, ValueError):  # ValueError: sys.modules holds None or a module without a spec
        return False


def openvino_load_dtype(backend: str, device: str, dtype: str) -> tuple[str, str]:
    """The device and dtype names to load with: `--backend openvino` loads on the CPU in fp32.

    It refuses another device or dtype asked for explicitly, rather than silently ignoring it.
    """
    if backend not in BACKEND_NAMES:
        raise UserInputError(f"unknown backend {backend!r}", f"use one of {', '.join(BACKEND_NAMES)}")
    if backend != "openvino":
        return device, dtype
    if device not in ("auto", "cpu"):
        raise UserInputError(f"--backend openvino runs on the CPU, not on {device}",
                             "drop --device (or pass --device cpu), or use --backend torch")
    if dtype not in ("auto", "fp32"):
        raise UserInputError(f"--backend openvino computes in fp32, not {dtype}",
                             "drop --dtype (or pass --dtype fp32), or use --backend torch")
    return "cpu", "fp32"


def auto_may_pick_openvino(device: str, dtype: Any) -> bool:
    """Whether `--backend auto` considers OpenVINO for a model loaded on `device` in `dtype`."""
    import torch

    return device == "cpu" and dtype == torch.float32 and openvino_installed()


@dataclass(frozen=True)
class Backend:
    """Where a loaded model runs: `name` ("torch" or "openvino") and OpenVINO's compiled parts by name."""

    name: str = "torch"
    parts: dict[str, Any] = field(default_factory=dict)

    def ran_openvino(self) -> bool:
        """True once any part has served a call on OpenVINO."""
        return any(part.calls for part in self.parts.values())


def apply_backend(components: dict[str, Any], ref: Any, options: Any, device: str, dtype: Any) -> Backend:
    """Put the loaded `components` on the chosen backend, and say which it is."""
    backend = getattr(options, "backend", "auto")
    if backend == "torch":
        return Backend()
    if backend == "auto" and not auto_may_pick_openvino(device, dtype):
        return Backend()
    from sdkit.engines.openvino.convert import LABELS, unet_spec, vae_specs
    from sdkit.engines.openvino.ir_cache import cache_root

    unet, vae = components["unet"], components["vae"]
    unet_part = unet_spec(unet)
    if backend == "auto" and unet_part.parameters < AUTO_MIN_PARAMETERS and not any(cache_root().glob("unet-*")):
        return Backend()  # a small model that was never converted: no need to import openvino to know
    import_openvino()
    from sdkit.engines.openvino.stand_ins import CompiledPart, attach_unet, attach_vae

    decoder_part, encoder_part = vae_specs(vae)
    vae_identity = _vae_identity(ref, options, vae)
    convert_now = backend == "openvino" or unet_part.parameters >= AUTO_MIN_PARAMETERS
    unet_file = _unet_model_file(unet_part, ref, unet, convert_now)
    decoder_file = _model_file(decoder_part, vae_identity, vae, convert_now)
    if unet_file is None or decoder_file is None:
        log.info("--backend auto: torch for %s (small; `--backend openvino` converts it once, then auto uses it)",
                 getattr(ref, "name", "the model"))
        return Backend()
    files = {"unet": unet_file, "vae-decoder": decoder_file,
             # Only img2img and inpaint encode images: converted on first use.
             "vae-encoder": lambda: _model_file(encoder_part, vae_identity, vae)}
    sizes = {"unet": unet_part.parameters, "vae-decoder": decoder_part.parameters,
             "vae-encoder": encoder_part.parameters}
    compiled = {part: CompiledPart(path, LABELS[part], sizes[part]) for part, path in files.items()}
    attach_unet(unet, compiled["unet"], unet_part.input_names[3:])
    attach_vae(vae, compiled["vae-decoder"], compiled["vae-encoder"])
    log.info("%s runs its UNet and VAE on OpenVINO", getattr(ref, "name", "the model"))
    return Backend("openvino", compiled)


def _unet_model_file(spec: Any, ref: Any, unet: Any, convert: bool) -> Path | None:
    from sdkit.engines.openvino.ir_cache import files_identity, weight_files

    path = getattr(ref, "path", None)
    identity = None
    if path is not None:
        identity = files_identity([path]) if path.is_file() else files_identity(weight_files(path / "unet"))
    return _model_file(spec, identity, unet, convert)


def _vae_identity(ref: Any, options: Any, vae: Any) -> str | None:
    """The files the VAE came from: `--vae`'s file or folder, the model folder's vae/, or the checkpoint."""
    from sdkit.engines.openvino.ir_cache import files_identity, weight_files

    override = getattr(options, "vae", None)
    source = Path(override).expanduser() if override else getattr(ref, "path", None)
    if source is None:
        return None
    if source.is_file():
        return files_identity([source])
    folder = source / "vae" if override is None or (source / "vae").is_dir() else source
    return files_identity(weight_files(folder))


def _model_file(spec: Any, identity: str | None, owner: Any, convert: bool = True) -> Path | None:
    """The cached IR of `spec`; converted now when there is none, unless `convert` is False (then None)."""
    import openvino
    import torch

    from sdkit.engines.openvino.convert import convert_part
    from sdkit.engines.openvino.ir_cache import cached_model, module_identity, part_folder, part_key

    if identity is None:
        identity = module_identity(spec.module)
    # diffusers' bookkeeping keys (`_name_or_path`: where it was loaded from; `_use_default_values`: a
    # list in set order, which changes from process to process) say nothing about the computation.
    config = {name: value for name, value in dict(getattr(owner, "config", {}) or {}).items()
              if not name.startswith("_") or name == "_class_name"}
    key = part_key(spec.part, identity, config, str(torch.float32), spec.shapes, openvino.get_version())
    cached = cached_model(spec.part, key)
    if cached is not None:
        log.info("using the cached OpenVINO %s: %s", spec.part, cached.parent)
        return cached
    if not convert:
        return None
    return convert_part(spec, part_folder(spec.part, key), {"key": key, "weights": identity})
