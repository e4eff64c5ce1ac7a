"""Finding upscaler weight files: an explicit path, or a name looked up in the models folder.

Names are matched against the files that really are in `<models>/upscale/` (by file stem, ignoring
case), so a name can never reach outside that folder. Nothing here imports torch.
"""

from __future__ import annotations

from pathlib import Path

from sdkit.core.errors import UnknownKeyError, UserInputError

# Weight formats sdkit reads. `.pth`/`.pt`/`.ckpt` are pickles and are opened with weights_only=True.
WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".ckpt")
SUBFOLDER = "upscale"


def upscale_models_dir() -> Path:
    """The folder where upscaler weights are looked up by name: `<models folder>/upscale`."""
    from sdkit.runtime.config import models_dir

    return models_dir() / SUBFOLDER


def _weight_files() -> list[Path]:
    folder = upscale_models_dir()
    if not folder.is_dir():
        return []
    return [path for path in sorted(folder.iterdir())
            if path.is_file() and path.suffix.lower() in WEIGHT_SUFFIXES]


def list_upscale_models() -> dict[str, Path]:
    """Upscaler files in the models folder, by file stem (the first in name order when two share one)."""
    found: dict[str, Path] = {}
    for path in _weight_files():
        found.setdefault(path.stem, path)
    return found


def _where_hint() -> str:
    return (f"put upscaler weights (.safetensors or .pth, e.g. RealESRGAN_x4plus.pth) in {upscale_models_dir()} "
            "and pass the file name without extension, or pass a path to the file")


def _looks_like_path(model: str) -> bool:
    return "/" in model or "\\" in model or model.startswith(".") or model.startswith("~") or \
        Path(model).suffix.lower() in WEIGHT_SUFFIXES


def resolve_model_file(model: str | None) -> Path:
    """The weight file for `model`: an existing file path, or a name in the upscale models folder.

    Raises `UserInputError` (or `UnknownKeyError`) with a hint saying where weights belong.
    """
    if model is None or not str(model).strip():
        known = sorted(list_upscale_models())
        raise UserInputError(
            "the upscaler needs a model file (--model)",
            (f"installed upscalers: {', '.join(known)}" if known else _where_hint()),
        )
    model = str(model).strip()
    candidate = Path(model).expanduser()
    if candidate.is_file():
        return _check_suffix(candidate)
    if candidate.is_dir():
        raise UserInputError(f"upscaler model {model!r} is a folder, not a weight file", _where_hint())

    from sdkit.runtime.config import models_dir_error

    problem = models_dir_error()  # a models-folder setting that names a file: say so, not "unknown name"
    if problem is not None and "/" not in model and "\\" not in model:
        raise problem
    by_stem = list_upscale_models()
    # "RealESRGAN_x4plus" or "RealESRGAN_x4plus.pth", any case; a name with a path separator is no name
    if "/" not in model and "\\" not in model:
        key = model.lower()
        exact = [path for path in _weight_files() if path.name.lower() == key]
        matches = exact or [path for path in _weight_files() if path.stem.lower() == key]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise UserInputError(
                f"upscaler name {model!r} matches several files: {', '.join(path.name for path in matches)}",
                "pass the full file name (with its extension) or a path",
            )
    if _looks_like_path(model):
        raise UserInputError(f"upscaler model file not found: {model}", _where_hint())
    installed = f"installed upscalers: {', '.join(sorted(by_stem))}; " if by_stem else ""
    raise UnknownKeyError("upscaler model", model, by_stem, hint=installed + _where_hint())


def _check_suffix(path: Path) -> Path:
    if path.suffix.lower() not in WEIGHT_SUFFIXES:
        raise UserInputError(
            f"{path.name}: unsupported upscaler file type {path.suffix or '(none)'!r}",
            f"sdkit reads {', '.join(WEIGHT_SUFFIXES)} weight files",
        )
    return path
