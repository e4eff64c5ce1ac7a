"""Hub ids are found where huggingface_hub keeps its cache, at any cached revision, offline."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import run_sdkit

from sdkit.core.errors import UserInputError
from sdkit.models import list_models, resolve_model

COMMIT_MAIN = "0123456789abcdef0123456789abcdef01234567"
COMMIT_FP16 = "89abcdef0123456789abcdef0123456789abcdef"
HUB_VARIABLES = ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME")


def flat(text: str) -> str:
    return "".join(text.split())


def fake_repo(cache: Path, repo_id: str, pipeline: Path, refs: dict[str, str]) -> dict[str, Path]:
    """Lay `pipeline` out as huggingface_hub's cache does: refs/<ref> -> snapshots/<commit>/.

    Returns the snapshot folder of each commit.
    """
    owner, name = repo_id.split("/")
    repo = cache / f"models--{owner}--{name}"
    snapshots = {}
    for ref, commit in refs.items():
        snapshot = repo / "snapshots" / commit
        if not snapshot.exists():
            shutil.copytree(pipeline, snapshot)
        snapshots[commit] = snapshot
        (repo / "refs" / ref).parent.mkdir(parents=True, exist_ok=True)
        (repo / "refs" / ref).write_text(commit, encoding="utf-8")  # as huggingface_hub writes it
    return snapshots


# ---------------------------------------------------------------- where the cache is: as a real process
@pytest.mark.parametrize("variable", HUB_VARIABLES)
def test_the_cache_is_where_huggingface_hub_says(tmp_path, tiny_pipeline_dir, variable):
    root = tmp_path / "somewhere"
    cache = {"HF_HUB_CACHE": root, "HUGGINGFACE_HUB_CACHE": root, "HF_HOME": root / "hub",
             "XDG_CACHE_HOME": root / "huggingface" / "hub"}[variable]
    fake_repo(cache, "someone/tiny", tiny_pipeline_dir("sd1"), {"main": COMMIT_MAIN})
    env = {key: value for key, value in os.environ.items() if key not in HUB_VARIABLES}
    env.update({variable: str(root), "HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1"})
    code = ("import json, sys\nfrom sdkit.cli.app import main\n"
            "for args in (['models', 'list', '--json', '--no-hash'], ['models', 'show', 'someone/tiny', '--json']):\n"
            "    try:\n        main(args)\n    except SystemExit as stop:\n        assert not stop.code, stop.code\n"
            "heavy = [name for name in ('torch', 'diffusers', 'transformers') if name in sys.modules]\n"
            "sys.stderr.write('HEAVY=' + ','.join(heavy))\n")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert completed.stderr.strip().endswith("HEAVY="), completed.stderr[-800:]
    decoder = json.JSONDecoder()
    listed, end = decoder.raw_decode(completed.stdout)
    shown, _ = decoder.raw_decode(completed.stdout[end:].lstrip())
    assert [(record["name"], record["source"]) for record in listed] == [("someone/tiny", "hub")]
    assert Path(shown["location"]) == cache / "models--someone--tiny" / "snapshots" / COMMIT_MAIN


# ---------------------------------------------------------------- revisions
def test_every_cached_branch_is_listed_and_each_can_be_named(private_hub_cache, tiny_pipeline_dir, capsys):
    snapshots = fake_repo(private_hub_cache, "someone/tiny", tiny_pipeline_dir("sd1"),
                          {"main": COMMIT_MAIN, "fp16": COMMIT_FP16})
    names = sorted(ref.name for ref in list_models())
    assert names == ["someone/tiny", "someone/tiny@fp16"]
    assert resolve_model("someone/tiny").path == snapshots[COMMIT_MAIN]
    assert resolve_model("someone/tiny@fp16").path == snapshots[COMMIT_FP16]
    assert resolve_model(f"someone/tiny@{COMMIT_FP16}").path == snapshots[COMMIT_FP16]
    result = run_sdkit(capsys, "models", "show", "someone/tiny@fp16", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["name"] == "someone/tiny@fp16"


def test_a_repo_cached_only_at_another_branch_is_found_by_its_plain_id(private_hub_cache, tiny_pipeline_dir):
    snapshots = fake_repo(private_hub_cache, "someone/tiny", tiny_pipeline_dir("sd1"), {"fp16": COMMIT_FP16})
    assert [ref.name for ref in list_models()] == ["someone/tiny@fp16"]
    assert resolve_model("someone/tiny").path == snapshots[COMMIT_FP16]


def test_a_revision_that_is_not_cached_says_which_are(private_hub_cache, tiny_pipeline_dir):
    fake_repo(private_hub_cache, "someone/tiny", tiny_pipeline_dir("sd1"), {"main": COMMIT_MAIN, "fp16": COMMIT_FP16})
    with pytest.raises(UserInputError) as caught:
        resolve_model("someone/tiny@v2")
    assert "not cached at revision 'v2'" in caught.value.message
    assert "someone/tiny@main" in caught.value.hint and "someone/tiny@fp16" in caught.value.hint


def test_a_revision_cannot_reach_outside_the_repo(private_hub_cache, tiny_pipeline_dir):
    fake_repo(private_hub_cache, "someone/tiny", tiny_pipeline_dir("sd1"), {"main": COMMIT_MAIN})
    fake_repo(private_hub_cache, "other/secret", tiny_pipeline_dir("sd1"), {"main": COMMIT_FP16})
    for reference in ("someone/tiny@../../models--other--secret/snapshots/" + COMMIT_FP16, "someone/tiny@.."):
        with pytest.raises(UserInputError):
            resolve_model(reference)


def test_a_cached_repo_that_is_not_a_pipeline_is_named(private_hub_cache, tmp_path):
    lora = tmp_path / "lora"
    lora.mkdir()
    (lora / "pytorch_lora_weights.safetensors").write_bytes(b"x")
    fake_repo(private_hub_cache, "someone/style-lora", lora, {"main": COMMIT_MAIN})
    with pytest.raises(UserInputError) as caught:
        resolve_model("someone/style-lora")
    assert "not a diffusers pipeline" in caught.value.message
    assert list_models() == []
