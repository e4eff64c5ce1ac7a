"""The real CLIP tokenizer files (vocab.json, merges.txt), built offline from a shipped BPE merges list.

Every Stable Diffusion text encoder (CLIP ViT-L in SD 1.x and SDXL, OpenCLIP ViT-H/bigG in SD 2.x and
SDXL) uses the same 49,408-entry byte-level BPE vocabulary. sdkit ships OpenAI's merges list as
OpenCLIP distributes it (`configs/clip/bpe_simple_vocab_16e6.txt.gz`, MIT licence, see
LICENSE-open_clip.txt beside it) and builds the two files Hugging Face tokenizers read from it, once,
into the cache folder. The vocabulary is: the 256 byte symbols, the same with "</w>", the first 48,894
merges joined, then <|startoftext|> and <|endoftext|>.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

from sdkit.files.atomic import replace_file
from sdkit.runtime.paths import paths

MERGES_FILE = Path(__file__).parent / "configs" / "clip" / "bpe_simple_vocab_16e6.txt.gz"
MERGE_COUNT = 49152 - 256 - 2  # CLIP keeps this many merges, so that the vocabulary has 49,408 entries
VOCAB_SIZE = 49408


def byte_symbols() -> list[str]:
    """The printable character that stands for each byte in byte-level BPE, in vocabulary order."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return [chr(code) for code in codes]


def build_vocab_and_merges(merges_file: Path = MERGES_FILE) -> tuple[dict[str, int], list[str]]:
    """CLIP's vocabulary (token -> id) and its merge rules ("a b" lines), from the gzipped merges list."""
    lines = gzip.decompress(merges_file.read_bytes()).decode("utf-8").split("\n")
    merges = lines[1:MERGE_COUNT + 1]  # the first line is a version header
    symbols = byte_symbols()
    tokens = symbols + [symbol + "</w>" for symbol in symbols]
    tokens += ["".join(merge.split()) for merge in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    return {token: index for index, token in enumerate(tokens)}, merges


def clip_tokenizer_files() -> Path:
    """A folder holding CLIP's vocab.json and merges.txt, built into the cache on first use."""
    digest = hashlib.sha256(MERGES_FILE.read_bytes()).hexdigest()[:12]
    folder = paths().cache_dir / "clip-tokenizer" / digest
    vocab_path, merges_path = folder / "vocab.json", folder / "merges.txt"
    if vocab_path.is_file() and merges_path.is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    vocab, merges = build_vocab_and_merges()
    replace_file(merges_path, "#version: 0.2\n" + "\n".join(merges) + "\n")
    replace_file(vocab_path, json.dumps(vocab, ensure_ascii=False))  # written last: it marks completion
    return folder
