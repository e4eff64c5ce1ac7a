"""Outputs are written atomically, numbered, and never overwrite anything, even across processes."""

from __future__ import annotations

import errno
import multiprocessing
import os
import stat
from pathlib import Path

import pytest
from PIL import Image

from sdkit.core.errors import UserInputError
from sdkit.outputs.writer import ensure_output_dir, write_png, write_sidecar


def test_numbers_continue_and_nothing_is_overwritten(tmp_path):
    first = write_png(tmp_path, "7", Image.new("RGB", (8, 8), "red"))
    second = write_png(tmp_path, "7", Image.new("RGB", (8, 8), "blue"))
    assert (first.name, second.name) == ("00000-7.png", "00001-7.png")
    assert Image.open(first).getpixel((0, 0)) == (255, 0, 0)
    (tmp_path / "00007-x.png").write_bytes(b"user file")
    third = write_png(tmp_path, "7", Image.new("RGB", (8, 8)))
    assert third.name == "00008-7.png"
    assert (tmp_path / "00007-x.png").read_bytes() == b"user file"
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".")]  # no temporary left


def test_a_failed_write_leaves_no_file(tmp_path):
    class Broken:
        def save(self, *args, **kwargs):
            raise OSError("disk full")

    with pytest.raises(OSError):
        write_png(tmp_path, "1", Broken())
    assert list(tmp_path.iterdir()) == []


def _write_many(folder: str, worker: int, label: str) -> list[str]:
    return [write_png(Path(folder), label, Image.new("RGB", (4, 4), (worker, 0, 0))).name for _ in range(15)]


def test_two_processes_writing_the_same_names_at_once_never_collide(tmp_path):
    # Both processes want the same names (same seed label): every file must still land, none replaced.
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        names = pool.starmap(_write_many, [(str(tmp_path), 1, "7"), (str(tmp_path), 2, "7")])
    written = names[0] + names[1]
    assert len(set(written)) == 30
    assert sorted(path.name for path in tmp_path.glob("*.png")) == sorted(written)
    colours = {Image.open(tmp_path / name).getpixel((0, 0))[0] for name in names[0]}
    assert colours == {1}  # each process's files hold its own pixels: nothing was overwritten


def test_sidecar_is_refused_when_it_exists(tmp_path):
    image = write_png(tmp_path, "1", Image.new("RGB", (4, 4)))
    sidecar = write_sidecar(image, {"seed": 1})
    assert sidecar.read_text().strip().startswith("{")
    with pytest.raises(FileExistsError):
        write_sidecar(image, {"seed": 2})
    assert '"seed": 1' in sidecar.read_text()


def test_output_dir_that_cannot_be_created(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UserInputError, match="cannot create the output folder"):
        ensure_output_dir(blocker / "sub")


def test_images_and_sidecars_get_the_mode_a_new_file_gets(tmp_path):
    saved = os.umask(0o022)
    try:
        image = write_png(tmp_path, "1", Image.new("RGB", (4, 4)))
        sidecar = write_sidecar(image, {"seed": 1})
    finally:
        os.umask(saved)
    # 0o644 as any program's new file, not the 0o600 of a temporary file: others may read outputs
    assert stat.S_IMODE(image.stat().st_mode) == 0o644 and stat.S_IMODE(sidecar.stat().st_mode) == 0o644


def test_without_hard_links_images_are_kept_numbered_and_nothing_is_replaced(tmp_path, monkeypatch):
    # exFAT, FAT and some network mounts: os.link fails, the writer reserves names instead.
    def refuse(*args, **kwargs):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", refuse)
    (tmp_path / "00000-7.png").write_bytes(b"user file")
    first = write_png(tmp_path, "7", Image.new("RGB", (8, 8), "red"))
    second = write_png(tmp_path, "7", Image.new("RGB", (8, 8), "blue"))
    assert (first.name, second.name) == ("00001-7.png", "00002-7.png")
    assert Image.open(first).getpixel((0, 0)) == (255, 0, 0) and Image.open(second).getpixel((0, 0)) == (0, 0, 255)
    assert (tmp_path / "00000-7.png").read_bytes() == b"user file"
    sidecar = write_sidecar(first, {"seed": 1})
    with pytest.raises(FileExistsError):
        write_sidecar(first, {"seed": 2})
    assert '"seed": 1' in sidecar.read_text()
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".")]  # no temporary left
