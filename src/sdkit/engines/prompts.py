"""Prompt checks: a prompt longer than the text encoder's window is never cut silently."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def check_prompt_length(pipeline: Any, prompt: str) -> None:
    """Warn with the token count and the dropped words when `prompt` exceeds the encoder's window."""
    tokenizer = getattr(pipeline, "tokenizer", None)
    if not prompt or tokenizer is None:
        return
    limit = int(getattr(tokenizer, "model_max_length", 77))
    ids = tokenizer(prompt, truncation=False, add_special_tokens=False)["input_ids"]
    usable = limit - 2  # begin and end markers take two positions
    if len(ids) <= usable:
        return
    dropped = tokenizer.decode(ids[usable:]).strip()
    log.warning("the prompt has %d tokens; the text encoder reads %d, so this end is ignored: %r",
                len(ids), usable, dropped)
