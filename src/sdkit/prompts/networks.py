"""Extra-network tags in a prompt: `<lora:NAME:WEIGHT>` (and `<lyco:...>`, the old LyCORIS name).

A1111 removes every `<kind:args>` tag from the text before encoding (the infotext keeps the prompt as
written) and activates the networks it knows. The weight is optional (1.0); `<lora:NAME:TE:UNET>`
gives the text encoder and the UNet separate weights. Pure Python: which file a name means is the
loader's business.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sdkit.core.errors import UserInputError

_TAG = re.compile(r"<(\w+):([^>]+)>")
LORA_KINDS = ("lora", "lyco")


@dataclass(frozen=True)
class NetworkTag:
    kind: str  # "lora" (a `lyco` tag is read as one)
    name: str
    text_encoder_weight: float
    unet_weight: float
    written: str  # the tag as it appears in the prompt


def _weight(text: str, tag: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise UserInputError(f"the weight {text!r} in {tag} is not a number",
                             "write it as <lora:NAME:0.8>, or leave the weight out for 1.0") from None


def extract_networks(prompt: str) -> tuple[str, list[NetworkTag], list[str]]:
    """The prompt without its tags, the LoRA tags found, and any tags of kinds sdkit does not know."""
    found: list[NetworkTag] = []
    unknown: list[str] = []

    def take(match: re.Match[str]) -> str:
        kind, args = match.group(1).lower(), match.group(2).split(":")
        if kind not in LORA_KINDS:
            unknown.append(match.group(0))
            return ""
        name = args[0].strip()
        if not name:
            raise UserInputError(f"{match.group(0)} names no LoRA", "write it as <lora:NAME:WEIGHT>")
        weights = [_weight(part.strip(), match.group(0)) for part in args[1:3] if part.strip()]
        text_encoder = weights[0] if weights else 1.0
        unet = weights[1] if len(weights) > 1 else text_encoder
        found.append(NetworkTag("lora", name, text_encoder, unet, match.group(0)))
        return ""

    return _TAG.sub(take, prompt), found, unknown
