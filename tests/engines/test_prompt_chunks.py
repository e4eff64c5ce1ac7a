"""Chunked prompt encoding builds exactly the token rows the pipelines build for a prompt that fits."""

from __future__ import annotations

import pytest

from sdkit.engines.sd.prompts import _chunk_tokens, _token_ids


@pytest.mark.parametrize("family,tokenizer_name", [("sd1", "tokenizer"), ("sd2", "tokenizer"),
                                                   ("sdxl", "tokenizer"), ("sdxl", "tokenizer_2")])
def test_one_chunk_equals_the_pipelines_own_padding(tiny_pipeline_dir, family, tokenizer_name):
    from transformers import CLIPTokenizer

    tokenizer = CLIPTokenizer.from_pretrained(tiny_pipeline_dir(family) / tokenizer_name)
    prompt = "a red circle, on blue"
    ours = _chunk_tokens(tokenizer, _token_ids(tokenizer, prompt), 1, "cpu")
    theirs = tokenizer(prompt, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                       return_tensors="pt").input_ids
    assert ours.tolist() == theirs.tolist()


def test_long_prompt_rows_are_75_tokens_between_markers(tiny_pipeline_dir):
    from transformers import CLIPTokenizer

    tokenizer = CLIPTokenizer.from_pretrained(tiny_pipeline_dir("sd1") / "tokenizer")
    ids = _token_ids(tokenizer, "x" * 100)
    rows = _chunk_tokens(tokenizer, ids, 2, "cpu").tolist()
    assert [len(row) for row in rows] == [77, 77]
    assert rows[0][1:76] == ids[:75] and rows[1][1:26] == ids[75:]
    assert all(row[0] == tokenizer.bos_token_id for row in rows)
    assert rows[1][26] == tokenizer.eos_token_id and set(rows[1][27:]) == {tokenizer.pad_token_id}
