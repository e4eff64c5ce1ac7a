"""Prompts for the SD engines in A1111's language: emphasis, 75-token chunks, BREAK, prompt editing.

The reading itself is `sdkit.prompts` (pure functions of text and tokenizer); this module turns it
into the embeddings a diffusers pipeline takes, per step when the prompt is scheduled.

A prompt with nothing A1111-specific in it (no weights, no BREAK, no schedule, one window, no CLIP
skip on SD 1.x/2.x) is left to the pipeline, which encodes it exactly as plain diffusers does; so
such images are bit-identical to plain diffusers'. Otherwise sdkit encodes the prompt's schedule (every
entry) as one batch and the negative prompt's as another, as A1111 does, and swaps them in at the steps
where the text changes. Each keeps its own length (A1111's default: its sampling runs different lengths
as two model calls, and so does sdkit.sampling's denoiser); `PromptEmbeddings.pipeline_arguments` pads
the shorter with the empty prompt's chunk for diffusers' pipelines, which need one length.
Checked against A1111 v1.10's own sd_hijack_clip/prompt_parser in a scratch harness: equal bit for bit
(docs/samplers.md, "Checked against A1111 v1.10's own code").
`<lora:...>` tags are removed from the text before encoding; the engine applies the LoRAs themselves
(`loras.py`).

Textual-inversion embeddings come from `embeddings` (an `EmbeddingLibrary`, which the engine builds from
the models folder; tests and plugins pass their own): a prompt that uses one is never left to the
pipeline, each encoder gets its own vectors (SDXL: clip_l for the first, clip_g for the second), and
the infotext records them as `TI hashes`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from sdkit.networks.embeddings import EmbeddingLibrary, EncoderEmbeddings, encoder_keys, names_used, ti_hashes
from sdkit.prompts.chunks import Chunk, EmbeddingMatcher, TokenizerInfo, chunk_runs, empty_chunk
from sdkit.prompts.composable import SubPrompt, is_composable, split_composable
from sdkit.prompts.emphasis import has_emphasis
from sdkit.prompts.encode import A1111_EMPHASIS_NAMES, DEFAULT_EMPHASIS, encode_batch, runs_for
from sdkit.prompts.networks import extract_networks
from sdkit.prompts.schedule import entry_per_step, schedule
from sdkit.prompts.unsupported import unsupported_syntax

log = logging.getLogger(__name__)


@dataclass
class PromptEmbeddings:
    """One step's prompt and negative prompt embeddings, each as long as its own text needs (A1111's way:
    its sampling, like sdkit.sampling's denoiser, runs different lengths as two model calls)."""

    prompt: Any  # tensor [1, chunks × 77, width]
    negative: Any  # tensor [1, negative chunks × 77, width]
    chunks: int
    pooled: Any = None  # SDXL: the second encoder's pooled embedding of the first chunk, [1, width]
    negative_pooled: Any = None
    empty: Any = None  # the empty prompt's one chunk [1, 77, width]: what pads the shorter for a pipeline

    def padded(self) -> tuple[Any, Any]:
        """Prompt and negative at one length, as diffusers' pipelines need them: the shorter gets the empty
        prompt's chunk appended (A1111's "pad prompt/negative prompt" option, which pads after encoding)."""
        import torch

        prompt, negative = self.prompt, self.negative
        missing = (prompt.shape[1] - negative.shape[1]) // self.empty.shape[1] if self.empty is not None else 0
        if missing > 0:
            negative = torch.cat([negative, self.empty.repeat(1, missing, 1)], dim=1)
        elif missing < 0:
            prompt = torch.cat([prompt, self.empty.repeat(1, -missing, 1)], dim=1)
        return prompt, negative

    def pipeline_arguments(self, batch_size: int) -> dict[str, Any]:
        """Keyword arguments for a diffusers pipeline call, repeated for each image of the batch."""
        prompt, negative = self.padded()
        arguments = {"prompt_embeds": prompt.repeat(batch_size, 1, 1),
                     "negative_prompt_embeds": negative.repeat(batch_size, 1, 1)}
        if self.pooled is not None:
            arguments.update(pooled_prompt_embeds=self.pooled.repeat(batch_size, 1),
                             negative_pooled_prompt_embeds=self.negative_pooled.repeat(batch_size, 1))
        return arguments

    def step_tensors(self, batch_size: int, guided: bool) -> dict[str, Any]:
        """The tensors a pipeline's step callback may replace, as the pipeline holds them mid-loop."""
        import torch

        arguments = self.pipeline_arguments(batch_size)
        positive, negative = arguments["prompt_embeds"], arguments["negative_prompt_embeds"]
        tensors = {"prompt_embeds": torch.cat([negative, positive]) if guided else positive}
        if self.pooled is not None:
            pooled, negative_pooled = arguments["pooled_prompt_embeds"], arguments["negative_pooled_prompt_embeds"]
            tensors["add_text_embeds"] = torch.cat([negative_pooled, pooled]) if guided else pooled
        return tensors


