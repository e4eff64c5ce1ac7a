"""An A1111 PNG that uses its whole prompt language regenerates with `--from-image`.

The image A1111 users share most: weights, BREAK, a LoRA tag, an embedding named in the prompt and
hires fix, with `Lora hashes`, `TI hashes` and the `Hires ...` keys in its infotext. Written here as
A1111 writes it (no sdkit-only keys), on the bundled demo model; `--from-image` must find the LoRA
and the embedding in the models folder and run both passes, giving exactly the image the same
settings typed as flags give.
"""

from __future__ import annotations

import json

import numpy as np
from cli_helpers import run_sdkit
from embedding_files import random_vectors, write_embedding
from lora_files import write_lora
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from sdkit.demo import DEMO_MODEL_DIR, DEMO_MODEL_NAME
from sdkit.networks.embeddings import embedding_short_hash
from sdkit.networks.lora_files import addnet_hash

PROMPT = "a (red:1.4) circle, [blue] background BREAK glowstyle <lora:detail:0.7>"


def _generate(capsys, *args: str) -> dict:
    result = run_sdkit(capsys, "generate", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _pixels_and_text(result: dict) -> tuple[np.ndarray, str]:
    with Image.open(result["images"][0]["path"]) as image:
        return np.asarray(image.convert("RGB")), image.text["parameters"]


def test_an_a1111_png_with_weights_lora_embedding_and_hires_fix_regenerates(capsys, tmp_path):
    models = tmp_path / "models"  # the suite's SDKIT_MODELS_DIR
    lora = write_lora(DEMO_MODEL_DIR, models / "Lora" / "detail.safetensors", seed=3)
    embedding = write_embedding(models / "embeddings" / "glowstyle.safetensors", "emb_params",
                                random_vectors(2, 64, seed=4))
    settings = ("--sampler", "Euler", "--steps", "3", "--cfg-scale", "7", "--seed", "5", "--width", "64",
                "--height", "64", "--rng", "cpu")
    typed = _generate(capsys, "--prompt", PROMPT, *settings, "--hires-scale", "2", "--hires-steps", "2",
                      "--hires-upscaler", "Latent", "-o", str(tmp_path / "typed"))
    typed_pixels, typed_text = _pixels_and_text(typed)
    assert typed_pixels.shape == (128, 128, 3)  # the second pass's size

    a1111_text = (f"{PROMPT}\n"
                  f"Steps: 3, Sampler: Euler, Schedule type: Automatic, CFG scale: 7, Seed: 5, Size: 64x64, "
                  f"Model: {DEMO_MODEL_NAME}, Denoising strength: 0.7, RNG: CPU, Hires upscale: 2, Hires steps: 2, "
                  f'Hires upscaler: Latent, Lora hashes: "detail: {addnet_hash(lora)[:12]}", '
                  f'TI hashes: "glowstyle: {embedding_short_hash(embedding)}", Version: v1.10.1')
    info = PngInfo()
    info.add_text("parameters", a1111_text)
    a1111_png = tmp_path / "from-a1111.png"
    Image.new("RGB", (128, 128)).save(a1111_png, pnginfo=info)

    again = _generate(capsys, "--from-image", str(a1111_png), "-o", str(tmp_path / "again"))
    again_pixels, again_text = _pixels_and_text(again)
    assert np.array_equal(again_pixels, typed_pixels)
    # What sdkit writes is what A1111 wrote: the prompt with its tag, the networks' hashes, both passes.
    for key in ("Lora hashes: ", "TI hashes: ", "Hires upscale: 2", "Hires steps: 2", "Hires upscaler: Latent",
                "Denoising strength: 0.7"):
        assert key in again_text and key in typed_text, key
    assert again_text.startswith(PROMPT)
