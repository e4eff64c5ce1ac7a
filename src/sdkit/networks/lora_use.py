"""Which LoRAs a run uses: the prompt's `<lora:...>` tags and the `--lora NAME[:WEIGHT]` values, resolved.

The run layer calls `plan_loras` once at plan time, so a LoRA that is missing, unreadable or made for
another family fails `--dry-run` before torch is imported. The engine calls `resolve_loras` for each
batch (a directory listing and cached hashes: cheap). `prompt_with_tags` is the prompt the infotext
records: `--lora X:0.7` becomes the A1111 tag `<lora:X:0.7>` appended to it, so A1111 and
`--from-image` read it back. `Lora hashes` is A1111's field: `name: 12-hex, ...`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sdkit.core.errors import UserInputError
from sdkit.networks.lora_files import (
    addnet_hash,
    available_loras,
    display_name,
    find_lora,
    find_lora_by_hash,
    lora_file_or_none,
)
from sdkit.networks.lora_formats import LoraInfo, check_family, read_lora_info
from sdkit.prompts.networks import NetworkTag, extract_networks

LORA_HASHES_KEY = "Lora hashes"
_TAG_HEAD = re.compile(r"<(\w+):([^:>]*)")


@dataclass(frozen=True)
class LoraUse:
    """One LoRA of a run: the name as written, its file, its A1111 hash, its two weights and what it is."""

    name: str
    path: Path
    short_hash: str
    text_encoder_weight: float
    unet_weight: float
    info: LoraInfo


def _weight_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def parse_lora_option(spec: str) -> NetworkTag:
    """`--lora NAME[:WEIGHT[:UNET_WEIGHT]]` read as the tag `<lora:...>` would be."""
    text = str(spec).strip()
    if not text:
        raise UserInputError("--lora names no LoRA ('')", "write it as --lora NAME or --lora NAME:0.8")
    if "<" in text or ">" in text:
        raise UserInputError(f"--lora {text!r}: give the LoRA's name, not a prompt tag",
                             "write --lora NAME:0.8, or put <lora:NAME:0.8> in the prompt")
    try:
        _, tags, _ = extract_networks(f"<lora:{text}>")
    except UserInputError as error:
        raise UserInputError(error.message.replace(f"<lora:{text}>", f"--lora {text}"),
                             "write it as --lora NAME:0.8, or --lora NAME for weight 1") from None
    (tag,) = tags
    return NetworkTag("lora", tag.name, tag.text_encoder_weight, tag.unet_weight, f"--lora {text}")


def option_tag(spec: str) -> str:
    """The A1111 tag a `--lora` value stands for in the infotext (a path is written as its file's name)."""
    tag = parse_lora_option(spec)
    name = tag.name
    if "/" in name or "\\" in name or name.lower().endswith(".safetensors"):
        name = Path(name).stem if not Path(name).expanduser().is_dir() else Path(name).name
    weights = [_weight_text(tag.text_encoder_weight)]
    if tag.unet_weight != tag.text_encoder_weight:
        weights.append(_weight_text(tag.unet_weight))
    return f"<lora:{name}:{':'.join(weights)}>"


def prompt_with_tags(prompt: str, loras: tuple[str, ...] | list[str]) -> str:
    """The prompt as the infotext records it: the `--lora` values appended as A1111 tags."""
    tags = [option_tag(spec) for spec in loras]
    if not tags:
        return prompt
    return " ".join(part for part in (prompt.rstrip(), *tags) if part)


def requested_loras(prompt: str, loras: tuple[str, ...] | list[str]) -> list[NetworkTag]:
    """The prompt's LoRA tags, then the `--lora` values, in that order."""
    _, tags, _ = extract_networks(prompt)
    return [*tags, *(parse_lora_option(spec) for spec in loras)]


def resolve_loras(prompt: str, loras: tuple[str, ...] | list[str]) -> list[LoraUse]:
    """Each LoRA the run asks for, with its file and hash; unknown names fail with did-you-mean.

    The header is read (and a file that is no LoRA refused) before the file is hashed, which reads it all.
    """
    uses = []
    for tag in requested_loras(prompt, loras):
        path = find_lora(tag.name)
        info = read_lora_info(path)
        uses.append(LoraUse(tag.name, path, addnet_hash(path), tag.text_encoder_weight, tag.unet_weight, info))
    return uses


def hashes_field(uses: list[LoraUse]) -> str | None:
    """A1111's `Lora hashes` value: `name: hash` for each LoRA (names without `:` and `,`)."""
    pairs = {display_name(use.name): use.short_hash for use in uses}
    return ", ".join(f"{name}: {short}" for name, short in pairs.items()) or None


def parse_hashes_field(value: str | None) -> dict[str, str]:
    """`Lora hashes` read back: {name: hash}; unreadable entries are left out."""
    found: dict[str, str] = {}
    for entry in (value or "").split(","):
        name, _, short = entry.rpartition(":")
        if name.strip() and short.strip():
            found[name.strip()] = short.strip().lower()
    return found


def _local_name(path: Path) -> str:
    """The shortest name that finds `path` in the LoRA folder."""
    names = [name for name, found in available_loras().items() if found == path]
    return min(names, key=len) if names else str(path)


def _renamed(written: str, name: str) -> str:
    return _TAG_HEAD.sub(lambda match: f"<{match.group(1)}:{name}", written, count=1)


def plan_loras(params: Any, model_ref: Any, recorded: Any = None) -> Any:
    """Check every LoRA of a txt2img/img2img/inpaint plan now; returns the params, the prompt's tags renamed
    where a recorded LoRA was found by its hash under another name.

    `recorded` is the `--from-image` run (its `image` and its `lora_hashes`, A1111's `Lora hashes`): each
    recorded tag is found by hash first, then by name, and every one that is missing is named at once.
    """
    prompt = getattr(params, "prompt", None)
    if prompt is None:
        return params
    recorded_hashes: dict[str, str] = getattr(recorded, "lora_hashes", None) or {}
    recorded_in = f"{recorded.image}" if recorded is not None else None
    _, tags, _ = extract_networks(prompt)
    missing = []
    for tag in tags:
        short = recorded_hashes.get(display_name(tag.name))
        if short is None:
            continue
        named = lora_file_or_none(tag.name)
        if named is not None and addnet_hash(named)[:len(short)] == short:
            continue  # the file of that name is the one recorded: no need to hash the whole folder
        by_hash = find_lora_by_hash(short)
        if by_hash is not None:
            local = _local_name(by_hash)
            if local.lower() != tag.name.lower():
                prompt = prompt.replace(tag.written, _renamed(tag.written, local), 1)
            continue
        try:
            find_lora(tag.name)
        except UserInputError:
            missing.append(f"{tag.name!r} [{short}]")
    if missing:
        from sdkit.networks.lora_files import lora_folder

        raise UserInputError(f"{recorded_in or 'the image'} was made with LoRA {', '.join(missing)}, which "
                             f"{'is' if len(missing) == 1 else 'are'} not in {lora_folder()} (looked up by hash, "
                             "then by name)", f"put {'it' if len(missing) == 1 else 'them'} in {lora_folder()}, or "
                             "pass --prompt without the tag")
    for use in resolve_loras(prompt, tuple(getattr(params, "loras", ()) or ())):
        if model_ref is not None and model_ref.family:
            check_family(use.info, use.name, model_ref.family, model_ref.name)
    return params if prompt == params.prompt else params.model_copy(update={"prompt": prompt})
