"""A1111's prompt language as pure functions of text (and a tokenizer): no torch, no models.

- `emphasis.parse_emphasis(prompt)`: weighted runs, `(a:1.2)`, `[a]`, `BREAK`.
- `schedule.schedule(prompt, steps)`: prompt editing `[a:b:when]` and alternation `[a|b]` per step.
- `chunks.chunk_runs(runs, tokenizer)`: 75-token chunks with A1111's comma backtrack.
- `networks.extract_networks(prompt)`: `<lora:NAME:WEIGHT>` tags, removed from the text.
Engines call these; `sdkit prompt` shows what they make of a prompt.
"""
