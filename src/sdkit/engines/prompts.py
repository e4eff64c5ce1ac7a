"""Prompts longer than the text encoder's window: encoded in chunks as A1111 does, never cut silently.

CLIP reads 77 tokens: a begin marker, 75 tokens of text and an end marker. A1111 splits a longer prompt
into 75-token chunks, encodes each chunk on its own (with its own markers and padding) and joins the
results along the sequence axis; the UNet's cross-attention reads any length. The negative prompt is
padded with empty chunks to the same length, since both halves of a CFG batch must match.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class PromptEmbeddings:
    prompt: Any  # tensor [1, chunks × 77, width]
    negative: Any
    chunks: int


def _token_ids(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, truncation=False, add_special_tokens=False)["input_ids"]) if text else []


def warn_if_truncated(pipeline: Any, prompt: str) -> None:
    """For pipelines sdkit does not chunk for: warn with the token count and the words that are dropped."""
    tokenizer = getattr(pipeline, "tokenizer", None)
    if not prompt or tokenizer is None:
        return
    usable = int(getattr(tokenizer, "model_max_length", 77)) - 2
    ids = _token_ids(tokenizer, prompt)
    if len(ids) > usable:
        dropped = tokenizer.decode(ids[usable:]).strip()
        log.warning("the prompt has %d tokens; the text encoder reads %d, so this end is ignored: %r",
                    len(ids), usable, dropped)


def _final_layer_norm(text_encoder: Any) -> Any:
    # transformers 5 moved CLIPTextModel's layers up from `.text_model` (diffusers 0.42 still looks
    # there, so its own clip_skip fails with transformers 5); accept both layouts.
    return getattr(text_encoder, "text_model", text_encoder).final_layer_norm


def encode_in_chunks(pipeline: Any, prompt: str, negative_prompt: str, clip_skip: int,
                     device: Any) -> PromptEmbeddings | None:
    """sdkit's own prompt embeddings, when a prompt is longer than one window or CLIP skip is on.

    None when both prompts fit and clip skip is off: the pipeline then encodes them itself, exactly as
    plain diffusers would.
    """
    import torch

    tokenizer, text_encoder = pipeline.tokenizer, pipeline.text_encoder
    usable = int(tokenizer.model_max_length) - 2
    prompt_ids, negative_ids = _token_ids(tokenizer, prompt), _token_ids(tokenizer, negative_prompt)
    longest = max(len(prompt_ids), len(negative_ids))
    if longest <= usable and clip_skip <= 1:
        return None
    chunks = max(1, math.ceil(longest / usable))
    if chunks > 1:
        log.info("the prompt has %d tokens: encoding it in %d chunks of %d, as A1111 does", longest, chunks, usable)

    def encode(ids: list[int]) -> Any:
        rows = []
        for index in range(chunks):
            part = ids[index * usable:(index + 1) * usable]
            padding = [tokenizer.pad_token_id] * (usable - len(part))
            rows.append([tokenizer.bos_token_id, *part, tokenizer.eos_token_id, *padding])
        tokens = torch.tensor(rows, device=device)
        with torch.inference_mode():
            if clip_skip > 1:
                output = text_encoder(tokens, output_hidden_states=True)
                hidden = _final_layer_norm(text_encoder)(output.hidden_states[-clip_skip])
            else:
                hidden = text_encoder(tokens)[0]
        return hidden.reshape(1, chunks * hidden.shape[1], hidden.shape[2])

    return PromptEmbeddings(encode(prompt_ids), encode(negative_ids), chunks)
