"""The bundled demo model loads with plain diffusers and draws what it is asked for, as the evaluator reads it.

A small fixed-seed sample of the full evaluation (training/evaluate_demo_model.py): the thresholds sit one
image below what this sample measured, so a broken pipeline, CFG or img2img path fails them.
"""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from sdkit.demo import DEMO_MODEL_DIR
from sdkit.demo.evaluate import read_image, score_images
from sdkit.demo.shapes import HELD_OUT, IMAGE_SIZE, Combo, draw, seen_combos, vocabulary

STEPS = 20
BEST_CFG = 2.0
PROMPTS = list(HELD_OUT[:6]) + random.Random(7).sample(seen_combos(), 6)


@pytest.fixture(scope="module")
def pipeline():
    import torch
    from diffusers import StableDiffusionPipeline

    torch.manual_seed(0)
    pipe = StableDiffusionPipeline.from_pretrained(DEMO_MODEL_DIR, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def generate(pipe, combos: list[Combo], guidance_scale: float = 7.0) -> list:
    import torch

    generators = [torch.Generator("cpu").manual_seed(index) for index in range(len(combos))]
    return pipe(prompt=[combo.caption for combo in combos], generator=generators, num_inference_steps=STEPS,
                guidance_scale=guidance_scale).images


def test_folder_is_a_small_fp16_sd1_layout():
    index = json.loads((DEMO_MODEL_DIR / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionPipeline"
    assert index["unet"] == ["diffusers", "UNet2DConditionModel"]
    assert index["vae"] == ["diffusers", "AutoencoderKL"]
    assert index["text_encoder"] == ["transformers", "CLIPTextModel"]
    scheduler = json.loads((DEMO_MODEL_DIR / "scheduler" / "scheduler_config.json").read_text())
    assert scheduler["beta_schedule"] == "scaled_linear"
    assert (scheduler["beta_start"], scheduler["beta_end"]) == (0.00085, 0.012)
    total = sum(path.stat().st_size for path in DEMO_MODEL_DIR.rglob("*") if path.is_file())
    assert total <= 20 * 1024 * 1024
    from safetensors import safe_open

    weights = sorted(DEMO_MODEL_DIR.glob("*/*.safetensors"))
    assert len(weights) == 3
    for path in weights:
        with safe_open(str(path), framework="pt") as handle:
            assert {str(handle.get_slice(key).get_dtype()) for key in handle.keys()} == {"F16"}, path


def test_tokenizer_reads_every_caption_word_as_one_token():
    from transformers import CLIPTokenizer

    tokenizer = CLIPTokenizer.from_pretrained(DEMO_MODEL_DIR / "tokenizer")
    for word in vocabulary():
        assert len(tokenizer(word, add_special_tokens=False).input_ids) == 1, word
    text_config = json.loads((DEMO_MODEL_DIR / "text_encoder" / "config.json").read_text())
    assert tokenizer.model_max_length == text_config["max_position_embeddings"]
    assert tokenizer.eos_token_id == text_config["eos_token_id"] != 2


def test_default_size_is_the_training_resolution(pipeline):
    assert pipeline.unet.config.sample_size * pipeline.vae_scale_factor == IMAGE_SIZE
    assert {pipeline.unet.dtype, pipeline.vae.dtype, pipeline.text_encoder.dtype} == {pipeline.unet.dtype}


def test_txt2img_draws_the_prompted_colours_and_shape(pipeline):
    # Guidance 2 is this model's best scale (docs/demo-model.md); this sample measured 83 / 42 / 100 %.
    images = generate(pipeline, PROMPTS, guidance_scale=BEST_CFG)
    assert images[0].size == (IMAGE_SIZE, IMAGE_SIZE)
    scores = score_images(images, PROMPTS)
    assert scores["background"] >= 0.75, scores
    assert scores["colour"] >= 0.33, scores
    assert scores["shape"] >= 0.9, scores


def test_cfg_changes_what_is_drawn(pipeline):
    # A pipeline that ignored guidance_scale would draw the same pixels at every scale.
    unguided = np.stack([np.asarray(image, np.float32) for image in generate(pipeline, PROMPTS[:6], 1.0)])
    guided = np.stack([np.asarray(image, np.float32) for image in generate(pipeline, PROMPTS[:6], 7.0)])
    assert np.abs(guided - unguided).mean() > 10


def test_img2img_strength_sets_how_much_changes(pipeline):
    import torch
    from diffusers import StableDiffusionImg2ImgPipeline

    img2img = StableDiffusionImg2ImgPipeline(**pipeline.components)
    rng = random.Random(11)
    combos = PROMPTS[:6]
    sources = [draw(combo, rng) for combo in combos]

    def run(strength: float) -> list:
        return img2img(prompt=[combo.caption for combo in combos], image=sources, strength=strength,
                       num_inference_steps=STEPS, guidance_scale=BEST_CFG,
                       generator=[torch.Generator("cpu").manual_seed(i) for i in range(len(combos))]).images

    def change(results: list) -> float:
        return float(np.mean([np.abs(np.asarray(result, np.float32) - np.asarray(source, np.float32)).mean()
                              for result, source in zip(results, sources, strict=True)]))

    low, high = run(0.2), run(0.9)
    # This model repaints more than it should even at low strength (docs/demo-model.md), so the bound is loose.
    assert change(low) < 0.85 * change(high), (change(low), change(high))
    kept = [read_image(result).background == combo.background for combo, result in zip(combos, low, strict=True)]
    assert sum(kept) >= 5, kept
