"""Embedding vectors through real (tiny) CLIP text encoders: they replace the token embeddings at their slots,
then emphasis applies, and nothing stays on the encoder. The reference is an independent construction:
the same encoder with the vectors added as new vocabulary rows, fed ids that point at those rows."""

from __future__ import annotations

import copy

import pytest
import torch
from embedding_files import DEMO_WIDTH, TINY_WIDTHS, random_vectors, write_embedding

from sdkit.networks.embeddings import EmbeddingLibrary
from sdkit.prompts.chunks import Chunk, EmbeddingMatcher, TokenizerInfo, chunk_runs
from sdkit.prompts.encode import encode_chunks, runs_for


@pytest.fixture(scope="module")
def demo():
    from transformers import CLIPTextModel, CLIPTokenizer

    from sdkit.demo import DEMO_MODEL_DIR

    tokenizer = CLIPTokenizer.from_pretrained(DEMO_MODEL_DIR / "tokenizer")
    encoder = CLIPTextModel.from_pretrained(DEMO_MODEL_DIR / "text_encoder").eval()
    return TokenizerInfo.of(tokenizer), encoder


def reference(encoder, chunk, vectors, hidden_layer=None):
    """The chunk through a copy of `encoder` whose vocabulary has each slot's vector as a row of its own.

    The last hidden state, or `hidden_layer`'s; and the first output (the pooled one, for SDXL's second).
    """
    extended = copy.deepcopy(encoder)
    table = extended.get_input_embeddings().weight.detach()
    rows = [vectors[fix.name][index] for fix in chunk.fixes for index in range(fix.vectors)]
    extended.resize_token_embeddings(table.shape[0] + len(rows), mean_resizing=False)
    with torch.no_grad():
        extended.get_input_embeddings().weight.copy_(torch.cat([table, torch.stack(rows)]))
    ids = list(chunk.tokens)
    row = table.shape[0]
    for fix in chunk.fixes:
        for index in range(fix.vectors):
            ids[fix.offset + index] = row
            row += 1
    with torch.inference_mode():
        result = extended(torch.tensor([ids]), output_hidden_states=hidden_layer is not None)
    return (result[0] if hidden_layer is None else result.hidden_states[hidden_layer]), result[0]


def test_the_vectors_replace_the_token_embeddings_then_emphasis_applies(demo):
    info, encoder = demo
    vectors = {"glowstyle": random_vectors(3, DEMO_WIDTH, seed=1)}
    matcher = EmbeddingMatcher(vectors, info, lambda name: vectors[name].shape[0])
    [chunk] = chunk_runs(runs_for("a (glowstyle:1.4) circle", "original"), info, embeddings=matcher).chunks
    [fix] = chunk.fixes
    ours, _ = encode_chunks(encoder, [chunk], vectors=vectors)
    z, _ = reference(encoder, chunk, vectors)
    weights = torch.tensor(chunk.weights)[None, :, None]
    assert chunk.weights[fix.offset:fix.offset + 3] == [1.4] * 3
    expected = z * weights
    expected = expected * (z.mean() / expected.mean())
    assert torch.allclose(ours, expected, atol=1e-6, rtol=1e-5)
    no_norm, _ = encode_chunks(encoder, [chunk], vectors=vectors, emphasis="no-norm")
    assert torch.allclose(no_norm, z * weights, atol=1e-6, rtol=1e-5)
    # The slots' own ids embed to something else: without the vectors the output is not the same.
    without, _ = encode_chunks(encoder, [Chunk(chunk.tokens, chunk.weights)])
    assert not torch.allclose(without, ours, atol=1e-3)


def test_the_hook_is_gone_afterwards_and_a_plain_prompt_is_untouched(demo):
    info, encoder = demo
    vectors = {"glowstyle": random_vectors(2, DEMO_WIDTH, seed=2)}
    matcher = EmbeddingMatcher(vectors, info, lambda name: 2)
    [plain] = chunk_runs(runs_for("a red circle", "original"), info).chunks
    before, _ = encode_chunks(encoder, [plain])
    [chunk] = chunk_runs(runs_for("glowstyle", "original"), info, embeddings=matcher).chunks
    encode_chunks(encoder, [chunk], vectors=vectors)
    assert not encoder.get_input_embeddings()._forward_hooks
    after, _ = encode_chunks(encoder, [plain])
    assert torch.equal(before, after)


def test_sdxl_gets_clip_l_in_the_first_encoder_and_clip_g_in_the_second(tiny_pipeline_dir, tmp_path):
    from diffusers import StableDiffusionXLPipeline

    from sdkit.engines.sd.prompts import condition

    pipeline = StableDiffusionXLPipeline.from_pretrained(tiny_pipeline_dir("sdxl"))
    width_l, width_g = TINY_WIDTHS["sdxl"]
    clip_l, clip_g = random_vectors(2, width_l, seed=3), random_vectors(2, width_g, seed=4)
    path = write_embedding(tmp_path / "xlstyle.safetensors", "sdxl", clip_l, clip_g)
    library = EmbeddingLibrary({"xlstyle": path})
    conditioning = condition(pipeline, True, "xlstyle", "", 1, "original", 4, "cpu", embeddings=library)
    [embeddings] = conditioning.embeddings
    first, second = TokenizerInfo.of(pipeline.tokenizer), TokenizerInfo.of(pipeline.tokenizer_2)
    chunk_l = chunk_runs(runs_for("xlstyle", "original"), first,
                         embeddings=EmbeddingMatcher(["xlstyle"], first, lambda name: 2)).chunks[0]
    chunk_g = chunk_runs(runs_for("xlstyle", "original"), second,
                         embeddings=EmbeddingMatcher(["xlstyle"], second, lambda name: 2)).chunks[0]
    expected_l, _ = reference(pipeline.text_encoder, chunk_l, {"xlstyle": clip_l}, hidden_layer=-2)
    expected_g, pooled = reference(pipeline.text_encoder_2, chunk_g, {"xlstyle": clip_g}, hidden_layer=-2)
    assert torch.allclose(embeddings.prompt, torch.cat([expected_l, expected_g], dim=-1), atol=1e-5)
    assert torch.allclose(embeddings.pooled, pooled, atol=1e-5)  # still taken at the end token
    assert conditioning.fields["TI hashes"].startswith("xlstyle: ")

