"""Weighted runs into CLIP's 77-token windows, the way A1111 fills them.

Each run is tokenized on its own (no start/end tokens) and every token keeps its run's weight. Tokens
fill chunks of 75 (the encoder's length minus two: 14 for the bundled demo model's 16-token encoder).
When a chunk is full and the next token is not a comma, and the chunk had a comma at most
`comma_backtrack` (20) tokens back, the tokens after that comma move to the next chunk, so phrases
are not cut in half. `BREAK` ends the chunk at once. Each chunk is padded to 75 with the end
token (weight 1), then framed by the start and end tokens: 77. On models whose tokenizer pads with
another token than its end token (SD 2.x's OpenCLIP), the positions after the first end token hold the
pad token, as A1111 does. The prompt and the negative prompt are padded to the same number of chunks
with empty ones. Rules: shared/reference/a1111-prompts.md §2. Pure Python over any tokenizer that
maps text to ids (transformers' CLIPTokenizer in sdkit).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sdkit.prompts.emphasis import Run

CHUNK_TOKENS = 75
COMMA_BACKTRACK = 20


@dataclass(frozen=True)
class TokenizerInfo:
    """What chunking needs of a tokenizer."""

    encode: Callable[[str], list[int]]  # text -> ids, without start/end tokens
    start: int
    end: int
    pad: int
    comma: int | None
    window: int = CHUNK_TOKENS  # text tokens per chunk: the encoder's length minus start and end

    @classmethod
    def of(cls, tokenizer: object) -> TokenizerInfo:
        """From a transformers CLIP tokenizer."""
        vocab = tokenizer.get_vocab()  # type: ignore[attr-defined]

        def encode(text: str) -> list[int]:
            if not text:
                return []
            return list(tokenizer(text, truncation=False, add_special_tokens=False)["input_ids"])  # type: ignore[operator]

        end = int(tokenizer.eos_token_id)  # type: ignore[attr-defined]
        pad = tokenizer.pad_token_id  # type: ignore[attr-defined]
        length = int(getattr(tokenizer, "model_max_length", CHUNK_TOKENS + 2))
        window = length - 2 if 3 <= length <= 100_000 else CHUNK_TOKENS  # some configs say 1e30: "no limit"
        return cls(encode, int(tokenizer.bos_token_id), end, end if pad is None else int(pad),  # type: ignore[attr-defined]
                   vocab.get(",</w>"), window)


@dataclass
class Chunk:
    """One 77-token window: ids and a weight per id (start and end included)."""

    tokens: list[int] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Chunked:
    chunks: list[Chunk]
    token_count: int  # tokens used, as A1111's counter shows them (out of 75 × chunks)


def chunk_runs(runs: Sequence[Run], tokenizer: TokenizerInfo, *, comma_backtrack: int = COMMA_BACKTRACK) -> Chunked:
    """The chunks of one prompt's weighted runs."""
    chunk_tokens = tokenizer.window
    chunks: list[Chunk] = []
    current = Chunk()
    last_comma = -1
    token_count = 0

    def close(is_last: bool = False) -> None:
        nonlocal current, last_comma, token_count
        token_count += len(current.tokens) if is_last else chunk_tokens
        missing = chunk_tokens - len(current.tokens)
        body = current.tokens + [tokenizer.end] * missing
        body_weights = current.weights + [1.0] * missing
        tokens = [tokenizer.start, *body, tokenizer.end]
        if tokenizer.pad != tokenizer.end:
            first_end = tokens.index(tokenizer.end)
            tokens[first_end + 1:] = [tokenizer.pad] * (len(tokens) - first_end - 1)
        chunks.append(Chunk(tokens, [1.0, *body_weights, 1.0]))
        current = Chunk()
        last_comma = -1

    for run in runs:
        if run.is_break:
            close()
            continue
        for token in tokenizer.encode(run.text):
            if token == tokenizer.comma:
                last_comma = len(current.tokens)
            elif (comma_backtrack and len(current.tokens) == chunk_tokens and last_comma != -1
                  and len(current.tokens) - last_comma <= comma_backtrack):
                cut = last_comma + 1
                moved, moved_weights = current.tokens[cut:], current.weights[cut:]
                current.tokens, current.weights = current.tokens[:cut], current.weights[:cut]
                close()
                current.tokens, current.weights = moved, moved_weights
            if len(current.tokens) == chunk_tokens:
                close()
            current.tokens.append(token)
            current.weights.append(run.weight)
    if current.tokens or not chunks:
        close(is_last=True)
    return Chunked(chunks, token_count)


def empty_chunk(tokenizer: TokenizerInfo) -> Chunk:
    """A chunk of no text: start, 75 end tokens (or pads), end; weights 1."""
    return chunk_runs([Run("", 1.0)], tokenizer).chunks[0]


def pad_to_same_length(first: Chunked, second: Chunked, tokenizer: TokenizerInfo) -> tuple[list[Chunk], list[Chunk]]:
    """Both prompts with the same number of chunks: the shorter one gets empty chunks at the end."""
    count = max(len(first.chunks), len(second.chunks))

    def padded(chunked: Chunked) -> list[Chunk]:
        return chunked.chunks + [empty_chunk(tokenizer) for _ in range(count - len(chunked.chunks))]

    return padded(first), padded(second)
