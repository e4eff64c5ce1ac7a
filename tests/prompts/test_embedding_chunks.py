"""Chunking with textual-inversion embeddings (a1111-prompts.md §2, §6), on sdkit's bundled SD 1.x CLIP tokenizer:
a name's tokens become the embedding's slots with the run's weight, and an embedding is never split."""

from __future__ import annotations

import pytest

from sdkit.core.errors import UserInputError
from sdkit.prompts.chunks import EMBEDDING_SLOT_ID, EmbeddingMatcher, TokenizerInfo, chunk_runs
from sdkit.prompts.emphasis import parse_emphasis


@pytest.fixture(scope="module")
def clip():
    from transformers import CLIPTokenizer

    from sdkit.core.models import Family
    from sdkit.models.family_configs import config_folder

    return TokenizerInfo.of(CLIPTokenizer.from_pretrained(config_folder(Family.SD1) / "tokenizer"))


def matcher(clip, counts, asked=None):
    def vector_count(name):
        if asked is not None:
            asked.append(name)
        return counts[name]

    return EmbeddingMatcher(counts, clip, vector_count)


def chunks_of(prompt, clip, counts, asked=None):
    return chunk_runs(parse_emphasis(prompt), clip, embeddings=matcher(clip, counts, asked)).chunks


def test_a_name_becomes_its_vector_count_of_slots_with_the_runs_weight(clip):
    assert len(clip.encode("glowstyle")) > 1  # a name of several tokens: all of them are replaced
    [chunk] = chunks_of("a cat, (glowstyle:1.3) painting", clip, {"glowstyle": 4})
    [fix] = chunk.fixes
    before = clip.encode("a cat, ")
    assert fix.name == "glowstyle" and fix.vectors == 4 and fix.offset == 1 + len(before)
    assert chunk.tokens[1:1 + len(before)] == before
    assert chunk.tokens[fix.offset:fix.offset + 4] == [EMBEDDING_SLOT_ID] * 4
    assert chunk.weights[fix.offset:fix.offset + 4] == [1.3] * 4
    after = clip.encode(" painting")
    assert chunk.tokens[fix.offset + 4:fix.offset + 4 + len(after)] == after


def test_only_names_the_prompt_uses_are_read_and_a_name_inside_a_word_is_no_name(clip):
    asked = []
    [chunk] = chunks_of("glowstyles and GlowStyle", clip, {"glowstyle": 2, "unused": 3}, asked)
    assert asked == ["glowstyle"]  # the CLIP tokenizer lowercases: GlowStyle is the name
    assert [fix.offset for fix in chunk.fixes] == [1 + len(clip.encode("glowstyles and "))]
    assert chunk.tokens[1:1 + len(clip.encode("glowstyles"))] == clip.encode("glowstyles")


def test_the_longest_name_wins_and_a_name_split_by_brackets_is_not_one(clip):
    [chunk] = chunks_of("glow style", clip, {"glow": 1, "glow style": 3})
    assert [(fix.name, fix.vectors) for fix in chunk.fixes] == [("glow style", 3)]
    [chunk] = chunks_of("(glow) style", clip, {"glow style": 3})
    assert chunk.fixes == []  # two runs: A1111 looks for names within one run's tokens


def test_an_embedding_that_does_not_fit_starts_the_next_chunk(clip):
    assert len(clip.encode("cat")) == 1
    words = " ".join(["cat"] * 72)
    first, second = chunks_of(words + " glowstyle dog", clip, {"glowstyle": 5})
    assert first.fixes == [] and first.tokens[1:73] == clip.encode("cat") * 72
    assert first.tokens[73:76] == [clip.end] * 3  # padded: the 5 slots would not fit in the 3 left
    assert [(fix.offset, fix.vectors) for fix in second.fixes] == [(1, 5)]
    assert second.tokens[6] == clip.encode("dog")[0]
    exact, = chunks_of(" ".join(["cat"] * 70) + " glowstyle", clip, {"glowstyle": 5})
    assert exact.fixes[0].offset == 71 and exact.tokens[71:76] == [EMBEDDING_SLOT_ID] * 5  # fits exactly


def test_the_comma_backtrack_moves_whole_embeddings_with_the_words_after_the_comma(clip):
    prompt = " ".join(["cat"] * 68) + ", dog glowstyle " + " ".join(["cat"] * 10)
    first, second = chunks_of(prompt, clip, {"glowstyle": 3})
    assert first.fixes == [] and first.tokens[69] == clip.comma and set(first.tokens[70:76]) == {clip.end}
    assert second.tokens[1] == clip.encode("dog")[0]
    assert [(fix.offset, fix.vectors) for fix in second.fixes] == [(2, 3)]
    assert second.tokens[2:5] == [EMBEDDING_SLOT_ID] * 3


def test_break_and_the_token_count_count_slots(clip):
    first, second = chunks_of("glowstyle BREAK (glowstyle:0.5)", clip, {"glowstyle": 2})
    assert first.fixes[0].offset == 1 and second.fixes[0].offset == 1 and second.weights[1:3] == [0.5, 0.5]
    chunked = chunk_runs(parse_emphasis("a glowstyle"), clip, embeddings=matcher(clip, {"glowstyle": 6}))
    assert chunked.token_count == 1 + 6


def test_an_embedding_longer_than_a_chunk_is_refused(clip):
    with pytest.raises(UserInputError, match="'glowstyle' has 76 vectors, more than the 75 tokens"):
        chunks_of("glowstyle", clip, {"glowstyle": 76})


def test_without_embeddings_the_chunks_are_as_before(clip):
    prompt = "a glowstyle cat, " * 10
    plain = chunk_runs(parse_emphasis(prompt), clip).chunks
    matched = chunk_runs(parse_emphasis(prompt), clip, embeddings=matcher(clip, {})).chunks
    assert [(c.tokens, c.weights, c.fixes) for c in plain] == [(c.tokens, c.weights, c.fixes) for c in matched]
