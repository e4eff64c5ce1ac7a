"""Embeddings through the real CLI on the bundled demo model: `generate` uses them by name and records
`TI hashes`, `--from-image` finds them again (or names the missing ones), `sdkit prompt` shows them."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from cli_helpers import run_sdkit
from embedding_files import DEMO_WIDTH, random_vectors, write_embedding
from PIL import Image

from sdkit.outputs.infotext import read_infotext

FAST = ("--seed", "7", "--steps", "4")


@pytest.fixture
def embeddings(tmp_path):
    """The test's `<models folder>/embeddings` (the suite's conftest points SDKIT_MODELS_DIR at tmp/models)."""
    return tmp_path / "models" / "embeddings"


def generate(capsys, out, *args):
    result = run_sdkit(capsys, "generate", *args, *FAST, "-o", str(out), "--json")
    assert result.exit_code == 0, result.output
    [image] = json.loads(result.stdout)["images"]
    return image["path"]


def pixels(path):
    with Image.open(path) as image:
        return np.asarray(image).copy()


def short_hash(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def test_an_embedding_changes_the_image_is_recorded_and_recalled_bit_for_bit(capsys, tmp_path, embeddings):
    words = generate(capsys, tmp_path / "words", "a red circle, glowstyle", "-n", "dullness")
    style = write_embedding(embeddings / "glowstyle.pt", "a1111", random_vectors(3, DEMO_WIDTH, seed=5))
    negative = write_embedding(embeddings / "sub" / "dullness.safetensors", "emb_params",
                               random_vectors(2, DEMO_WIDTH, seed=6))
    used = generate(capsys, tmp_path / "used", "a red circle, glowstyle", "-n", "dullness")
    assert not np.array_equal(pixels(words), pixels(used))  # the vectors, not the name's tokens
    fields = read_infotext(used).fields
    assert fields["TI hashes"] == f"glowstyle: {short_hash(style)}, dullness: {short_hash(negative)}"
    assert "TI hashes" not in read_infotext(words).fields
    again = generate(capsys, tmp_path / "again", "--from-image", used)
    assert np.array_equal(pixels(used), pixels(again))
    assert read_infotext(again).fields["TI hashes"] == fields["TI hashes"]


def test_a_weight_on_an_embedding_changes_the_image_and_weight_one_does_not(capsys, tmp_path, embeddings):
    write_embedding(embeddings / "glowstyle.safetensors", "emb_params", random_vectors(2, DEMO_WIDTH, seed=8))
    plain = generate(capsys, tmp_path / "plain", "a circle glowstyle")
    weighted = generate(capsys, tmp_path / "weighted", "a circle (glowstyle:1.5)")
    one = generate(capsys, tmp_path / "one", "a circle (glowstyle:1)")
    assert not np.array_equal(pixels(plain), pixels(weighted)) and np.array_equal(pixels(plain), pixels(one))


def test_an_embeddings_folder_leaves_prompts_that_do_not_use_it_alone(capsys, tmp_path, embeddings):
    before = generate(capsys, tmp_path / "before", "a red circle")
    write_embedding(embeddings / "glowstyle.pt", "a1111", random_vectors(3, DEMO_WIDTH))
    after = generate(capsys, tmp_path / "after", "a red circle")
    assert np.array_equal(pixels(before), pixels(after)) and "TI hashes" not in read_infotext(after).fields


def test_from_image_names_a_missing_embedding_and_a_renamed_one(capsys, tmp_path, embeddings):
    style = write_embedding(embeddings / "glowstyle.pt", "a1111", random_vectors(3, DEMO_WIDTH, seed=5))
    made = generate(capsys, tmp_path / "made", "a circle, glowstyle")
    recorded = short_hash(style)
    renamed = style.rename(embeddings / "glow-v2.pt")
    result = run_sdkit(capsys, "generate", "--from-image", made, "--dry-run")
    assert result.exit_code == 2, result.output
    assert f"'glowstyle' [{recorded}], which are not in the embeddings folder" in " ".join(result.stderr.split())
    assert "glow-v2.pt is glowstyle: rename it to glowstyle.pt" in " ".join(result.stderr.split())
    renamed.unlink()
    result = run_sdkit(capsys, "generate", "--from-image", made, "--dry-run")
    assert result.exit_code == 2 and "put the embedding files there" in " ".join(result.stderr.split())
    # A prompt of the user's own, without the embedding, needs none of it.
    assert run_sdkit(capsys, "generate", "--from-image", made, "--prompt", "a circle", "--dry-run").exit_code == 0
    # Another file of that name is used, with a warning that the image will differ.
    write_embedding(embeddings / "glowstyle.pt", "a1111", random_vectors(3, DEMO_WIDTH, seed=9))
    result = run_sdkit(capsys, "generate", "--from-image", made, "--dry-run")
    assert result.exit_code == 0 and "another version of it" in " ".join(result.stderr.split())


def test_an_embedding_for_another_model_family_is_refused_with_its_width(capsys, tmp_path, embeddings):
    write_embedding(embeddings / "sd15style.pt", "a1111", random_vectors(2, 32))
    result = run_sdkit(capsys, "generate", "sd15style, a circle", *FAST, "-o", str(tmp_path / "out"))
    assert result.exit_code == 2, result.output
    assert "embedding 'sd15style' has vectors 32 wide; this model's text encoder takes 64" in " ".join(
        result.stderr.split())
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_sdkit_prompt_shows_the_embeddings_their_slots_and_the_unusable_ones(capsys, embeddings):
    style = write_embedding(embeddings / "glowstyle.pt", "a1111", random_vectors(3, DEMO_WIDTH))
    write_embedding(embeddings / "sd15style.pt", "a1111", random_vectors(2, 32))
    write_embedding(embeddings / "unused.pt", "a1111", random_vectors(2, DEMO_WIDTH))
    result = run_sdkit(capsys, "prompt", "a (glowstyle:1.2) sd15style", "--json")
    assert result.exit_code == 0, result.output
    described = json.loads(result.stdout)
    [chunk, *_] = described["chunks"]
    [fix] = chunk["embeddings"]
    assert fix["name"] == "glowstyle" and fix["vectors"] == 3
    assert chunk["weights"][fix["offset"]:fix["offset"] + 3] == [1.2] * 3
    assert described["embeddings"]["used"] == [{"name": "glowstyle", "file": str(style), "vectors": 3,
                                                "hash": short_hash(style)}]
    [unusable] = described["embeddings"]["unusable"]
    assert unusable["name"] == "sd15style" and "32 wide" in unusable["problem"]
    table = run_sdkit(capsys, "prompt", "a (glowstyle:1.2) sd15style")
    flat = " ".join(table.output.split())
    assert f"embedding glowstyle: 3 vector(s), {short_hash(style)}" in flat and "warning: embedding 'sd15style'" in flat


@pytest.mark.parametrize("family", ["sd1", "sd2", "sdxl"])
def test_each_family_uses_an_embedding_of_its_widths(capsys, tmp_path, embeddings, tiny_pipeline_dir, family):
    from embedding_files import TINY_WIDTHS

    model = ("--model", str(tiny_pipeline_dir(family)), "-W", "64", "-H", "64")
    words = generate(capsys, tmp_path / "words", "a fox, tinystyle", *model)
    widths = TINY_WIDTHS[family]
    if len(widths) == 2:
        path = write_embedding(embeddings / "tinystyle.safetensors", "sdxl", random_vectors(2, widths[0], seed=1),
                               random_vectors(2, widths[1], seed=2))
    else:
        path = write_embedding(embeddings / "tinystyle.pt", "a1111", random_vectors(2, widths[0], seed=1))
    used = generate(capsys, tmp_path / "used", "a fox, tinystyle", *model)
    assert read_infotext(used).fields["TI hashes"] == f"tinystyle: {short_hash(path)}"
    assert not np.array_equal(pixels(words), pixels(used))