@dataclass
class Conditioning:
    """What the pipeline is told about the prompt: plain texts, or embeddings per step."""

    prompt_text: str  # the prompt with its network tags removed
    negative_text: str
    embeddings: list[PromptEmbeddings] = field(default_factory=list)  # empty: the pipeline encodes the texts
    per_step: list[int] = field(default_factory=list)  # for steps 1..N, which embeddings apply
    fields: dict[str, Any] = field(default_factory=dict)  # infotext fields (Emphasis)
    # A1111's composable prompt (`AND`): each sub-prompt's own conditioning and weight; then the fields
    # above describe the whole prompt and `embeddings` is empty (`a1111.text_conditions` reads the parts).
    parts: list[tuple[Conditioning, float]] = field(default_factory=list)

    def embeddings_for_step(self, step: int) -> PromptEmbeddings:
        """The embeddings of 1-based `step` (the last ones past the schedule's end)."""
        return self.embeddings[self.per_step[min(step, len(self.per_step)) - 1]]


def step_index_for_model_call(call: int, steps: int) -> int:
    """Which of the `steps` per-step entries (`Conditioning.per_step`, 0-based) A1111 uses at model call `call`.

    A1111's CFG denoiser counts its calls from 0 and takes the first schedule entry whose end step is at
    least that count, so calls 0 and 1 both get step 1's text; past the last step it falls back to the
    first entry (observed by running A1111 v1.10's reconstruct_cond_batch; tests/engines/test_a1111_conditioning.py).
    """
    step = max(call, 1)
    return step - 1 if step <= steps else 0


def _is_plain(runs_lists: list[list[Any]], tokenizer: TokenizerInfo) -> bool:
    """One run of weight 1 per prompt (no emphasis, no BREAK) that fits one window."""
    for runs in runs_lists:
        if len(runs) != 1 or runs[0].weight != 1.0:
            return False
        if len(tokenizer.encode(runs[0].text)) > tokenizer.window:
            return False
    return True


def _chunks_of(text: str, emphasis: str, tokenizer: TokenizerInfo, count: int,
               matcher: EmbeddingMatcher | None = None) -> list[Chunk]:
    chunks = chunk_runs(runs_for(text, emphasis), tokenizer, embeddings=matcher).chunks
    return chunks + [empty_chunk(tokenizer) for _ in range(count - len(chunks))]


def _chunk_count(texts: list[str], emphasis: str, tokenizer: TokenizerInfo,
                 matcher: EmbeddingMatcher | None = None) -> int:
    return max(len(chunk_runs(runs_for(text, emphasis), tokenizer, embeddings=matcher).chunks) for text in texts)


def _encoder_embeddings(pipeline: Any, dual_encoder: bool, library: EmbeddingLibrary,
                        tokenizers: list[TokenizerInfo]) -> list[EncoderEmbeddings]:
    """The library as each text encoder sees it (its vector table, its width, its tokenizer)."""
    encoders = [pipeline.text_encoder, pipeline.text_encoder_2] if dual_encoder else [pipeline.text_encoder]
    return [EncoderEmbeddings(library, key, int(encoder.get_input_embeddings().embedding_dim), tokenizer)
            for key, encoder, tokenizer in zip(encoder_keys(dual_encoder), encoders, tokenizers, strict=True)]


