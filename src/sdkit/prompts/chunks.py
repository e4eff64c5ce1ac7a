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

Textual-inversion embeddings (§6): with an `EmbeddingMatcher`, a run's tokens that spell an embedding's
name (its file name, tokenized as the prompt is) become that embedding's N slots, each with the run's
weight, and the chunk records an `EmbeddingFix` (where the slots start, which embedding). An embedding
never crosses a chunk boundary: one that does not fit in what is left of the chunk starts a new one;
the comma backtrack moves whole embeddings with the words it moves. The encoder puts the vectors in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from sdkit.core.errors import UserInputError
from sdkit.prompts.emphasis import Run

CHUNK_TOKENS = 75
COMMA_BACKTRACK = 20
# The id an embedding's slots hold (A1111's): the encoder replaces what it embeds to, so any id would do;
# it must only never be the end token, where the pooled output is taken.
EMBEDDING_SLOT_ID = 0


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


@dataclass(frozen=True)
class EmbeddingFix:
    """An embedding's slots in a chunk: `vectors` positions from `offset` (counted from the start token)."""

    offset: int
    name: str
    vectors: int


class EmbeddingMatcher:
    """Finds embedding names in a run's tokens, as A1111 does: the name's own token ids, longest first.

    `vector_count(name)` says how many vectors (slots) an embedding takes in this tokenizer's encoder;
    it is asked only for names the prompt uses, so only those files are read.
    """

    def __init__(self, names: Iterable[str], tokenizer: TokenizerInfo, vector_count: Callable[[str], int]) -> None:
        self._vector_count = vector_count
        self._counts: dict[str, int] = {}
        self._by_first: dict[int, list[tuple[tuple[int, ...], str]]] = {}
        for name in names:
            ids = tuple(tokenizer.encode(name))
            if ids:
                self._by_first.setdefault(ids[0], []).append((ids, name))
        for candidates in self._by_first.values():
            candidates.sort(key=lambda candidate: -len(candidate[0]))

    def __bool__(self) -> bool:
        return bool(self._by_first)

    def match(self, tokens: Sequence[int], at: int) -> tuple[str, int] | None:
        """The embedding whose name starts at `tokens[at]`, and how many tokens the name takes."""
        for ids, name in self._by_first.get(tokens[at], ()):
            if tuple(tokens[at:at + len(ids)]) == ids:
                return name, len(ids)
        return None

    def vectors(self, name: str) -> int:
        if name not in self._counts:
            self._counts[name] = self._vector_count(name)
        return self._counts[name]


@dataclass
class Chunk:
    """One 77-token window: ids and a weight per id (start and end included), and its embeddings' slots."""

    tokens: list[int] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    fixes: list[EmbeddingFix] = field(default_factory=list)


@dataclass(frozen=True)
class Chunked:
    chunks: list[Chunk]
    token_count: int  # tokens used, as A1111's counter shows them (out of 75 × chunks)


def chunk_runs(runs: Sequence[Run], tokenizer: TokenizerInfo, *, comma_backtrack: int = COMMA_BACKTRACK,
               embeddings: EmbeddingMatcher | None = None) -> Chunked:
    """The chunks of one prompt's weighted runs (with `embeddings`: its embeddings' slots too)."""
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
        # Offsets in the framed chunk: one more for the start token in front.
        fixes = [EmbeddingFix(fix.offset + 1, fix.name, fix.vectors) for fix in current.fixes]
        chunks.append(Chunk(tokens, [1.0, *body_weights, 1.0], fixes))
        current = Chunk()
        last_comma = -1

    for run in runs:
        if run.is_break:
            close()
            continue
        run_tokens = tokenizer.encode(run.text)
        position = 0
        while position < len(run_tokens):
            token = run_tokens[position]
            if token == tokenizer.comma:
                last_comma = len(current.tokens)
            elif (comma_backtrack and len(current.tokens) == chunk_tokens and last_comma != -1
                  and len(current.tokens) - last_comma <= comma_backtrack):
                cut = last_comma + 1
                moved = Chunk(current.tokens[cut:], current.weights[cut:],
                              [EmbeddingFix(fix.offset - cut, fix.name, fix.vectors)
                               for fix in current.fixes if fix.offset >= cut])
                current.tokens, current.weights = current.tokens[:cut], current.weights[:cut]
                current.fixes = [fix for fix in current.fixes if fix.offset < cut]
                close()
                current = moved
            if len(current.tokens) == chunk_tokens:
                close()
            found = embeddings.match(run_tokens, position) if embeddings else None
            if found is None:
                current.tokens.append(token)
                current.weights.append(run.weight)
                position += 1
                continue
            name, name_length = found
            count = embeddings.vectors(name)  # type: ignore[union-attr]
            if count > chunk_tokens:
                raise UserInputError(f"embedding {name!r} has {count} vectors, more than the {chunk_tokens} "
                                     "tokens one chunk of this model's prompt holds",
                                     f"remove {name} from the prompt, or use an embedding with fewer vectors")
            if len(current.tokens) + count > chunk_tokens:
                close()  # never split an embedding: it starts the next chunk
            current.fixes.append(EmbeddingFix(len(current.tokens), name, count))
            current.tokens += [EMBEDDING_SLOT_ID] * count
            current.weights += [run.weight] * count
            position += name_length
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
