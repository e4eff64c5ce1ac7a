"""Model files: broken safetensors headers, text and archives named as checkpoints, unsafe pickles.

Each file is tried where a user meets it: `models show FILE`, `generate --model FILE --dry-run`, and in
the models folder under `models list`, which must show it as unreadable and list the rest. An unsafe
pickle must never run: its payload would create a marker file that each case checks is absent.
"""

from __future__ import annotations

import struct

from bad_inputs.builders import (
    copy_of,
    folder,
    plain_pickle,
    raw,
    safetensors,
    tar_archive,
    text,
    unsafe_pickle,
    zip_of,
)
from bad_inputs.corpus import Ctx, case

DRY = ("--dry-run", "-o", "{out}")
MARKER = "{tmp}/payload-ran"
UNSAFE = ("refused to load", "posix.system")  # what an unsafe pickle is answered with
F32 = {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}

# name -> (builder, words that say what is wrong with it)
BROKEN_FILES = {
    "offsets-not-numbers.safetensors": (safetensors({"a": {**F32, "data_offsets": ["zz", "zz"]}}), "data_offsets"),
    "offsets-backwards.safetensors": (safetensors({"a": {**F32, "data_offsets": [8, 4]}}), "end before they begin"),
    "offsets-past-the-end.safetensors": (safetensors({"a": {**F32, "shape": [4096], "data_offsets": [0, 16384]}}),
                                         "is truncated"),
    "shape-not-numbers.safetensors": (safetensors({"a": {**F32, "shape": ["x"]}}), "shape"),
    "size-mismatch.safetensors": (safetensors({"a": {**F32, "shape": [3]}}), "do not hold"),
    "dtype-missing.safetensors": (safetensors({"a": {"shape": [1], "data_offsets": [0, 4]}}), "dtype"),
    "entry-not-a-table.safetensors": (safetensors({"a": [1, 2, 3]}), "not a description of a tensor"),
    "header-a-list.safetensors": (safetensors([1, 2, 3]), "not a table of tensors"),
    "header-not-json.safetensors": (safetensors(b"{not json at all"), "not valid JSON"),
    "header-length-huge.safetensors": (safetensors({"a": F32}, declared=2**62), "not a .safetensors file"),
    "header-length-past-the-end.safetensors": (safetensors({"a": F32}, declared=10_000),
                                               "not a .safetensors file"),
    "too-short.safetensors": (raw(b"\x01\x02\x03"), "too short"),
    "empty.safetensors": (raw(b""), "the file is empty"),
    "text-named.ckpt": (text("my favourite prompts\n" * 40), "text file"),
    "empty.ckpt": (raw(b""), "the file is empty"),
    "tar-archive.ckpt": (tar_archive(), "tar archive"),
    "zip-without-pickle.ckpt": (zip_of({"readme.txt": b"hello"}), "no data.pkl"),
    "plain-pickle.pt": (plain_pickle({"weights": [1.0, 2.0]}), "plain pickle"),
    "truncated-legacy.ckpt": (raw(b"\x80\x02\x8a\x0alo\x1c"), "damaged"),
    "png-named.safetensors": (raw(b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + b"\0" * 17),
                              "not a .safetensors file"),
}


def _show_and_generate(name: str, builder, words: str) -> list:
    stem = name.replace(".", "-")
    return [
        case(f"models-show-{stem}", "models", "show", f"{{{name}}}", files={name: builder},
             words=(f"{{{name}}}", words)),
        case(f"generate-model-{stem}", "generate", "--model", f"{{{name}}}", "--prompt", "a fox", *DRY,
             files={name: builder}, words=(f"{{{name}}}", words)),
    ]


def _in_models_folder(*names: str):
    """Setup: the named broken files plus a good tiny checkpoint in the models folder."""
    def setup(ctx: Ctx) -> None:
        ctx.models.mkdir(exist_ok=True)
        copy_of("sd1_file")(ctx.models / "good.safetensors", ctx)
        for name in names:
            BROKEN_FILES[name][0](ctx.models / name, ctx)
    return setup


def _models_folder_with(build):
    def setup(ctx: Ctx) -> None:
        ctx.models.mkdir(exist_ok=True)
        build(ctx)
    return setup


