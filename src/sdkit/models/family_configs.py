"""The diffusers configuration each family needs to load a single-file checkpoint fully offline.

`configs/<family>[-inpaint|-v]/` in this package holds model_index.json, each component's config.json,
the scheduler config and the tokenizer configs, as the reference diffusers repositories have them:
sd1 (SD 1.5), sd1-inpaint, sd2 (2.1 base, 512, epsilon), sd2-v (2.1, 768, v-prediction), sd2-inpaint,
sdxl (1.0 base), sdxl-inpaint. The tokenizer vocabularies are not shipped as such; `config_folder`
assembles a complete folder in the cache, adding the CLIP vocab.json and merges.txt built by
`sdkit.models.clip_vocab`, and hands that to `from_single_file(config=...)`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from sdkit.core.models import Family
from sdkit.runtime.paths import paths

CONFIGS_DIR = Path(__file__).parent / "configs"
TOKENIZER_FOLDERS = ("tokenizer", "tokenizer_2")


def variant_name(family: Family, inpainting: bool, prediction_type: str) -> str:
    """The shipped config folder for a model: inpainting first, then v-prediction (SD 2.x only)."""
    if inpainting:
        return f"{family}-inpaint"
    if family == Family.SD2 and prediction_type == "v_prediction":
        return "sd2-v"
    return str(family)


def _shipped_digest(source: Path) -> str:
    digest = hashlib.sha256()
    for file in sorted(source.rglob("*")):
        if file.is_file():
            digest.update(file.relative_to(source).as_posix().encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:12]


def config_folder(family: Family, inpainting: bool = False, prediction_type: str = "epsilon") -> Path:
    """A complete diffusers config folder (no weights) for this kind of model, built once in the cache."""
    from sdkit.models.clip_vocab import clip_tokenizer_files

    name = variant_name(family, inpainting, prediction_type)
    source = CONFIGS_DIR / name
    target = paths().cache_dir / "model-configs" / f"{name}-{_shipped_digest(source)}"
    if (target / "model_index.json").is_file():
        return target
    vocab = clip_tokenizer_files()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
    try:
        shutil.copytree(source, staging, dirs_exist_ok=True)
        for folder in TOKENIZER_FOLDERS:
            if (staging / folder).is_dir():
                for file_name in ("vocab.json", "merges.txt"):
                    shutil.copyfile(vocab / file_name, staging / folder / file_name)
        try:
            os.replace(staging, target)  # atomic: a half-built folder is never seen
        except OSError:
            if not (target / "model_index.json").is_file():  # not another process winning the race
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
