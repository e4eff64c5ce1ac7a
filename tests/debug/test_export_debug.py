"""`sdkit export-debug`: what the zip holds, what it must never hold, and that it never overwrites."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pytest
from cli_helpers import run_sdkit

from sdkit.debug import bundle, system
from sdkit.runtime.paths import paths
from sdkit.runtime.state import remember_preset

ENV_SECRET = "envSecretValue-7f3a9c"
CONFIG_TOKEN = "hf_ConfigTokenAbCdEf0123456789"
NESTED_KEY = "civitai-key-5566778899"
LOG_TOKENS = [
    "hf_LogTokenZyXwVuTsRqPoNmLk9876",
    "ghp_abcdefghijklmnopqrstuvwxyz012345",
    "sk-abcdefghijklmnopqrstuvwx",
    "0123456789abcdef0123456789abcdef01234567",  # after token=
    "Bearer-less.opaque_value.9z8y7x",  # after Authorization: Bearer
]
MODEL_MARKER = b"MODEL-WEIGHTS-MUST-NOT-LEAK"
IMAGE_MARKER = b"IMAGE-PIXELS-MUST-NOT-LEAK"


def _flat(text: str) -> str:
    """Console text without the line breaks rich adds at the terminal width."""
    return " ".join(text.split())


def _zip_texts(path: Path) -> dict[str, str]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name).decode("utf-8", errors="replace") for name in archive.namelist()}


@pytest.fixture
def secrets_everywhere(tmp_path, monkeypatch):
    """A home with a secret env var, a config with secret keys, logs with tokens, models and images."""
    home = tmp_path / "home" / "dave"
    home.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("USER", "dave")
    monkeypatch.setenv("LOGNAME", "dave")
    monkeypatch.setenv("SDKIT_TEST_API_TOKEN", ENV_SECRET)
    monkeypatch.setenv("SDKIT_TEST_PLAIN", f"{home}/projects")

    folders = paths()
    folders.config_dir.mkdir(parents=True)
    folders.config_file.write_text(
        f"models_dir: /home/alice/models\nhf_token: {CONFIG_TOKEN}\ncivitai:\n  api_key: {NESTED_KEY}\n"
    )
    remember_preset("txt2img/basic", "built-in", {"steps": 20, "prompt": "a cat at /Users/carol/cat.png"})

    folders.log_dir.mkdir(parents=True)
    folders.log_dir.joinpath("sdkit.log").write_text("\n".join([
        "2026-11-28 INFO sdkit: generated 4 images with tokenizers==0.23.3",
        f"2026-11-28 DEBUG sdkit.hub: using {LOG_TOKENS[0]}",
        f"2026-11-28 DEBUG sdkit.git: pushing with {LOG_TOKENS[1]} and {LOG_TOKENS[2]}",
        f"2026-11-28 DEBUG sdkit.net: GET https://example.com/f?token={LOG_TOKENS[3]}",
        f"2026-11-28 DEBUG sdkit.net: Authorization: Bearer {LOG_TOKENS[4]}",
        f"2026-11-28 DEBUG sdkit: env said {ENV_SECRET}",
        f"2026-11-28 ERROR sdkit: cannot open {home}/models/x.safetensors and C:\\Users\\Bob\\y.ckpt",
        "2026-11-28 INFO sdkit: dave started a run",
    ]) + "\n")
    folders.log_dir.joinpath("sdkit.log.1").write_bytes(b"\x00\x01binary log rotation\x00" + MODEL_MARKER)
    folders.log_dir.joinpath("model.safetensors").write_bytes(MODEL_MARKER)
    folders.log_dir.joinpath("crash.ckpt").write_bytes(MODEL_MARKER)
    folders.log_dir.joinpath("last.png").write_bytes(b"\x89PNG\r\n\x1a\n" + IMAGE_MARKER)
    folders.log_dir.joinpath("preview.log.png").write_bytes(IMAGE_MARKER)  # a log-ish name, still an image
    folders.log_dir.joinpath("outputs").mkdir()
    folders.log_dir.joinpath("outputs", "img.png").write_bytes(IMAGE_MARKER)

    workdir = tmp_path / "work"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    return workdir


def test_bundle_holds_the_facts_and_none_of_the_secrets(secrets_everywhere, capsys):
    result = run_sdkit(capsys, "export-debug")
    assert result.exit_code == 0, result.output

    [written] = list(secrets_everywhere.glob("sdkit-debug-*.zip"))
    assert result.stdout.strip() == str(written)
    assert "attach this file to your bug report" in _flat(result.stderr)

    texts = _zip_texts(written)
    assert set(texts) == {"manifest.json", "system.json", "pip-freeze.txt", "plugins.json", "config.json",
                          "last-preset.json", "environment.json", "logs/sdkit.log"}
    everything = "\n".join(texts.values())
    for secret in [ENV_SECRET, CONFIG_TOKEN, NESTED_KEY, *LOG_TOKENS]:
        assert secret not in everything, secret
    for user in ("dave", "alice", "carol", "Bob"):
        assert user not in everything, user
    assert MODEL_MARKER.decode() not in everything and IMAGE_MARKER.decode() not in everything

    # What is kept is still useful.
    config = json.loads(texts["config.json"])
    assert config == {"models_dir": "/home/<user>/models", "hf_token": "<redacted>",
                      "civitai": {"api_key": "<redacted>"}}
    environment = json.loads(texts["environment.json"])
    assert environment["SDKIT_TEST_API_TOKEN"] == "<redacted>"
    assert environment["SDKIT_TEST_PLAIN"] == "~/projects"
    assert "generated 4 images with tokenizers==0.23.3" in texts["logs/sdkit.log"]
    assert "<user> started a run" in texts["logs/sdkit.log"]
    preset = json.loads(texts["last-preset.json"])
    assert preset["name"] == "txt2img/basic" and preset["effective"]["steps"] == 20
    facts = json.loads(texts["system.json"])
    assert facts["python"]["version"].startswith(f"{sys.version_info.major}.{sys.version_info.minor}")
    assert facts["memory"]["total_bytes"] > 0 and facts["cpu"]["logical_cores"] >= 1
    assert facts["packages"]["sdkit-cli"] and "diffusers" in facts["packages"]
    assert "torch" in facts and "importable" in facts["torch"]
    assert "pydantic==" in texts["pip-freeze.txt"]
    plugins = json.loads(texts["plugins.json"])
    assert any(dist["name"] == "sdkit-cli" and dist["builtin"] for dist in plugins)

    manifest = json.loads(texts["manifest.json"])
    listed = {item["name"] for item in manifest["files"]}
    assert listed == set(texts) - {"manifest.json"}
    redacted = {(item["file"], item["what"]) for item in manifest["redactions"]}
    assert ("environment.json", "value of SDKIT_TEST_API_TOKEN") in redacted
    assert ("config.json", "value of hf_token") in redacted
    assert ("config.json", "value of civitai.api_key") in redacted
    log_kinds = {what for where, what in redacted if where == "logs/sdkit.log"}
    assert {"huggingface token", "github token", "known secret value", "user name in a path"} <= log_kinds
    skipped = {item["name"] for item in manifest["skipped"]}
    assert {"model.safetensors", "crash.ckpt", "last.png", "preview.log.png", "outputs", "sdkit.log.1"} <= skipped


def test_never_overwrites_an_existing_file(secrets_everywhere, capsys):
    existing = secrets_everywhere / "report.zip"
    existing.write_bytes(b"keep me")
    result = run_sdkit(capsys, "export-debug", "-o", existing)
    assert result.exit_code == 2
    assert "already exists" in _flat(result.stderr) and "hint:" in result.stderr
    assert existing.read_bytes() == b"keep me"
    assert list(secrets_everywhere.iterdir()) == [existing]  # no temporary file left behind


def test_output_folder_must_exist(secrets_everywhere, capsys):
    result = run_sdkit(capsys, "export-debug", "-o", secrets_everywhere / "missing" / "report.zip")
    assert result.exit_code == 2
    assert "does not exist" in _flat(result.stderr)


def test_default_names_are_fresh_when_the_timestamped_name_is_taken(tmp_path):
    now = datetime(2026, 11, 28, 21, 0, 5, tzinfo=timezone.utc)
    taken = tmp_path / "sdkit-debug-20261128-210005.zip"
    taken.write_bytes(b"older bundle")
    first = bundle._publish(b"new one", tmp_path, None, now)
    second = bundle._publish(b"newer one", tmp_path, None, now)
    assert (first.name, second.name) == ("sdkit-debug-20261128-210005-2.zip", "sdkit-debug-20261128-210005-3.zip")
    assert taken.read_bytes() == b"older bundle"
    assert first.read_bytes() == b"new one" and second.read_bytes() == b"newer one"
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([taken.name, first.name, second.name])


def test_output_may_name_a_folder_or_a_new_file(secrets_everywhere, monkeypatch, capsys):
    monkeypatch.setattr(system, "pip_freeze", lambda: "fake-package==1.0\n")  # the slow part, tested above
    folder = secrets_everywhere / "reports"
    folder.mkdir()
    in_folder = run_sdkit(capsys, "export-debug", "-o", folder)
    assert in_folder.exit_code == 0, in_folder.output
    assert Path(in_folder.stdout.strip()).parent == folder
    named = run_sdkit(capsys, "export-debug", "-o", folder / "mine.zip")
    assert named.exit_code == 0, named.output
    assert (folder / "mine.zip").is_file()
    assert "pip-freeze.txt" in _zip_texts(folder / "mine.zip")


def test_works_without_torch_and_says_so(tmp_path):
    script = (
        "import sys; sys.modules['torch'] = None\n"  # makes `import torch` raise ImportError
        "from sdkit.cli.app import main\n"
        "main(['export-debug', '-o', sys.argv[1]])\n"
    )
    target = tmp_path / "no-torch.zip"
    env = dict(os.environ, SDKIT_HOME=str(tmp_path / "home"))
    done = subprocess.run([sys.executable, "-c", script, str(target)], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "torch could not be imported" in _flat(done.stderr)
    texts = _zip_texts(target)
    facts = json.loads(texts["system.json"])
    assert facts["torch"]["importable"] is False and "import of torch halted" in facts["torch"]["error"]
    manifest = json.loads(texts["manifest.json"])
    assert any("torch could not be imported" in note for note in manifest["notes"])
    assert facts["packages"]["torch"]  # still read from metadata: installed but not importable


def test_one_long_logged_input_does_not_stall_the_bundle(tmp_path, monkeypatch, capsys):
    import time

    monkeypatch.setattr(system, "pip_freeze", lambda: "fake-package==1.0\n")  # a subprocess, not under test
    # What a long command-line value leaves in the log; the old redaction needed minutes for 25,000
    # characters of it (and more for a run of `token_`).
    long_name = "token_" * 20_000
    log_dir = paths().log_dir
    log_dir.mkdir(parents=True)
    log_dir.joinpath("sdkit.log").write_text(
        f"2026-11-28 DEBUG sdkit: failure: unknown sampler {long_name!r}\n"
        f"2026-11-28 DEBUG sdkit: {'x' * 200_000} then token={LOG_TOKENS[3]}\n")
    started = time.process_time()
    result = run_sdkit(capsys, "export-debug", "-o", tmp_path)
    assert result.exit_code == 0, result.output
    assert time.process_time() - started < 5.0
    [written] = tmp_path.glob("sdkit-debug-*.zip")
    log_text = _zip_texts(written)["logs/sdkit.log"]
    assert long_name in log_text  # not a secret: kept whole
    assert LOG_TOKENS[3] not in log_text and "token=<redacted>" in log_text


@pytest.mark.parametrize("target", ["folder", "name in the folder"])
def test_a_read_only_folder_exits_2_naming_it(secrets_everywhere, monkeypatch, capsys, target):
    import errno
    import stat

    folder = secrets_everywhere / "read-only"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    if os.geteuid() == 0:
        # root writes wherever the mode says no; refuse new files there as the kernel does for everyone
        # else, so the refusal at writing time is what this test meets.
        real_open = os.open

        def kernel_refusal(path, flags, *args, **kwargs):
            if flags & os.O_CREAT and Path(path).parent == folder:
                raise PermissionError(errno.EACCES, "Permission denied", str(path))
            return real_open(path, flags, *args, **kwargs)

        monkeypatch.setattr(os, "open", kernel_refusal)
        monkeypatch.setattr(system, "pip_freeze", lambda: "fake-package==1.0\n")  # it runs up to the write
    try:
        result = run_sdkit(capsys, "export-debug", "-o", folder if target == "folder" else folder / "r.zip")
        assert result.exit_code == 2, result.output
        assert f"the folder {folder} is not writable" in _flat(result.stderr)
        assert "hint:" in result.stderr and "Traceback" not in result.output
        assert list(folder.iterdir()) == []
        assert "is not writable" in (paths().log_dir / "sdkit.log").read_text()
    finally:
        folder.chmod(stat.S_IRWXU)
