"""Prompts longer than the text encoder's window: encoded in chunks as A1111 does, never cut.

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
    pooled: Any = None  # SDXL: the second encoder's pooled embedding of the first chunk, [1, width]
    negative_pooled: Any = None

    def pipeline_arguments(self, batch_size: int) -> dict[str, Any]:
        """Keyword arguments for a diffusers pipeline call, repeated for each image of the batch."""
        arguments = {"prompt_embeds": self.prompt.repeat(batch_size, 1, 1),
                     "negative_prompt_embeds": self.negative.repeat(batch_size, 1, 1)}
        if self.pooled is not None:
            arguments.update(pooled_prompt_embeds=self.pooled.repeat(batch_size, 1),
                             negative_pooled_prompt_embeds=self.negative_pooled.repeat(batch_size, 1))
        return arguments


def _token_ids(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, truncation=False, add_special_tokens=False)["input_ids"]) if text else []


def _final_layer_norm(text_encoder: Any) -> Any:
    # transformers 5 moved CLIPTextModel's layers up from `.text_model` (diffusers 0.42 still looks
    # there, so its own clip_skip fails with transformers 5); accept both layouts.
    return getattr(text_encoder, "text_model", text_encoder).final_layer_norm


def _chunk_count(tokenizer: Any, prompt: str, negative_prompt: str) -> tuple[list[int], list[int], int, int]:
    usable = int(tokenizer.model_max_length) - 2
    prompt_ids, negative_ids = _token_ids(tokenizer, prompt), _token_ids(tokenizer, negative_prompt)
    longest = max(len(prompt_ids), len(negative_ids))
    return prompt_ids, negative_ids, max(1, math.ceil(longest / usable)), longest


def _chunk_tokens(tokenizer: Any, ids: list[int], chunks: int, device: Any) -> Any:
    """[chunks, 77] token ids: each 75-token piece between begin and end markers, padded as the model pads."""
    import torch

    usable = int(tokenizer.model_max_length) - 2
    rows = []
    for index in range(chunks):
        part = ids[index * usable:(index + 1) * usable]
        padding = [tokenizer.pad_token_id] * (usable - len(part))
        rows.append([tokenizer.bos_token_id, *part, tokenizer.eos_token_id, *padding])
    return torch.tensor(rows, device=device)


def _joined(hidden: Any) -> Any:
    """[chunks, 77, width] -> [1, chunks × 77, width]: the chunks side by side along the sequence."""
    return hidden.reshape(1, hidden.shape[0] * hidden.shape[1], hidden.shape[2])


def encode_in_chunks(pipeline: Any, prompt: str, negative_prompt: str, clip_skip: int,
                     device: Any) -> PromptEmbeddings | None:
    """SD 1.x/2.x: sdkit's own prompt embeddings, when a prompt is longer than one window or CLIP skip is on.

    None when both prompts fit and clip skip is off: the pipeline then encodes them itself, exactly as
    plain diffusers would.
    """
    import torch

    tokenizer, text_encoder = pipeline.tokenizer, pipeline.text_encoder
    prompt_ids, negative_ids, chunks, longest = _chunk_count(tokenizer, prompt, negative_prompt)
    if chunks == 1 and clip_skip <= 1:
        return None
    if chunks > 1:
        log.info("the prompt has %d tokens: encoding it in %d chunks, as A1111 does", longest, chunks)

    def encode(ids: list[int]) -> Any:
        tokens = _chunk_tokens(tokenizer, ids, chunks, device)
        with torch.inference_mode():
            if clip_skip > 1:
                output = text_encoder(tokens, output_hidden_states=True)
                return _joined(_final_layer_norm(text_encoder)(output.hidden_states[-clip_skip]))
            return _joined(text_encoder(tokens)[0])

    return PromptEmbeddings(encode(prompt_ids), encode(negative_ids), chunks)


def encode_sdxl_in_chunks(pipeline: Any, prompt: str, negative_prompt: str, clip_skip: int,
                          device: Any) -> PromptEmbeddings | None:
    """SDXL: both encoders' penultimate layers per chunk, side by side; pooled from the first chunk.

    None when both prompts fit one window (the pipeline encodes them itself, as plain diffusers would).
    """
    import torch

    first_ids, first_negative, chunks, longest = _chunk_count(pipeline.tokenizer, prompt, negative_prompt)
    if chunks == 1:
        return None
    log.info("the prompt has %d tokens: encoding it in %d chunks, as A1111 does", longest, chunks)
    second_ids = _token_ids(pipeline.tokenizer_2, prompt)
    second_negative = _token_ids(pipeline.tokenizer_2, negative_prompt)
    layer = -(clip_skip + 1)  # A1111's clip skip 1 is SDXL's usual penultimate layer

    def encode(ids_first: list[int], ids_second: list[int]) -> tuple[Any, Any]:
        with torch.inference_mode():
            first = pipeline.text_encoder(_chunk_tokens(pipeline.tokenizer, ids_first, chunks, device),
                                          output_hidden_states=True)
            second = pipeline.text_encoder_2(_chunk_tokens(pipeline.tokenizer_2, ids_second, chunks, device),
                                             output_hidden_states=True)
        hidden = torch.cat([first.hidden_states[layer], second.hidden_states[layer]], dim=-1)
        return _joined(hidden), second[0][:1]

    prompt_embeds, pooled = encode(first_ids, second_ids)
    negative_embeds, negative_pooled = encode(first_negative, second_negative)
    return PromptEmbeddings(prompt_embeds, negative_embeds, chunks, pooled, negative_pooled)