CASES = [
    *[made for name, (builder, words) in BROKEN_FILES.items() for made in _show_and_generate(name, builder, words)],
    # ------------------------------------------------------------- unsafe pickles never run
    case("models-show-unsafe-legacy-pickle", "models", "show", "{evil.ckpt}",
         files={"evil.ckpt": unsafe_pickle(MARKER)}, words=("{evil.ckpt}", *UNSAFE),
         absent=(MARKER,)),
    case("models-show-unsafe-zip-pickle", "models", "show", "{evil.ckpt}",
         files={"evil.ckpt": unsafe_pickle(MARKER, zipped=True)}, words=("{evil.ckpt}", *UNSAFE),
         absent=(MARKER,)),
    case("generate-unsafe-legacy-pickle", "generate", "--model", "{evil.ckpt}", "--prompt", "a fox", *DRY,
         files={"evil.ckpt": unsafe_pickle(MARKER)}, words=("{evil.ckpt}", *UNSAFE),
         absent=(MARKER,)),
    case("generate-unsafe-zip-pickle", "generate", "--model", "{evil.pt}", "--prompt", "a fox", *DRY,
         files={"evil.pt": unsafe_pickle(MARKER, zipped=True)}, words=("{evil.pt}", *UNSAFE),
         absent=(MARKER,)),
    case("generate-unsafe-pickle-as-vae", "generate", "--model", "{sd1}", "--vae", "{evil.ckpt}", "--prompt", "a fox",
         "-W", "64", "-H", "64", "--steps", "1", "-o", "{out}", files={"evil.ckpt": unsafe_pickle(MARKER)},
         words=("{evil.ckpt}", *UNSAFE),
         absent=(MARKER,)),
    # ------------------------------------------------------------------------ the models folder
    case("models-list-shows-unreadable-files", "models", "list", "--no-hash", code=0,
         setup=_in_models_folder("offsets-not-numbers.safetensors", "text-named.ckpt"),
         words=("offsets-not-numbers.safetensors", "data_offsets", "text-named.ckpt", "text file"),
         stdout=("good", "unreadable")),
    case("models-list-json-shows-unreadable-files", "models", "list", "--json", "--no-hash", code=0,
         setup=_in_models_folder("header-not-json.safetensors", "tar-archive.ckpt"),
         words=("header-not-json", "tar-archive"), stdout=('"unreadable": true', '"name": "good"')),
    case("models-list-unsafe-pickle-in-folder", "models", "list", "--no-hash", code=0,
         setup=_models_folder_with(lambda ctx: unsafe_pickle(MARKER)(ctx.models / "evil.ckpt", ctx)),
         words=("evil.ckpt",), stdout=("unreadable",), absent=(MARKER,)),
    case("models-list-models-dir-is-a-file", "models", "list", code=0, files={"models.txt": text("oops")},
         env={"SDKIT_MODELS_DIR": "{models.txt}"}, words=("warning", "{models.txt}", "is a file", "SDKIT_MODELS_DIR"),
         log=("{models.txt}",)),
    case("models-show-models-dir-is-a-file", "models", "show", "dreamshaper_8", files={"models.txt": text("oops")},
         env={"SDKIT_MODELS_DIR": "{models.txt}"}, words=("{models.txt}", "is a file")),
    case("models-list-config-models-dir-is-a-file", "models", "show", "anything", files={"models.txt": text("oops")},
         setup=lambda ctx: _write_config(ctx, "models_dir: {models.txt}\n"),
         env={"SDKIT_MODELS_DIR": None}, words=("{models.txt}", "config.yaml")),
    case("models-show-unknown-name", "models", "show", "dreamshaper_8", words=("dreamshaper_8",)),
    case("models-show-empty-name", "models", "show", "", words=("empty",)),
    case("models-show-empty-folder", "models", "show", "{in}/empty", files={"empty": folder()}, words=("{in}/empty",)),
    case("models-show-uncached-hub-id", "models", "show", "someone/some-model", words=("someone/some-model",)),
    case("models-show-hub-id-bad-revision", "models", "show", "someone/some-model@no-such-branch",
         words=("someone/some-model",)),
    case("models-show-folder-with-broken-model-index", "models", "show", "{in}/broken",
         files={"broken": folder("model_index.json")}, words=("{in}/broken",)),
]


def _write_config(ctx: Ctx, body: str) -> None:
    config = ctx.home / "config" / "config.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(ctx.expand(body), encoding="utf-8")
