"""Textual-inversion embeddings: broken, hostile or mismatched files in `<models folder>/embeddings`, used by
name in a prompt, through `generate` (a real run on the tiny SD 1.x model, 32 wide) and `sdkit prompt` (the
demo model's tokenizer, 64 wide, which reports a file it cannot use and goes on); and `--from-image` with
embeddings the image records but the folder lacks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from embedding_files import random_vectors, write_code_pickle, write_embedding

from bad_inputs.builders import image, infotext, safetensors, text
from bad_inputs.corpus import Ctx, case

MARKER = "{tmp}/payload-ran"
RUN = ("--model", "{sd1}", "-W", "64", "-H", "64", "--steps", "1", "--seed", "1", "-o", "{out}")
FOLDER = "{models}/embeddings"


def _in_embeddings(name: str, build: Callable[[Path, Ctx], object]) -> Callable[[Ctx], None]:
    """Setup: one file, `name`, in the models folder's embeddings/."""
    def setup(ctx: Ctx) -> None:
        folder = ctx.models / "embeddings"
        folder.mkdir(parents=True, exist_ok=True)
        build(folder / name, ctx)
    return setup


def _vectors(layout: str, count: int, width: int, second: int | None = None):
    def build(path: Path, ctx: Ctx) -> None:
        write_embedding(path, layout, random_vectors(count, width), random_vectors(count, second) if second else None)
    return build


def _embeddings_is_a_file(ctx: Ctx) -> None:
    ctx.models.mkdir(exist_ok=True)
    (ctx.models / "embeddings").write_text("not a folder")


def _code_pickle(path: Path, ctx: Ctx) -> None:
    write_code_pickle(path, Path(ctx.expand(MARKER)))


def _huge(path: Path, ctx: Ctx) -> None:
    with path.open("wb") as stream:
        stream.truncate(20 * 1024 * 1024)  # sparse: no disk used, but far too large to be an embedding


def _truncated(path: Path, ctx: Ctx) -> None:
    write_embedding(path, "emb_params", random_vectors(4, 32))
    path.write_bytes(path.read_bytes()[:-7])


def _lora_keys(path: Path, ctx: Ctx) -> None:
    import torch
    from safetensors.torch import save_file

    save_file({"lora_te_x.lora_down.weight": torch.zeros(4, 32), "lora_te_x.lora_up.weight": torch.zeros(32, 4)},
              str(path))


def _nan(path: Path, ctx: Ctx) -> None:
    vectors = random_vectors(2, 32)
    vectors[1, 0] = float("inf")
    write_embedding(path, "a1111", vectors)


# (file in embeddings/, how it is built, the words that name the problem)
BROKEN = {
    "garbled.safetensors": (safetensors(b"{not json", declared=9), "header is not valid JSON"),
    "truncated.safetensors": (_truncated, "truncated"),
    "notes.pt": (text("my favourite prompts\n" * 10), "this is a text file"),
    "cut.pt": (lambda path, ctx: path.write_bytes(b"PK\x03\x04" + b"\0" * 40), "truncated or corrupt"),
    "huge.bin": (_huge, "far more than any embedding"),
    "lora.safetensors": (_lora_keys, "none of the embedding layouts"),
    "endless.pt": (_nan, "NaN or infinite"),
    "long.pt": (_vectors("a1111", 80, 32), "80 vectors"),
    "empty.pt": (text(""), "the file is empty"),
}


def _stem(name: str) -> str:
    return name.split(".")[0]


CASES = [
    *[case(f"embedding-{_stem(name)}-{name.split('.')[1]}", "generate", "--prompt", f"a fox, {_stem(name)}", *RUN,
           setup=_in_embeddings(name, build), words=(f"embedding '{_stem(name)}'", words))
      for name, (build, words) in BROKEN.items()],
    case("embedding-code-pickle-generate", "generate", "--prompt", "evil, a fox", *RUN,
         setup=_in_embeddings("evil.pt", _code_pickle), words=("embedding 'evil'", "refused to load", "posix.system"),
         absent=(MARKER,)),
    case("embedding-code-pickle-prompt", "prompt", "evil, a fox", setup=_in_embeddings("evil.pt", _code_pickle),
         code=0, words=("warning: embedding 'evil'", "refused to load"), absent=(MARKER,), log=()),
    case("embedding-wrong-width", "generate", "--prompt", "wide, a fox", *RUN,
         setup=_in_embeddings("wide.pt", _vectors("a1111", 2, 64)),
         words=("embedding 'wide' has vectors 64 wide; this model's text encoder takes 32", "another model family")),
    case("embedding-sdxl-on-sd1", "generate", "--prompt", "xl, a fox", *RUN,
         setup=_in_embeddings("xl.safetensors", _vectors("sdxl", 2, 32, 64)),
         words=("embedding 'xl' is an SDXL embedding", "one text encoder")),
    case("embedding-sd1-on-sdxl", "generate", "--prompt", "one, a fox", "--model", "{sdxl}", *RUN[2:],
         setup=_in_embeddings("one.pt", _vectors("a1111", 2, 32)),
         words=("embedding 'one' is made for a model with one text encoder", "clip_l and clip_g")),
    case("embedding-longer-than-a-chunk", "prompt", "a fox, long",
         setup=_in_embeddings("long.pt", _vectors("a1111", 20, 64)),
         words=("embedding 'long' has 20 vectors, more than the 14 tokens",)),
    case("embedding-wrong-width-prompt-warns", "prompt", "wide, a fox",
         setup=_in_embeddings("wide.pt", _vectors("a1111", 2, 32)), code=0,
         words=("warning: embedding 'wide' has vectors 32 wide", "read as plain words"), log=()),
    case("embedding-folder-is-a-file", "prompt", "a fox", setup=_embeddings_is_a_file, code=0, words=("tokens:",),
         log=()),
    case("from-image-embedding-missing", "generate", "--from-image", "{ti.png}", *RUN[:2], "--dry-run", "-o", "{out}",
         files={"ti.png": image(parameters=infotext("a fox, glowstyle", TI_hashes='"glowstyle: 0123456789ab"'))},
         words=("{ti.png} was made with textual-inversion embedding(s) 'glowstyle' [0123456789ab]", FOLDER)),
    case("from-image-many-embeddings", "generate", "--from-image", "{ti.png}", *RUN[:2], "--dry-run", "-o", "{out}",
         files={"ti.png": image(parameters=infotext(
             "a fox " + " ".join(f"e{index}" for index in range(5000)),
             TI_hashes='"' + ", ".join(f"e{index}: {index:012x}" for index in range(5000)) + '"'))},
         words=("'e0' [000000000000]", "and 90 more"), not_words=("'e10'",), time_limit=3.0),
]
