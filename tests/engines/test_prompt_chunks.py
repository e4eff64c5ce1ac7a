"""A prompt that fits one window is chunked into exactly the token row each family's pipeline builds."""

from __future__ import annotations

import pytest

from sdkit.prompts.chunks import TokenizerInfo, chunk_runs
from sdkit.prompts.emphasis import parse_emphasis


@pytest.mark.parametrize("family,tokenizer_name", [("sd1", "tokenizer"), ("sd2", "tokenizer"),
                                                   ("sdxl", "tokenizer"), ("sdxl", "tokenizer_2")])
def test_one_chunk_equals_the_pipelines_own_padding(tiny_pipeline_dir, family, tokenizer_name):
    from transformers import CLIPTokenizer

    tokenizer = CLIPTokenizer.from_pretrained(tiny_pipeline_dir(family) / tokenizer_name)
    prompt = "a red circle, on blue"
    [chunk] = chunk_runs(parse_emphasis(prompt), TokenizerInfo.of(tokenizer)).chunks
    theirs = tokenizer(prompt, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                       return_tensors="pt").input_ids
    assert [chunk.tokens] == theirs.tolist()


def test_long_prompt_rows_are_75_tokens_between_markers(tiny_pipeline_dir):
    from transformers import CLIPTokenizer

    tokenizer = CLIPTokenizer.from_pretrained(tiny_pipeline_dir("sd1") / "tokenizer")
    info = TokenizerInfo.of(tokenizer)
    ids = info.encode("x" * 100)
    rows = [chunk.tokens for chunk in chunk_runs(parse_emphasis("x" * 100), info).chunks]
    assert [len(row) for row in rows] == [77, 77]
    assert rows[0][1:76] == ids[:75] and rows[1][1:26] == ids[75:]
    assert all(row[0] == tokenizer.bos_token_id for row in rows)
    assert rows[1][26] == tokenizer.eos_token_id and set(rows[1][27:]) == {tokenizer.pad_token_id}
