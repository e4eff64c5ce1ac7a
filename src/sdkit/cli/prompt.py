"""`sdkit prompt`: how sdkit reads a prompt, with the model's own tokenizer and no UNet loaded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from sdkit.cli.console import message, out, plain, print_json

# The token counter's step count when none is given (A1111's default steps): the longest text of the
# schedule is the one counted, as A1111's counter does.
COUNTED_STEPS = 20


def _tokenizer_folder(ref: Any) -> Path:
    """The tokenizer a model encodes with: its own folder's, or its family's bundled config for a single file."""
    from sdkit.core.errors import UserInputError

    folder = ref.path
    if folder is not None and folder.is_dir():
        candidate = folder / "tokenizer"
    else:
        from sdkit.models.family_configs import config_folder

        base = ref.config_dir or config_folder(ref.family, ref.inpainting, ref.prediction_type)
        candidate = Path(base) / "tokenizer"
    if not candidate.is_dir():
        raise UserInputError(f"{ref.name} has no CLIP tokenizer sdkit can read ({candidate} is missing)",
                             "pass --model with a Stable Diffusion model")
    return candidate


def describe_prompt(prompt: str, model: str | None, steps: int | None) -> dict[str, Any]:
    """Plain data: the emphasis runs, the chunks, the token count, LoRA tags and the schedule."""
    from transformers import CLIPTokenizer

    from sdkit.core.tasks import Task
    from sdkit.prompts.chunks import TokenizerInfo, chunk_runs
    from sdkit.prompts.emphasis import parse_emphasis
    from sdkit.prompts.networks import extract_networks
    from sdkit.prompts.schedule import schedule
    from sdkit.run.choose import choose

    choice = choose(Task.TXT2IMG, None, model)
    ref = choice.model_ref
    tokenizer = TokenizerInfo.of(CLIPTokenizer.from_pretrained(_tokenizer_folder(ref)))
    text, loras, unknown_tags = extract_networks(prompt)
    runs = parse_emphasis(text)
    scheduled = schedule(text, steps or COUNTED_STEPS)
    chunked = max((chunk_runs(parse_emphasis(step_text), tokenizer) for _, step_text in scheduled),
                  key=lambda candidate: candidate.token_count)
    described: dict[str, Any] = {
        "prompt": prompt,
        "model": ref.name,
        "runs": [run.as_pair() for run in runs],
        "chunks": [{"tokens": chunk.tokens, "weights": chunk.weights} for chunk in chunked.chunks],
        "token_count": chunked.token_count,
        "window": tokenizer.window,
        # LoRA files are not loaded by sdkit yet: the tags are read (and removed from the text) only.
        "loras": [{"name": tag.name, "weight": tag.text_encoder_weight, "unet_weight": tag.unet_weight}
                  for tag in loras],
        "unknown_tags": unknown_tags,
    }
    if steps is not None:
        described["schedule"] = [[until, step_text] for until, step_text in scheduled]
    return described


def prompt_command(
    prompt: str = typer.Argument(..., help="The prompt, in A1111's syntax."),
    model: str = typer.Option(None, "--model", "-m", help="Model whose tokenizer to use (default: the bundled demo model)."),
    steps: int = typer.Option(None, "--steps", "-s", min=1, max=10_000, help="Also show the prompt's schedule over this many steps."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Show how sdkit reads a prompt: weights, 75-token chunks, LoRA tags and scheduled parts."""
    described = describe_prompt(prompt, model, steps)
    if as_json:
        print_json(described)
        return
    runs = Table(title=plain(f"weights ({described['model']})"), title_justify="left")
    runs.add_column("text")
    runs.add_column("weight", justify="right")
    for text, weight in described["runs"]:
        runs.add_row(plain("BREAK" if weight == -1 else repr(text)), "-" if weight == -1 else f"{weight:.4g}")
    out.print(runs)
    window = described["window"]
    chunk_count = len(described["chunks"])
    out.print(f"tokens: {described['token_count']}/{window * chunk_count} in {chunk_count} chunk(s) of {window}")
    for tag in described["loras"]:
        weights = f"weight {tag['weight']:g}" + (f", UNet {tag['unet_weight']:g}" if tag["unet_weight"] != tag["weight"]
                                                 else "")
        out.print(plain(f"LoRA {tag['name']}: {weights} (LoRA files are not loaded by sdkit yet)"))
    for tag in described["unknown_tags"]:
        message("warning", f"{tag} is not a network sdkit knows; it is removed from the text")
    for until, text in described.get("schedule", []):
        out.print(plain(f"until step {until}: {text}"))


def register(app: typer.Typer) -> None:
    app.command(name="prompt")(prompt_command)
