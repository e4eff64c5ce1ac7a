"""Chunking with a real CLIP tokenizer (sdkit's bundled SD 1.x config): 75-token windows, comma backtrack,
BREAK, weights per token, padding and the negative prompt's empty chunks (a1111-prompts.md §2)."""

from __future__ import annotations

import pytest

from sdkit.prompts.chunks import TokenizerInfo, chunk_runs, pad_to_same_length
from sdkit.prompts.emphasis import parse_emphasis


@pytest.fixture(scope="module")
def clip():
    from transformers import CLIPTokenizer

    from sdkit.core.models import Family
    from sdkit.models.family_configs import config_folder

    tokenizer = CLIPTokenizer.from_pretrained(config_folder(Family.SD1) / "tokenizer")
    return TokenizerInfo.of(tokenizer)


def body(chunk):
    return chunk.tokens[1:-1]


def test_a_short_prompt_is_one_chunk_framed_and_padded_with_weights(clip):
    chunked = chunk_runs(parse_emphasis("a (red:1.5) cat"), clip)
    [chunk] = chunked.chunks
    assert len(chunk.tokens) == 77 and chunk.tokens[0] == clip.start and chunk.tokens[-1] == clip.end
    ids = clip.encode("a") + clip.encode("red") + clip.encode(" cat")
    assert chunk.tokens[1:1 + len(ids)] == ids and set(chunk.tokens[1 + len(ids):]) == {clip.end}
    assert chunk.weights[:5] == [1.0, 1.0, 1.5, 1.0, 1.0] and len(chunk.weights) == 77
    assert chunked.token_count == len(ids) == 3


def test_comma_backtrack_moves_the_words_after_the_last_comma(clip):
    word = clip.encode("cat")
    assert len(word) == 1
    # 70 words, a comma, then 10 words: the chunk fills at 75 with the comma 5 tokens back.
    prompt = " ".join(["cat"] * 70) + ", " + " ".join(["dog"] * 10)
    first, second = chunk_runs(parse_emphasis(prompt), clip).chunks
    assert body(first)[70] == clip.comma and body(first)[71:] == [clip.end] * 4
    assert body(second)[:10] == clip.encode("dog") * 10


def test_no_backtrack_when_the_comma_is_more_than_20_tokens_back(clip):
    prompt = "cat, " + " ".join(["dog"] * 100)
    first, second = chunk_runs(parse_emphasis(prompt), clip).chunks
    assert clip.end not in body(first)  # filled to exactly 75 text tokens
    assert body(second)[:26] == clip.encode("dog") * 26


def test_break_starts_a_new_chunk_and_counts_a_full_window(clip):
    chunked = chunk_runs(parse_emphasis("cat BREAK dog"), clip)
    first, second = chunked.chunks
    assert body(first)[0] == clip.encode("cat")[0] and body(first)[1] == clip.end
    assert body(second)[0] == clip.encode("dog")[0]
    assert chunked.token_count == 75 + 1


def test_the_negative_prompt_is_padded_to_as_many_chunks(clip):
    long = chunk_runs(parse_emphasis(" ".join(["cat"] * 80)), clip)
    short = chunk_runs(parse_emphasis(""), clip)
    positive, negative = pad_to_same_length(long, short, clip)
    assert len(positive) == len(negative) == 2
    assert negative[1].tokens == [clip.start] + [clip.end] * 76 and set(negative[1].weights) == {1.0}


def test_a_pad_token_other_than_the_end_token_fills_after_the_first_end(clip):
    from dataclasses import replace

    openclip = replace(clip, pad=0)
    [chunk] = chunk_runs(parse_emphasis("cat"), openclip).chunks
    assert chunk.tokens[:3] == [clip.start, clip.encode("cat")[0], clip.end] and set(chunk.tokens[3:]) == {0}


def test_the_window_follows_the_encoder_length():
    from transformers import CLIPTokenizer

    from sdkit.demo import DEMO_MODEL_DIR

    demo = TokenizerInfo.of(CLIPTokenizer.from_pretrained(DEMO_MODEL_DIR / "tokenizer"))
    assert demo.window == 14
    chunks = chunk_runs(parse_emphasis("a red circle on a blue background " * 3), demo).chunks
    assert all(len(chunk.tokens) == 16 for chunk in chunks) and len(chunks) >= 2
