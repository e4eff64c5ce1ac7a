"""The CLIP vocabulary built from the shipped merges list tokenizes exactly as CLIP does."""

from __future__ import annotations

import json

from sdkit.core.models import Family
from sdkit.models.clip_vocab import VOCAB_SIZE, build_vocab_and_merges, clip_tokenizer_files
from sdkit.models.family_configs import config_folder


def test_vocabulary_has_clips_size_and_layout():
    vocab, merges = build_vocab_and_merges()
    assert len(vocab) == VOCAB_SIZE == 49408
    assert len(merges) == 48894
    assert vocab["!"] == 0 and vocab["!</w>"] == 256
    assert vocab["<|startoftext|>"] == 49406 and vocab["<|endoftext|>"] == 49407
    assert vocab["a</w>"] == 320 and vocab["photo</w>"] == 1125 and vocab["cat</w>"] == 2368


def test_files_are_built_once_into_the_cache(sdkit_home):
    folder = clip_tokenizer_files()
    assert folder.is_relative_to(sdkit_home / "cache")
    vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
    assert len(vocab) == 49408
    stamp = (folder / "vocab.json").stat().st_mtime_ns
    assert clip_tokenizer_files() == folder
    assert (folder / "vocab.json").stat().st_mtime_ns == stamp  # not rebuilt


def test_family_tokenizers_encode_like_clip_and_pad_as_their_models_do():
    from transformers import CLIPTokenizer

    sd1 = CLIPTokenizer.from_pretrained(config_folder(Family.SD1) / "tokenizer")
    # The ids of OpenAI's CLIP tokenizer for this prompt (bos, a, photo, of, a, cat, eos).
    assert sd1("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]
    assert sd1("A Photo of a CAT!!").input_ids[1:6] == [320, 1125, 539, 320, 2368]
    assert len(sd1) == 49408 and sd1.model_max_length == 77
    assert sd1.pad_token == "<|endoftext|>" and sd1.pad_token_id == 49407

    sd2 = CLIPTokenizer.from_pretrained(config_folder(Family.SD2, prediction_type="v_prediction") / "tokenizer")
    assert sd2("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]
    assert sd2.pad_token == "!" and sd2.pad_token_id == 0
    padded = sd2("a cat", padding="max_length", max_length=77).input_ids
    assert padded[:4] == [49406, 320, 2368, 49407] and set(padded[4:]) == {0}

    sdxl = config_folder(Family.SDXL)
    first = CLIPTokenizer.from_pretrained(sdxl / "tokenizer")
    second = CLIPTokenizer.from_pretrained(sdxl / "tokenizer_2")
    assert first.pad_token_id == 49407 and second.pad_token_id == 0
    assert first("a photo of a cat").input_ids == second("a photo of a cat").input_ids
