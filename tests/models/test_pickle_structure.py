"""Pickle checkpoints are described from their table of tensors: no torch, no code from the file, ever."""

from __future__ import annotations

import io
import json
import os
import pickle
import subprocess
import sys
import tarfile
import zipfile

import pytest
from cli_helpers import run_sdkit

from sdkit.core.errors import UserInputError
from sdkit.models import resolve_model
from sdkit.models.checkpoint import read_shapes

HEAVY = ("torch", "diffusers", "transformers", "safetensors.torch")


def flat(text: str) -> str:
    return "".join(text.split())


class RunsCode:
    """Unpickling this calls os.system: what a booby-trapped checkpoint does."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class CallsEval:
    def __reduce__(self):
        return (eval, ("__import__('os').system('touch /nonexistent-sdkit-marker')",))


def _refused(path) -> UserInputError:
    with pytest.raises(UserInputError) as caught:
        resolve_model(str(path))
    return caught.value


def _run_in_a_process(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})


def test_models_list_and_show_read_a_ckpt_without_importing_torch(models_dir, tiny_single_file):
    ckpt = tiny_single_file("sd1", inpainting=True, suffix=".ckpt")
    target = models_dir / "tiny-inpaint.ckpt"
    target.write_bytes(ckpt.read_bytes())
    code = ("import sys\nfrom sdkit.cli.app import main\n"
            "for args in (['models', 'list', '--json', '--no-hash'], ['models', 'show', sys.argv[1], '--json']):\n"
            "    try:\n        main(args)\n    except SystemExit as stop:\n        assert not stop.code, stop.code\n"
            f"heavy = [name for name in {HEAVY!r} if name in sys.modules]\n"
            "sys.stderr.write('HEAVY=' + ','.join(heavy))\n")
    completed = subprocess.run([sys.executable, "-c", code, str(target)], capture_output=True, text=True,
                               timeout=120, env={**os.environ, "SDKIT_MODELS_DIR": str(models_dir)})
    assert completed.stderr.strip().endswith("HEAVY="), completed.stderr[-800:]
    decoder = json.JSONDecoder()
    listed, end = decoder.raw_decode(completed.stdout)
    shown, _ = decoder.raw_decode(completed.stdout[end:].lstrip())
    assert [(r["name"], r["family"], r["inpainting"], r["format"]) for r in listed] == [
        ("tiny-inpaint", "sd1", True, "ckpt")]
    assert (shown["family"], shown["inpainting"]) == ("sd1", True)


@pytest.mark.parametrize("family", ["sd1", "sd2", "sdxl"])
def test_a_ckpt_reads_the_same_tensors_as_its_safetensors_twin(tiny_single_file, family):
    inpainting = family == "sd1"
    prediction = "v_prediction" if family == "sd2" else "epsilon"
    from_pickle = read_shapes(tiny_single_file(family, inpainting, prediction, suffix=".ckpt"))
    from_header = read_shapes(tiny_single_file(family, inpainting, prediction))
    assert from_pickle == from_header and len(from_pickle) > 100


def test_the_legacy_torch_format_is_read_too(tmp_path, tiny_single_file):
    import torch
    from safetensors.torch import load_file

    state = load_file(str(tiny_single_file("sdxl")))
    path = tmp_path / "old.ckpt"
    torch.save({"state_dict": state, "epoch": 3}, path, _use_new_zipfile_serialization=False)
    assert read_shapes(path) == {name: tuple(tensor.shape) for name, tensor in state.items()}
    assert resolve_model(str(path)).family == "sdxl"


def _zip_ckpt_with(tmp_path, name, payload):
    import torch

    path = tmp_path / name
    torch.save({"state_dict": {"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(1), "x": payload}}, path)
    return path


@pytest.mark.parametrize("layout", ["zip", "legacy", "plain-pickle", "protocol-0", "nested-in-a-tensor-call"])
def test_a_pickle_whose_reduce_runs_code_is_refused_and_the_code_never_runs(tmp_path, capsys, layout):
    import torch

    marker = tmp_path / "pwned"
    path = tmp_path / f"evil-{layout}.ckpt"
    if layout == "zip":
        path = _zip_ckpt_with(tmp_path, path.name, RunsCode(marker))
    elif layout == "legacy":
        torch.save({"payload": RunsCode(marker)}, path, _use_new_zipfile_serialization=False)
    elif layout == "plain-pickle":
        path.write_bytes(pickle.dumps({"state_dict": RunsCode(marker)}))
    elif layout == "protocol-0":
        path.write_bytes(b"\x80\x02" + pickle.dumps(RunsCode(marker), protocol=0))
    else:  # the payload sits where a tensor's storage offset belongs
        tensor = torch.zeros(2)
        rebuilt = type("Evil", (), {"__reduce__": lambda self: (torch._utils._rebuild_tensor_v2,
                                                                 (tensor.untyped_storage(), RunsCode(marker),
                                                                  (2,), (1,), False, {}))})
        torch.save({"w": rebuilt()}, path)
    result = run_sdkit(capsys, "models", "show", str(path))
    assert result.exit_code == 2, result.output
    assert "refused" in result.stderr and flat(str(path)) in flat(result.stderr) and "system" in result.stderr
    assert "safetensors" in result.stderr and "Traceback" not in result.output
    assert not marker.exists()


def test_eval_and_other_builtins_are_refused_by_name(tmp_path):
    path = _zip_ckpt_with(tmp_path, "eval.ckpt", CallsEval())
    error = _refused(path)
    assert "refused" in error.message and "builtins.eval" in error.message
    assert not os.path.exists("/nonexistent-sdkit-marker")


def test_generate_dry_run_refuses_a_booby_trapped_ckpt(tmp_path, capsys):
    marker = tmp_path / "pwned"
    path = _zip_ckpt_with(tmp_path, "evil.ckpt", RunsCode(marker))
    result = run_sdkit(capsys, "generate", "--model", str(path), "--prompt", "x", "--dry-run")
    assert result.exit_code == 2 and "refused" in result.stderr and not marker.exists()


def _rewrite_data_pkl(source, target, change):
    """A copy of a torch zip checkpoint with its data.pkl replaced by `change(data_pkl_bytes)`."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for entry in old.infolist():
            data = old.read(entry)
            if entry.filename.endswith("/data.pkl"):
                data = change(data)
            new.writestr(entry.filename, data)
    return target


