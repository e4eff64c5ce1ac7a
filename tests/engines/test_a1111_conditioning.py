"""The SD engines' prompt conditioning against what A1111 v1.10's own code computed.

The literals below were observed by running A1111 v1.10's modules/sd_hijack_clip.py (commit 5ad03e65),
prompt_parser.py (28bd8e14) and sd_emphasis.py (f8391b8a) in a scratch harness outside this repository,
on the bundled demo model's tokenizer and text encoder (A1111's chunk length set to the encoder's window,
14) and on the tests' character tokenizer (window 75); docs/samplers.md "Checked against A1111 v1.10's own
code" has the whole comparison.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from sdkit.engines.sd.prompts import condition, step_index_for_model_call
from sdkit.prompts.chunks import TokenizerInfo, chunk_runs
from sdkit.prompts.emphasis import parse_emphasis
from sdkit.prompts.encode import encode_chunks, runs_for
from sdkit.prompts.schedule import text_per_step


@pytest.fixture(scope="module")
def demo():
    from transformers import CLIPTextModel, CLIPTokenizer

    from sdkit.demo import DEMO_MODEL_DIR

    tokenizer = CLIPTokenizer.from_pretrained(DEMO_MODEL_DIR / "tokenizer")
    encoder = CLIPTextModel.from_pretrained(DEMO_MODEL_DIR / "text_encoder").eval()
    return SimpleNamespace(tokenizer=tokenizer, text_encoder=encoder)


def _condition(pipeline, prompt, negative="", steps=6, **options):
    return condition(pipeline, False, prompt, negative, 1, "original", steps, "cpu", **options)


# A1111: get_learned_conditioning(["a [(red:1.5):blue:3] circle"], 6 steps): both texts in one batch, so
# "Original" emphasis restores the mean of the whole batch. cond[2, :4] of each schedule entry:
A1111_RED_ENTRY = [0.9216728210449219, 1.9223438501358032, -0.09177855402231216, 1.148688554763794]
A1111_BLUE_ENTRY = [-0.19613681733608246, 0.2982196807861328, -0.46992987394332886, 0.728251039981842]
# ... while "a (red:1.5) circle" encoded alone gives cond[2, :4] (its own mean restored):
A1111_RED_ALONE = [0.9065594673156738, 1.8908218145370483, -0.09027359634637833, 1.1298526525497437]


def test_a_weighted_schedule_restores_the_mean_over_all_its_texts_as_a1111(demo):
    conditioning = _condition(demo, "a [(red:1.5):blue:3] circle")
    red, blue = conditioning.embeddings_for_step(1).prompt[0], conditioning.embeddings_for_step(6).prompt[0]
    assert torch.allclose(red[2, :4], torch.tensor(A1111_RED_ENTRY), atol=1e-5)
    assert torch.allclose(blue[2, :4], torch.tensor(A1111_BLUE_ENTRY), atol=1e-5)
    # The old rule (each text's own mean) is what A1111 gives the text alone, ~0.05 away (A1111: 0.0489).
    info = TokenizerInfo.of(demo.tokenizer)
    alone, _ = encode_chunks(demo.text_encoder, chunk_runs(runs_for("a (red:1.5) circle", "original"), info).chunks)
    assert torch.allclose(alone[0, 2, :4], torch.tensor(A1111_RED_ALONE), atol=1e-5)
    assert float((red - alone[0]).abs().max()) > 0.04


def test_prompt_and_negative_keep_their_own_lengths_and_are_padded_only_for_a_pipeline(demo):
    long_prompt = "red circle, blue square, green triangle, white background, yellow circle, orange square"
    # A1111 (pad prompt/negative prompt off, its default): cond 2 chunks, uncond 1 (two model calls).
    embeddings = _condition(demo, long_prompt).embeddings_for_step(1)
    assert embeddings.prompt.shape[1] == 32 and embeddings.negative.shape[1] == 16
    arguments = embeddings.pipeline_arguments(1)  # diffusers' pipelines need one length
    assert arguments["prompt_embeds"].shape[1] == arguments["negative_prompt_embeds"].shape[1] == 32
    assert torch.equal(arguments["prompt_embeds"], embeddings.prompt)
    assert torch.equal(arguments["negative_prompt_embeds"][:, :16], embeddings.negative)
    # The empty negative prompt's chunk, appended: the same tensor again.
    assert torch.equal(arguments["negative_prompt_embeds"][:, 16:], embeddings.negative)
    short = _condition(demo, "(red:1.2) circle", negative=long_prompt).embeddings_for_step(1)
    assert short.prompt.shape[1] == 16 and short.negative.shape[1] == 32
    assert short.pipeline_arguments(2)["prompt_embeds"].shape == (2, 32, 64)


@pytest.fixture(scope="module")
def characters(tmp_path_factory):
    from tiny_models import write_char_tokenizer

    return TokenizerInfo.of(write_char_tokenizer(tmp_path_factory.mktemp("tokenizer")))


# A1111's tokenize_line on the character tokenizer: (prompt, token count, text tokens per chunk, weights ≠ 1).
A1111_CHUNKS = [
    ("x" * 60 + ", " + "y" * 20, 95, [61, 20], [[], []]),  # comma 15 back: the y's move to chunk 2
    ("x" * 50 + ", " + "y" * 30, 81, [75, 6], [[], []]),  # comma 25 back (> 20): cut at 75
    ("(ab:1.2), cd BREAK e", 76, [5, 1], [[1.2], []]),
    ("a" * 80 + ",b", 82, [75, 7], [[], []]),
]


@pytest.mark.parametrize(("prompt", "count", "per_chunk", "weights"), A1111_CHUNKS)
def test_chunks_are_a1111s(characters, prompt, count, per_chunk, weights):
    chunked = chunk_runs(parse_emphasis(prompt), characters)
    assert chunked.token_count == count
    assert [sum(token != characters.end for token in chunk.tokens[1:-1]) for chunk in chunked.chunks] == per_chunk
    assert [sorted({weight for weight in chunk.weights if weight != 1.0}) for chunk in chunked.chunks] == weights


# A1111's reconstruct_cond_batch at model calls 0, 1, ...: the schedule entry each uses (harness, 6 and 5 steps).
A1111_ENTRY_PER_CALL = [
    ("a [red:blue:3] circle", 6, [0, 0, 0, 0, 1, 1, 1, 0]),
    ("[red|blue] circle", 6, [0, 0, 1, 2, 3, 4, 5, 0]),
    ("[a:b:1] [c|d|e]", 5, [0, 0, 1, 2, 3, 4, 0]),
]


@pytest.mark.parametrize(("prompt", "steps", "entries"), A1111_ENTRY_PER_CALL)
def test_the_schedule_entry_of_each_model_call_is_a1111s(prompt, steps, entries):
    from sdkit.prompts.schedule import schedule

    ends = [until for until, _ in schedule(prompt, steps)]
    per_step = [next(entry for entry, until in enumerate(ends) if step <= until) for step in range(1, steps + 1)]
    assert len(per_step) == len(text_per_step(prompt, steps)) == steps
    assert [per_step[step_index_for_model_call(call, steps)] for call in range(len(entries))] == entries
