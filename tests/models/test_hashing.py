"""A1111 short hashes: the first 10 hex digits of the weights' SHA-256, cached by path, size and mtime."""

from __future__ import annotations

import hashlib
import json
import os
import shutil

from sdkit.models import model_short_hash, resolve_model
from sdkit.models.hashing import hash_cache_file


def test_the_short_hash_is_a1111s_and_is_cached(tmp_path, tiny_single_file, monkeypatch):
    path = tmp_path / "model.safetensors"
    shutil.copy(tiny_single_file("sd1"), path)
    ref = resolve_model(str(path))
    expected = hashlib.sha256(path.read_bytes()).hexdigest()
    assert model_short_hash(ref) == expected[:10]
    cache = json.loads(hash_cache_file().read_text(encoding="utf-8"))
    assert list(cache.values()) == [expected]

    def no_hashing(*args, **kwargs):
        raise AssertionError("hashed again although the file did not change")

    monkeypatch.setattr(hashlib, "sha256", no_hashing)
    assert model_short_hash(resolve_model(str(path))) == expected[:10]


def test_a_changed_file_is_hashed_again(tmp_path, tiny_single_file):
    path = tmp_path / "model.safetensors"
    shutil.copy(tiny_single_file("sd1"), path)
    first = model_short_hash(resolve_model(str(path)))
    shutil.copy(tiny_single_file("sd2", prediction_type="v_prediction"), path)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    second = model_short_hash(resolve_model(str(path)))
    assert second != first and second == hashlib.sha256(path.read_bytes()).hexdigest()[:10]


def test_a_diffusers_folder_is_hashed_by_its_unet_weights(tiny_pipeline_dir):
    folder = tiny_pipeline_dir("sdxl")
    unet = folder / "unet" / "diffusion_pytorch_model.safetensors"
    assert model_short_hash(resolve_model(str(folder))) == hashlib.sha256(unet.read_bytes()).hexdigest()[:10]


def test_an_unwritable_cache_does_not_stop_hashing(tmp_path, tiny_single_file, sdkit_home):
    (sdkit_home / "cache").parent.mkdir(parents=True, exist_ok=True)
    (sdkit_home / "cache").write_text("a file where the cache folder should be", encoding="utf-8")
    ref = resolve_model(str(tiny_single_file("sd1")))
    assert model_short_hash(ref) == hashlib.sha256(ref.path.read_bytes()).hexdigest()[:10]