def test_a_storage_record_that_is_missing_or_short_is_called_truncated(tmp_path, tiny_single_file):
    source = tiny_single_file("sd1", suffix=".ckpt")
    with zipfile.ZipFile(source) as old:
        entries = old.infolist()
        victim = next(entry for entry in entries if "/data/" in entry.filename)
        for name, content in (("missing.ckpt", None), ("short.ckpt", b"\0")):
            with zipfile.ZipFile(tmp_path / name, "w") as new:
                for entry in entries:
                    if entry.filename != victim.filename:
                        new.writestr(entry.filename, old.read(entry))
                    elif content is not None:
                        new.writestr(entry.filename, content)
            error = _refused(tmp_path / name)
            assert "truncated or corrupt" in error.message and str(tmp_path / name) in error.message


def test_a_zip_without_data_pkl_and_a_tar_archive_are_named(tmp_path):
    with zipfile.ZipFile(tmp_path / "photos.ckpt", "w") as archive:
        archive.writestr("photos/cat.jpg", b"\xff\xd8")
    assert "no data.pkl" in _refused(tmp_path / "photos.ckpt").message
    with tarfile.open(tmp_path / "ancient.ckpt", "w") as archive:
        info = tarfile.TarInfo("storages")
        info.size = 4
        archive.addfile(info, io.BytesIO(b"\0" * 4))
    assert "tar archive" in _refused(tmp_path / "ancient.ckpt").message


def test_a_table_of_tensors_far_larger_than_any_models_is_refused(tmp_path, tiny_single_file, monkeypatch):
    from sdkit.models import torch_pickle

    monkeypatch.setattr(torch_pickle, "MAX_PICKLE_BYTES", 1000)  # stands for 64 MB: the tiny table is bigger
    error = _refused(tiny_single_file("sd1", suffix=".ckpt"))
    assert "far more than any model" in error.message


ODD_PICKLES = {
    # bytearray(10**12) would ask for a terabyte: constructors take plain data only
    "bomb": b"\x80\x02cbuiltins\nbytearray\n\x8a\x06\x00\x10\xa5\xd4\xe8\x00\x85R.",
    # _codecs.encode stores bytes as latin-1 text; no other codec
    "codec": b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x05\x00\x00\x00rot13\x86R.",
    # a persistent id that is not a storage record
    "not-storage": b"\x80\x02X\x01\x00\x00\x00xQ.",
}


@pytest.mark.parametrize("name", sorted(ODD_PICKLES))
def test_plain_data_constructors_are_used_only_as_torch_uses_them(tmp_path, name):
    pickled = ODD_PICKLES[name]
    path = _rewrite_data_pkl(_zip_ckpt_with(tmp_path, "base.ckpt", 1), tmp_path / f"{name}.ckpt",
                             lambda data: pickled)
    error = _refused(path)
    assert str(path) in error.message and "not a readable PyTorch checkpoint" in error.message


def test_a_pickle_without_tensors_is_not_a_model(tmp_path):
    import torch

    torch.save({"epoch": 3, "optimizer": {"lr": 0.1}}, tmp_path / "training-state.pt")
    assert "no tensors" in _refused(tmp_path / "training-state.pt").message


def test_the_reader_allows_nothing_torchs_own_safe_loader_refuses():
    """What models list accepts, the weights loader (torch.load(weights_only=True)) accepts too."""
    from torch._weights_only_unpickler import _get_allowed_globals

    from sdkit.models.torch_pickle import _ALLOWED, _OTHER_TENSOR_KINDS

    torch_allows = set(_get_allowed_globals())
    assert set(_ALLOWED) <= torch_allows
    # ... and whatever else torch allows is refused as a tensor kind, not reported as code.
    assert all(name.startswith(_OTHER_TENSOR_KINDS) for name in torch_allows - set(_ALLOWED))


def test_a_sparse_tensor_is_refused_as_a_kind_not_as_code(tmp_path):
    import torch

    torch.save({"model.diffusion_model.input_blocks.0.0.weight": torch.eye(4).to_sparse()}, tmp_path / "sparse.ckpt")
    error = _refused(tmp_path / "sparse.ckpt")
    assert "refused" not in error.message and "kind sdkit does not read" in error.message
