"""A1111's emphasis arithmetic on a real (tiny) CLIP text encoder: the demo model's."""

from __future__ import annotations

import pytest
import torch

from sdkit.prompts.chunks import TokenizerInfo, chunk_runs
from sdkit.prompts.encode import apply_emphasis, encode_chunks, runs_for


@pytest.fixture(scope="module")
def demo():
    from transformers import CLIPTextModel, CLIPTokenizer

    from sdkit.demo import DEMO_MODEL_DIR

    tokenizer = CLIPTokenizer.from_pretrained(DEMO_MODEL_DIR / "tokenizer")
    encoder = CLIPTextModel.from_pretrained(DEMO_MODEL_DIR / "text_encoder").eval()
    return TokenizerInfo.of(tokenizer), tokenizer, encoder


def test_original_emphasis_multiplies_then_restores_the_mean():
    z = torch.randn(1, 5, 8, dtype=torch.float64)
    weights = torch.tensor([[1.0, 1.5, 1.0, 0.5, 1.0]], dtype=torch.float64)
    weighted = apply_emphasis(z, weights, "original")
    expected = z * weights[..., None]
    expected = expected * (z.mean() / expected.mean())
    assert torch.equal(weighted, expected) and torch.isclose(weighted.mean(), z.mean())
    assert torch.equal(apply_emphasis(z, weights, "no-norm"), z * weights[..., None])
    assert torch.equal(apply_emphasis(z, weights, "ignore"), z)


def test_a_plain_prompt_encodes_exactly_as_the_encoder_does(demo):
    info, tokenizer, encoder = demo
    [chunk] = chunk_runs(runs_for("a red circle", "original"), info).chunks
    plain = tokenizer("a red circle", padding="max_length", max_length=tokenizer.model_max_length,
                      return_tensors="pt").input_ids
    assert chunk.tokens == plain[0].tolist()
    ours, _ = encode_chunks(encoder, [chunk])
    with torch.inference_mode():
        theirs = encoder(plain)[0]
    assert torch.equal(ours, theirs)


def test_weights_change_only_through_the_reference_arithmetic(demo):
    info, tokenizer, encoder = demo
    [plain] = chunk_runs(runs_for("a red circle", "original"), info).chunks
    [weighted] = chunk_runs(runs_for("a (red:1.5) circle", "original"), info).chunks
    assert weighted.tokens == plain.tokens and weighted.weights[2] == 1.5
    z, _ = encode_chunks(encoder, [plain])
    ours, _ = encode_chunks(encoder, [weighted])
    expected = z * torch.tensor(weighted.weights)[None, :, None]
    expected = expected * (z.mean() / expected.mean())
    assert torch.equal(ours, expected)
    literal, _ = encode_chunks(encoder, chunk_runs(runs_for("a (red:1.5) circle", "none"), info).chunks)
    assert not torch.equal(literal, z)  # "none": the brackets are text, so other tokens


def test_chunks_are_joined_along_the_sequence_and_clip_skip_takes_an_earlier_layer(demo):
    info, _, encoder = demo
    chunks = chunk_runs(runs_for("a red circle BREAK a blue square", "original"), info).chunks
    joined, _ = encode_chunks(encoder, chunks)
    assert joined.shape[1] == 2 * 16
    first, _ = encode_chunks(encoder, chunks[:1])
    assert torch.equal(joined[:, :16], first)
    skipped, _ = encode_chunks(encoder, chunks[:1], hidden_layer=-2, layer_norm=True)
    assert skipped.shape == first.shape and not torch.equal(skipped, first)
