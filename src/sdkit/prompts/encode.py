"""Chunks through a CLIP text encoder, with A1111's emphasis arithmetic (torch, imported when called).

Per chunk, the encoder's output z (77 × C) is multiplied token-wise by the weights; in the default
mode, "original", the whole tensor is then rescaled so its mean equals the mean before multiplying
(z' = z·w; z'' = z'·mean(z)/mean(z')). "no-norm" multiplies only; "ignore" parses the weights and uses
none; "none" reads brackets as plain text (that is decided when parsing, see `runs_for`). The chunks'
outputs are joined along the sequence. CLIP skip N > 1 takes the hidden state N−1 layers before the
last and applies the final layer norm (SD 1.x/2.x); SDXL always takes a penultimate-or-earlier hidden
state without the norm, as its pipelines do. Rules: shared/reference/a1111-prompts.md §2–3.

Textual-inversion embeddings: a chunk's `fixes` say where an embedding's slots are; its vectors replace
what the token embedding layer gives at those positions (before the position embeddings are added, as
A1111's hook does), through a forward hook that lives only while the chunk is encoded, so nothing is
left behind on the encoder for later prompts. The ids stay as they are, so the pooled output is still
taken at the end token. Emphasis then applies to the slots as to any token.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sdkit.core.errors import UserInputError
from sdkit.prompts.chunks import Chunk
from sdkit.prompts.emphasis import Run, parse_emphasis

EMPHASIS_MODES = ("original", "no-norm", "ignore", "none")
DEFAULT_EMPHASIS = "original"
# How A1111 names the modes in the infotext (`Emphasis: No norm`).
A1111_EMPHASIS_NAMES = {"original": "Original", "no-norm": "No norm", "ignore": "Ignore", "none": "None"}


def runs_for(prompt: str, emphasis: str) -> list[Run]:
    """The weighted runs of a prompt under an emphasis mode ("none": the whole text, brackets and all)."""
    if emphasis not in EMPHASIS_MODES:
        raise UserInputError(f"unknown emphasis mode {emphasis!r}", f"use one of: {', '.join(EMPHASIS_MODES)}")
    if emphasis == "none":
        return [Run(prompt, 1.0)]
    return parse_emphasis(prompt)


def final_layer_norm(text_encoder: Any) -> Any:
    # transformers 5 moved CLIPTextModel's layers up from `.text_model`; accept both layouts.
    return getattr(text_encoder, "text_model", text_encoder).final_layer_norm


def apply_emphasis(z: Any, weights: Any, emphasis: str) -> Any:
    """z [batch, tokens, C] with each token's weight applied as `emphasis` says."""
    if emphasis in ("ignore", "none") or bool((weights == 1.0).all()):
        return z  # nothing to weigh: the exact tensor the encoder gave (images stay bit-identical)
    original_mean = z.mean()
    z = z * weights.reshape(weights.shape + (1,)).expand(z.shape)
    if emphasis == "original":
        z = z * (original_mean / z.mean())
    return z


@contextmanager
def embedding_vectors_in(text_encoder: Any, batch: Sequence[Chunk], vectors: Mapping[str, Any]) -> Iterator[None]:
    """While encoding `batch` (one chunk per text), its embeddings' vectors stand in for the token
    embeddings of their slots."""
    if not any(chunk.fixes for chunk in batch):
        yield
        return

    def replace_slots(module: Any, inputs: Any, output: Any) -> Any:
        output = output.clone()
        for row, chunk in enumerate(batch):
            for fix in chunk.fixes:
                vector = vectors[fix.name]
                output[row, fix.offset:fix.offset + fix.vectors] = vector.to(device=output.device, dtype=output.dtype)
        return output

    handle = text_encoder.get_input_embeddings().register_forward_hook(replace_slots)
    try:
        yield
    finally:
        handle.remove()


def encode_chunks(text_encoder: Any, chunks: Sequence[Chunk], *, emphasis: str = DEFAULT_EMPHASIS,
                  hidden_layer: int | None = None, layer_norm: bool = False, device: Any = "cpu",
                  pooled: bool = False, vectors: Mapping[str, Any] | None = None) -> tuple[Any, Any]:
    """[1, 77·n, C] embeddings of one text's `chunks`, and (with `pooled`) the first chunk's pooled output.

    `hidden_layer` None takes the encoder's last hidden state; an index (−2, −3, ...) takes that hidden
    state, through the final layer norm when `layer_norm`. `vectors`: the tensor [N, C] of each
    embedding the chunks' fixes name, for this encoder.
    """
    return encode_batch(text_encoder, [chunks], emphasis=emphasis, hidden_layer=hidden_layer,
                        layer_norm=layer_norm, device=device, pooled=pooled, vectors=vectors)


def encode_batch(text_encoder: Any, texts: Sequence[Sequence[Chunk]], *, emphasis: str = DEFAULT_EMPHASIS,
                 hidden_layer: int | None = None, layer_norm: bool = False, device: Any = "cpu",
                 pooled: bool = False, vectors: Mapping[str, Any] | None = None) -> tuple[Any, Any]:
    """[B, 77·n, C] embeddings of B texts' chunk lists (all n chunks long), encoded as A1111 does a batch.

    Chunk i of every text goes through the encoder in one batch, and "original" emphasis restores the
    mean of that whole batch (A1111's FrozenCLIPEmbedderWithCustomWords.forward gets every text of one
    prompt's schedule at once): for a prompt-editing schedule whose texts weigh differently, each text's
    rescale depends on the others, as in A1111. One text: the same as one chunk at a time.
    With `pooled`: the first chunk's pooled outputs, [B, C].
    """
    import torch

    count = len(texts[0])
    if any(len(chunks) != count for chunks in texts):
        raise ValueError("every text of a batch must have the same number of chunks")
    outputs, first_pooled = [], None
    with torch.inference_mode():
        for index in range(count):
            batch = [chunks[index] for chunks in texts]
            tokens = torch.tensor([chunk.tokens for chunk in batch], device=device)
            with embedding_vectors_in(text_encoder, batch, vectors or {}):
                result = text_encoder(tokens, output_hidden_states=hidden_layer is not None)
            if hidden_layer is None:
                z = result[0]
            else:
                z = result.hidden_states[hidden_layer]
                if layer_norm:
                    z = final_layer_norm(text_encoder)(z)
            weights = torch.tensor([chunk.weights for chunk in batch], device=z.device, dtype=z.dtype)
            outputs.append(apply_emphasis(z, weights, emphasis))
            if pooled and index == 0:
                first_pooled = result[0]
    return torch.cat(outputs, dim=1), first_pooled
