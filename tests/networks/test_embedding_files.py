"""Reading embedding files in every layout real tools write, the embeddings folder, and the short hash."""

from __future__ import annotations

import hashlib

import pytest
import torch
from embedding_files import DEMO_WIDTH, random_vectors, write_code_pickle, write_embedding

from sdkit.core.errors import UnknownKeyError, UserInputError
from sdkit.networks.embedding_files import read_embedding_vectors
from sdkit.networks.embeddings import EmbeddingLibrary, embedding_short_hash, load_embedding, ti_hashes

SINGLE_LAYOUTS = [("a1111", ".pt"), ("emb_params", ".safetensors"), ("emb_params", ".pt"),
                  ("diffusers", ".bin"), ("diffusers", ".safetensors"), ("bare", ".pt")]


@pytest.mark.parametrize(("layout", "suffix"), SINGLE_LAYOUTS)
def test_every_single_encoder_layout_reads_to_its_vectors(tmp_path, layout, suffix):
    vectors = random_vectors(3, DEMO_WIDTH)
    path = write_embedding(tmp_path / f"style{suffix}", layout, vectors)
    tables = read_embedding_vectors(path)
    assert list(tables) == ["single"] and torch.equal(tables["single"], vectors)


def test_a_one_vector_diffusers_embedding_is_one_slot(tmp_path):
    vector = random_vectors(1, 32)
    path = write_embedding(tmp_path / "learned_embeds.bin", "diffusers-1d", vector)
    embedding = load_embedding("learned_embeds", path)
    assert embedding.vector_count == 1 and torch.equal(embedding.vectors_for("single", 32), vector)


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_an_sdxl_embedding_has_vectors_for_each_encoder(tmp_path, suffix):
    clip_l, clip_g = random_vectors(2, 32, seed=1), random_vectors(2, 64, seed=2)
    embedding = load_embedding("xl", write_embedding(tmp_path / f"xl{suffix}", "sdxl", clip_l, clip_g))
    assert torch.equal(embedding.vectors_for("clip_l", 32), clip_l)
    assert torch.equal(embedding.vectors_for("clip_g", 64), clip_g)
    with pytest.raises(UserInputError, match="is an SDXL embedding .* one text encoder, 64 wide"):
        embedding.vectors_for("single", 64)


def test_a_width_or_family_mismatch_says_what_the_embedding_is_for(tmp_path):
    embedding = load_embedding("sd1", write_embedding(tmp_path / "sd1.pt", "a1111", random_vectors(2, 32)))
    with pytest.raises(UserInputError, match="has vectors 32 wide; this model's text encoder takes 64") as error:
        embedding.vectors_for("single", 64)
    assert "another model family" in error.value.message and error.value.hint
    with pytest.raises(UserInputError, match="made for a model with one text encoder .32 wide"):
        embedding.vectors_for("clip_l", 32)


def test_the_folder_is_searched_in_subfolders_and_the_first_of_a_name_wins(tmp_path):
    folder = tmp_path / "embeddings"
    write_embedding(folder / "a" / "style.pt", "a1111", random_vectors(1, 8))
    write_embedding(folder / "b" / "style.safetensors", "emb_params", random_vectors(1, 8))
    write_embedding(folder / "deep" / "er" / "other.bin", "diffusers", random_vectors(1, 8))
    write_embedding(folder / ".hidden" / "secret.pt", "a1111", random_vectors(1, 8))
    (folder / "notes.txt").write_text("not an embedding")
    library = EmbeddingLibrary.scan(folder)
    assert sorted(library.names) == ["other", "style"] and library.files["style"] == folder / "a" / "style.pt"
    assert not EmbeddingLibrary.scan(tmp_path / "missing")
    with pytest.raises(UnknownKeyError, match="did you mean 'style'"):
        library.get("styel")


def test_the_short_hash_is_the_first_12_hex_digits_of_the_files_sha256(tmp_path):
    path = write_embedding(tmp_path / "known.safetensors", "emb_params", torch.arange(8.0).reshape(2, 4))
    expected = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    assert embedding_short_hash(path) == expected
    library = EmbeddingLibrary({"kno,wn:": path})
    assert ti_hashes(library, ["kno,wn:"]) == f"known: {expected}"  # A1111 drops , and : from the names
    assert ti_hashes(library, []) is None


def test_a_changed_file_is_read_again(tmp_path):
    path = write_embedding(tmp_path / "style.pt", "a1111", random_vectors(1, 8, seed=1))
    first = load_embedding("style", path).tables["single"]
    replacement = random_vectors(2, 8, seed=2)
    write_embedding(path, "a1111", replacement)
    assert not torch.equal(first, load_embedding("style", path).tables["single"])
    assert torch.equal(load_embedding("style", path).tables["single"], replacement)


def test_a_pickle_with_code_in_it_is_refused_and_its_code_never_runs(tmp_path):
    marker = tmp_path / "payload-ran"
    path = write_code_pickle(tmp_path / "evil.pt", marker)
    with pytest.raises(UserInputError, match="refused to load: the file holds code") as error:
        read_embedding_vectors(path)
    assert "safetensors" in error.value.hint and not marker.exists()


@pytest.mark.parametrize(("content", "words"), [
    (b"", "the file is empty"),
    (b"PK\x03\x04 truncated zip", "truncated or corrupt"),
    (b"just some text, a list of prompts I like\n", "this is a text file"),
    (b"\x80\x02garbage that is no pickle", "truncated or corrupt"),
])
def test_broken_pickles_say_what_is_wrong(tmp_path, content, words):
    path = tmp_path / "broken.pt"
    path.write_bytes(content)
    with pytest.raises(UserInputError, match=words):
        read_embedding_vectors(path)


def test_broken_or_wrong_files_say_what_is_wrong(tmp_path):
    good = write_embedding(tmp_path / "good.safetensors", "emb_params", random_vectors(2, 8))
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(good.read_bytes()[:-5])
    with pytest.raises(UserInputError, match="truncated"):
        read_embedding_vectors(truncated)
    lora = tmp_path / "lora.safetensors"
    from safetensors.torch import save_file

    save_file({"lora_unet_a.lora_down.weight": torch.zeros(4, 8), "lora_unet_a.lora_up.weight": torch.zeros(8, 4)},
              str(lora))
    with pytest.raises(UserInputError, match="none of the embedding layouts") as error:
        read_embedding_vectors(lora)
    assert "LoRA" in error.value.hint
    with pytest.raises(UserInputError, match="76 vectors"):
        read_embedding_vectors(write_embedding(tmp_path / "long.pt", "a1111", random_vectors(76, 8)))
    nan = random_vectors(1, 8)
    nan[0, 3] = float("nan")
    with pytest.raises(UserInputError, match="NaN"):
        read_embedding_vectors(write_embedding(tmp_path / "nan.pt", "a1111", nan))
    big = tmp_path / "big.bin"
    with big.open("wb") as stream:
        stream.truncate(17 * 1024 * 1024)
    with pytest.raises(UserInputError, match="far more than any embedding"):
        read_embedding_vectors(big)