def condition(pipeline: Any, dual_encoder: bool, prompt: str, negative_prompt: str, clip_skip: int,
              emphasis: str, steps: int, device: Any, embeddings: EmbeddingLibrary | None = None,
              first_pass_steps: int | None = None, composable: bool | None = False) -> Conditioning:
    """How to condition the pipeline on the prompt (see the module docstring).

    `composable` (A1111's sampler names): the prompt's `AND` and `:weight` are A1111's composable prompt,
    each sub-prompt conditioned here as a prompt of its own (`composed_condition`; None: such a sub-prompt,
    already split, so nothing of AND is read or warned about)."""
    prompt_text, prompt_tags, unknown = extract_networks(prompt)
    negative_text, negative_tags, negative_unknown = extract_networks(negative_prompt)
    for tag in negative_tags:  # A1111 applies the prompt's LoRAs only (the engine does, `loras.py`)
        log.warning("%s in the negative prompt: a LoRA acts on the whole image, so only the prompt's LoRA tags "
                    "are applied (as in A1111); this one is removed and has no effect", tag.written)
    for tag in [*unknown, *negative_unknown]:
        log.warning("%s is not a network sdkit knows; it is removed from the prompt", tag)
    if composable:  # A1111 splits the prompt after taking out its network tags
        parts = split_composable(prompt_text)
        if is_composable(parts):
            return composed_condition(parts, prompt_text, lambda text: condition(
                pipeline, dual_encoder, text, negative_text, clip_skip, emphasis, steps, device,
                embeddings=embeddings, first_pass_steps=first_pass_steps, composable=None))
        if parts[0].weight_written:  # `a cat :1`: A1111 encodes the text without its weight
            prompt_text = parts[0].text
    elif composable is False:  # A1111 reads AND in the prompt only, never in the negative prompt
        for warning in unsupported_syntax(prompt_text):
            log.warning("%s", warning)
    fields: dict[str, Any] = {}
    if emphasis != DEFAULT_EMPHASIS and (has_emphasis(prompt_text) or has_emphasis(negative_text)):
        fields["Emphasis"] = A1111_EMPHASIS_NAMES[emphasis]

    # The hires fix's second pass counts prompt-editing steps from the end of the first (`first_pass_steps`).
    positive_schedule = schedule(prompt_text, steps, first_pass_steps)
    negative_schedule = schedule(negative_text, steps, first_pass_steps)
    positive_at, negative_at = entry_per_step(positive_schedule), entry_per_step(negative_schedule)
    positives = [positive_schedule[index][1] for index in positive_at]
    negatives = [negative_schedule[index][1] for index in negative_at]
    pairs = list(dict.fromkeys(zip(positives, negatives, strict=True)))
    tokenizer = TokenizerInfo.of(pipeline.tokenizer)
    second = TokenizerInfo.of(pipeline.tokenizer_2) if dual_encoder else None
    library = embeddings if embeddings is not None else EmbeddingLibrary({})
    views = _encoder_embeddings(pipeline, dual_encoder, library, [tokenizer] + ([second] if second else []))
    matchers = [view.matcher if library else None for view in views]
    texts = [text for pair in pairs for text in pair]
    used = names_used(library, [runs_for(text, emphasis) for text in dict.fromkeys(texts)], tokenizer)
    for view in views:  # read and check each used embedding against each encoder before any encoding
        for name in used:
            view.vectors(name)
    if used:
        fields["TI hashes"] = ti_hashes(library, used)
        fields = {"TI hashes": fields.pop("TI hashes"), **fields}  # A1111's order: TI hashes before Emphasis
        log.info("textual-inversion embeddings in the prompt: %s", ", ".join(used))
    if len(pairs) == 1 and not used:
        (positive, negative), = pairs
        runs = [runs_for(positive, emphasis), runs_for(negative, emphasis)]
        simple_skip = clip_skip <= 1 or dual_encoder  # SDXL pipelines take clip_skip themselves
        if simple_skip and _is_plain(runs, tokenizer):
            return Conditioning(runs[0][0].text, runs[1][0].text, fields=fields)

    def encode(texts: list[str], count: int) -> tuple[Any, Any]:
        """[B, count × 77, width] for B texts, as one batch per chunk (see `encode_batch`); SDXL: pooled [B, width]."""
        batch = [_chunks_of(text, emphasis, tokenizer, count, matchers[0]) for text in texts]
        every_chunk = [chunk for chunks in batch for chunk in chunks]
        if second is None:
            hidden = -clip_skip if clip_skip > 1 else None
            z, _ = encode_batch(pipeline.text_encoder, batch, emphasis=emphasis, hidden_layer=hidden,
                                layer_norm=hidden is not None, device=device, vectors=views[0].vectors_of(every_chunk))
            return z, None
        import torch

        layer = -(clip_skip + 1)  # A1111's clip skip 1 is SDXL's usual penultimate layer
        first, _ = encode_batch(pipeline.text_encoder, batch, emphasis=emphasis, hidden_layer=layer,
                                device=device, vectors=views[0].vectors_of(every_chunk))
        batch = [_chunks_of(text, emphasis, second, count, matchers[1]) for text in texts]
        every_chunk = [chunk for chunks in batch for chunk in chunks]
        other, pooled = encode_batch(pipeline.text_encoder_2, batch, emphasis=emphasis, hidden_layer=layer,
                                     device=device, pooled=True, vectors=views[1].vectors_of(every_chunk))
        return torch.cat([first, other], dim=-1), pooled

    def chunk_count(texts: list[str]) -> int:
        count = _chunk_count(texts, emphasis, tokenizer, matchers[0])
        return count if second is None else max(count, _chunk_count(texts, emphasis, second, matchers[1]))

    # A1111 encodes every text of one prompt's schedule (each entry, repeats included) as one batch, padded
    # to that batch's chunk count, and the negative prompt's schedule as another.
    positive_entries = [text for _, text in positive_schedule]
    negative_entries = [text for _, text in negative_schedule]
    counts = chunk_count(positive_entries), chunk_count(negative_entries)
    if max(counts) > 1:
        log.info("the prompt is encoded in %d chunks of %d tokens, as A1111 does", max(counts), tokenizer.window)
    z, pooled = encode(positive_entries, counts[0])
    negative_z, negative_pooled = encode(negative_entries, counts[1])
    empty = encode([""], 1)[0] if counts[0] != counts[1] else None
    index_pairs = list(dict.fromkeys(zip(positive_at, negative_at, strict=True)))
    embeddings = [PromptEmbeddings(z[at:at + 1], negative_z[other:other + 1], counts[0],
                                   None if pooled is None else pooled[at:at + 1],
                                   None if negative_pooled is None else negative_pooled[other:other + 1], empty)
                  for at, other in index_pairs]
    index = {pair: number for number, pair in enumerate(index_pairs)}
    per_step = [index[pair] for pair in zip(positive_at, negative_at, strict=True)]
    return Conditioning(prompt_text, negative_text, embeddings, per_step, fields)


def composed_condition(parts: list[SubPrompt], prompt_text: str, condition_text: Any) -> Conditioning:
    """A composable prompt's conditioning: each distinct sub-prompt text conditioned once by
    `condition_text` (with the negative prompt, its own chunks and schedule, as A1111 encodes each), a
    part per sub-prompt in order, repeats included (A1111 sums each occurrence)."""
    conditioned = {text: condition_text(text) for text in dict.fromkeys(part.text for part in parts)}
    fields: dict[str, Any] = {}
    for conditioning in conditioned.values():
        fields.update(conditioning.fields)
    if "TI hashes" in fields:  # A1111's order: TI hashes before Emphasis
        fields = {"TI hashes": fields.pop("TI hashes"), **fields}
    log.info("composable prompt (AND): %d sub-prompts, weights %s", len(parts),
             ", ".join(f"{part.weight:g}" for part in parts))
    negative_text = next(iter(conditioned.values())).negative_text
    return Conditioning(prompt_text, negative_text, fields=fields,
                        parts=[(conditioned[part.text], part.weight) for part in parts])
