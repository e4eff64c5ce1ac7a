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


def _encoder_widths(tokenizer_folder: Path) -> list[int | None]:
    """The text encoders' widths from their configs next to the tokenizer (None where a config is missing)."""
    import json

    widths: list[int | None] = []
    for name in ("text_encoder", "text_encoder_2"):
        config = tokenizer_folder.parent / name / "config.json"
        if name == "text_encoder_2" and not config.parent.is_dir():
            break
        try:
            widths.append(int(json.loads(config.read_text(encoding="utf-8"))["hidden_size"]))
        except (OSError, ValueError, KeyError, TypeError):
            widths.append(None)
    return widths


def describe_prompt(prompt: str, model: str | None, steps: int | None) -> dict[str, Any]:
    """Plain data: the emphasis runs, the chunks, the token count, embeddings, LoRA tags and the schedule."""
    from transformers import CLIPTokenizer

    from sdkit.core.tasks import Task
    from sdkit.networks.embeddings import (
        EmbeddingLibrary,
        EncoderEmbeddings,
        embeddings_folder,
        encoder_keys,
        names_used,
        usable_embeddings,
    )
    from sdkit.networks.lora_files import lora_file_or_none
    from sdkit.prompts.chunks import TokenizerInfo, chunk_runs
    from sdkit.prompts.emphasis import parse_emphasis
    from sdkit.prompts.networks import extract_networks
    from sdkit.prompts.schedule import schedule
    from sdkit.prompts.unsupported import unsupported_syntax
    from sdkit.run.choose import choose
    from sdkit.runtime.config import models_dir

    choice = choose(Task.TXT2IMG, None, model)
    ref = choice.model_ref
    tokenizer_folder = _tokenizer_folder(ref)
    tokenizer = TokenizerInfo.of(CLIPTokenizer.from_pretrained(tokenizer_folder))
    text, loras, unknown_tags = extract_networks(prompt)
    runs = parse_emphasis(text)
    scheduled = schedule(text, steps or COUNTED_STEPS)
    # Embeddings: found by name in every scheduled text; those this model cannot use are reported, not fatal.
    library = EmbeddingLibrary.scan(embeddings_folder(models_dir()))
    widths = _encoder_widths(tokenizer_folder)
    encoders = list(zip(encoder_keys(len(widths) == 2), widths, strict=True))
    used = names_used(library, [parse_emphasis(step_text) for _, step_text in scheduled], tokenizer)
    library, unusable = usable_embeddings(library, used, encoders)
    view = EncoderEmbeddings(library, encoders[0][0], encoders[0][1], tokenizer)
    chunked = max((chunk_runs(parse_emphasis(step_text), tokenizer, embeddings=view.matcher)
                   for _, step_text in scheduled), key=lambda candidate: candidate.token_count)
    described: dict[str, Any] = {
        "prompt": prompt,
        "model": ref.name,
        "runs": [run.as_pair() for run in runs],
        "chunks": [{"tokens": chunk.tokens, "weights": chunk.weights,
                    "embeddings": [{"name": fix.name, "offset": fix.offset, "vectors": fix.vectors}
                                   for fix in chunk.fixes]} for chunk in chunked.chunks],
        "token_count": chunked.token_count,
        "window": tokenizer.window,
        # The file each tag means (null: none in the LoRA folder; `generate` would refuse it).
        "loras": [{"name": tag.name, "weight": tag.text_encoder_weight, "unet_weight": tag.unet_weight,
                   "file": str(found) if (found := lora_file_or_none(tag.name)) is not None else None}
                  for tag in loras],
        "unknown_tags": unknown_tags,
        "unsupported": unsupported_syntax(text),  # A1111 syntax read as plain text (AND)
        "embeddings": {
            "folder": str(library.folder),
            "used": [{"name": name, "file": str(library.files[name]), "vectors": view.vector_count(name),
                      "hash": library.short_hash(name)} for name in used if name in library.files],
            "unusable": unusable,
        },
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
    """Show how sdkit reads a prompt: weights, 75-token chunks, embeddings, LoRA tags and scheduled parts."""
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
    for number, chunk in enumerate(described["chunks"], start=1):
        for fix in chunk["embeddings"]:
            out.print(plain(f"chunk {number}: embedding {fix['name']} in tokens {fix['offset']}-"
                            f"{fix['offset'] + fix['vectors'] - 1}"))
    for embedding in described["embeddings"]["used"]:
        out.print(plain(f"embedding {embedding['name']}: {embedding['vectors']} vector(s), {embedding['hash']} "
                        f"({embedding['file']})"))
    for embedding in described["embeddings"]["unusable"]:
        message("warning", f"{embedding['problem']}; its name is read as plain words here, and generating refuses "
                f"it ({embedding['hint']})")
    from sdkit.networks.lora_files import lora_folder

    for tag in described["loras"]:
        weights = f"weight {tag['weight']:g}" + (f", UNet {tag['unet_weight']:g}" if tag["unet_weight"] != tag["weight"]
                                                 else "")
        out.print(plain(f"LoRA {tag['name']}: {weights}, " + (tag["file"] or f"not found in {lora_folder()}")))
    for tag in described["unknown_tags"]:
        message("warning", f"{tag} is not a network sdkit knows; it is removed from the text")
    for warning in described["unsupported"]:
        message("warning", warning)
    for until, text in described.get("schedule", []):
        out.print(plain(f"until step {until}: {text}"))


def register(app: typer.Typer) -> None:
    app.command(name="prompt")(prompt_command)
