"""Textual-inversion embeddings: the files in `<models folder>/embeddings`, found by name, read when used.

As in A1111, an embedding is named by its file name without the extension (`embeddings/my-style.pt` is
`my-style`), in any subfolder, and a prompt uses it by writing that name as words (the CLIP tokenizer
lowercases, so `My-Style` is the same name). `EmbeddingLibrary` lists the files (cheap: no file is
opened) and reads an embedding the first time a prompt uses it; what it read is kept per process, keyed
by the file's path, size and modification time, so a replaced file is read again. The infotext names an
embedding by A1111's short hash: the first 12 hex digits of the file's SHA-256 (`TI hashes`).
Reading one file is `embedding_files.py`; putting its vectors into the text encoder is `sdkit.prompts`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sdkit.core.errors import UnknownKeyError, UserInputError
from sdkit.networks.embedding_files import EMBEDDING_SUFFIXES, SDXL_KEYS, SINGLE, read_embedding_vectors
from sdkit.prompts.chunks import Chunk, EmbeddingMatcher, TokenizerInfo, chunk_runs
from sdkit.prompts.emphasis import Run

log = logging.getLogger(__name__)

EMBEDDINGS_FOLDER = "embeddings"
TI_HASH_LENGTH = 12
MAX_LISTED_FILES = 10_000  # a folder with more is not an embeddings folder: stop walking it

_loaded: dict[tuple[str, int, int], dict[str, Any]] = {}


def embeddings_folder(models_dir: Path) -> Path:
    """Where a models folder keeps its embeddings (A1111's `embeddings/`)."""
    return Path(models_dir) / EMBEDDINGS_FOLDER


def infotext_name(name: str) -> str:
    """A name as A1111 writes it in `TI hashes` (no `:` or `,`, which separate the entries)."""
    return name.replace(":", "").replace(",", "")


@dataclass(frozen=True)
class Embedding:
    """One embedding's vectors: {"single": [N, C]} (SD 1.x/2.x) or {"clip_l": ..., "clip_g": ...} (SDXL)."""

    name: str
    path: Path
    tables: Mapping[str, Any]

    @property
    def vector_count(self) -> int:
        return int(next(iter(self.tables.values())).shape[0])

    def describe(self) -> str:
        widths = " + ".join(f"{key} {int(table.shape[1])}" if key != SINGLE else str(int(table.shape[1]))
                            for key, table in self.tables.items())
        return f"{self.vector_count} vector(s) of width {widths}"

    def vectors_for(self, encoder: str, width: int | None) -> Any:
        """The vectors for one text encoder ("single", "clip_l" or "clip_g") of `width` (None: any), checked."""
        hint = "use an embedding made for this model's family, or remove its name from the prompt"
        if encoder == SINGLE and SINGLE not in self.tables:
            raise UserInputError(f"embedding {self.name!r} is an SDXL embedding (clip_l and clip_g vectors); this "
                                 f"model has one text encoder, {width} wide", hint)
        if encoder != SINGLE and SINGLE in self.tables:
            made_for = int(self.tables[SINGLE].shape[1])
            raise UserInputError(f"embedding {self.name!r} is made for a model with one text encoder ({made_for} "
                                 "wide, SD 1.x/2.x); SDXL embeddings carry clip_l and clip_g vectors", hint)
        table = self.tables[encoder]
        if width is not None and int(table.shape[1]) != width:
            which = "" if encoder == SINGLE else f" {encoder}"
            raise UserInputError(f"embedding {self.name!r}{which} has vectors {int(table.shape[1])} wide; this model's "
                                 f"text encoder takes {width} (the embedding is made for another model family: "
                                 "768 is SD 1.x, 1024 SD 2.x, 768 + 1280 SDXL)", hint)
        return table


def load_embedding(name: str, path: Path) -> Embedding:
    """The embedding in `path`, from the per-process cache when the file has not changed."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _loaded:
        _loaded[key] = read_embedding_vectors(path)
        log.info("read embedding %s from %s", name, path)
    return Embedding(name, path, _loaded[key])


def embedding_short_hash(path: Path) -> str:
    """A1111's `TI hashes` value: the first 12 hex digits of the file's SHA-256 (cached like model hashes)."""
    from sdkit.models.hashing import file_sha256

    return file_sha256(path)[:TI_HASH_LENGTH]


def _walk(folder: Path) -> list[Path]:
    found: list[Path] = []
    # Not following links: a link back up the tree would make the walk endless.
    for root, folders, files in os.walk(folder, onerror=lambda error: log.warning("cannot list %s", error.filename)):
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        found += [Path(root) / name for name in sorted(files)
                  if not name.startswith(".") and Path(name).suffix.lower() in EMBEDDING_SUFFIXES]
        if len(found) > MAX_LISTED_FILES:
            log.warning("%s holds more than %d files; only those are used as embeddings", folder, MAX_LISTED_FILES)
            return found[:MAX_LISTED_FILES]
    return found


class EmbeddingLibrary:
    """The embeddings a prompt can use, by name; files are read only when a prompt uses them."""

    def __init__(self, files: Mapping[str, Path], folder: Path | None = None) -> None:
        self.files = dict(files)
        self.folder = folder

    @classmethod
    def scan(cls, folder: Path) -> EmbeddingLibrary:
        """Every embedding file under `folder` (none if it does not exist); the first of a name wins."""
        folder = Path(folder)
        files: dict[str, Path] = {}
        if folder.is_dir():
            for path in _walk(folder):
                if path.is_file():
                    if path.stem in files:
                        log.warning("embedding %s is both %s and %s; using the first", path.stem,
                                    files[path.stem], path)
                        continue
                    files[path.stem] = path
        return cls(files, folder)

    @property
    def names(self) -> list[str]:
        return list(self.files)

    def __bool__(self) -> bool:
        return bool(self.files)

    def get(self, name: str) -> Embedding:
        path = self.files.get(name)
        if path is None:
            raise UnknownKeyError("embedding", name, self.names, hint=f"put {name}.safetensors in {self.folder}")
        try:
            return load_embedding(name, path)
        except OSError as error:
            raise UserInputError(f"embedding {name!r} ({path}): cannot read the file: {error.strerror or error}",
                                 "check the file and its permissions") from None

    def short_hash(self, name: str) -> str:
        return embedding_short_hash(self.files[name])


def encoder_keys(dual_encoder: bool) -> tuple[str, ...]:
    """The vector tables a model's text encoders take, in encoder order."""
    return SDXL_KEYS if dual_encoder else (SINGLE,)


class EncoderEmbeddings:
    """The library as one text encoder sees it: which vector table it takes, how wide, through which tokenizer.

    `matcher` is what chunking uses; `vectors_of(chunks)` is what encoding uses. Each embedding is read
    and checked against the encoder once, when a prompt first uses it.
    """

    def __init__(self, library: EmbeddingLibrary, encoder: str, width: int | None, tokenizer: TokenizerInfo) -> None:
        self.library = library
        self.encoder = encoder
        self.width = width
        self._vectors: dict[str, Any] = {}
        self.matcher = EmbeddingMatcher(library.names, tokenizer, self.vector_count)

    def vectors(self, name: str) -> Any:
        if name not in self._vectors:
            self._vectors[name] = self.library.get(name).vectors_for(self.encoder, self.width)
        return self._vectors[name]

    def vector_count(self, name: str) -> int:
        return int(self.vectors(name).shape[0])

    def vectors_of(self, chunks: Iterable[Chunk]) -> dict[str, Any]:
        """The vectors of every embedding the chunks use."""
        return {fix.name: self.vectors(fix.name) for chunk in chunks for fix in chunk.fixes}


def names_used(library: EmbeddingLibrary, runs_lists: Iterable[Sequence[Run]], tokenizer: TokenizerInfo) -> list[str]:
    """The embeddings some prompts (as weighted runs) use, by their names' tokens; no file is read."""
    if not library:
        return []
    matcher = EmbeddingMatcher(library.names, tokenizer, lambda name: 1)  # where they are, not how long
    return used_embeddings(chunk_runs(runs, tokenizer, embeddings=matcher).chunks for runs in runs_lists)


def used_embeddings(chunk_lists: Iterable[Iterable[Chunk]]) -> list[str]:
    """The embeddings some chunks use, in order of first use."""
    return list(dict.fromkeys(fix.name for chunks in chunk_lists for chunk in chunks for fix in chunk.fixes))


def ti_hashes(library: EmbeddingLibrary, names: Iterable[str]) -> str | None:
    """The `TI hashes` infotext value, `name: 0123456789ab, ...`; None when no embedding is used."""
    entries = [f"{infotext_name(name)}: {library.short_hash(name)}" for name in names]
    return ", ".join(entries) or None


def usable_embeddings(library: EmbeddingLibrary, names: Iterable[str],
                      encoders: Sequence[tuple[str, int | None]]) -> tuple[EmbeddingLibrary, list[dict[str, str]]]:
    """The library less those of `names` that cannot serve these (encoder key, width) pairs, and why not.

    For reports (`sdkit prompt`) that show every problem at once; generating refuses the first instead.
    An unusable embedding's name is then read as ordinary words, as A1111 does with the ones it skips.
    """
    unusable: list[dict[str, str]] = []
    for name in names:
        try:
            embedding = library.get(name)
            for encoder, width in encoders:
                embedding.vectors_for(encoder, width)
        except UserInputError as error:
            unusable.append({"name": name, "file": str(library.files[name]), "problem": error.message,
                             "hint": error.hint or ""})
    left_out = {entry["name"] for entry in unusable}
    return EmbeddingLibrary({name: path for name, path in library.files.items() if name not in left_out},
                            library.folder), unusable
