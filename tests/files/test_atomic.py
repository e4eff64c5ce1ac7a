"""Atomic writing: new files never replace anything (with or without hard links), modes follow the umask,
concurrent writers take distinct names, and no temporary file survives a failure."""

from __future__ import annotations

import errno
import itertools
import os
import stat
import threading
from pathlib import Path

import pytest

from sdkit.files import atomic
from sdkit.files.atomic import create_file, create_first_free, replace_file


def numbered(label: str = "x"):
    return (f"{number:05d}-{label}.bin" for number in itertools.count())


def leftovers(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if path.name.startswith(atomic.TEMP_PREFIX))


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask():
    """Set the process umask for one test (restored afterwards)."""
    saved = os.umask(0o022)
    yield os.umask
    os.umask(saved)


@pytest.fixture
def no_hard_links(monkeypatch):
    """A file system without hard links, as exFAT or some network mounts: os.link fails with EPERM."""
    calls = []

    def refuse(source, target, *args, **kwargs):
        calls.append(Path(target).name)
        raise OSError(errno.EPERM, "Operation not permitted", str(target))

    monkeypatch.setattr(os, "link", refuse)
    return calls


def test_create_file_writes_bytes_text_or_a_writer(tmp_path):
    assert create_file(tmp_path / "a.bin", b"\x00\x01").read_bytes() == b"\x00\x01"
    assert create_file(tmp_path / "b.txt", "grüße").read_text(encoding="utf-8") == "grüße"
    assert create_file(tmp_path / "c.bin", lambda stream: stream.write(b"streamed")).read_bytes() == b"streamed"
    assert leftovers(tmp_path) == []


def test_create_file_never_replaces_an_existing_file(tmp_path):
    existing = tmp_path / "keep.txt"
    existing.write_text("mine")
    with pytest.raises(FileExistsError):
        create_file(existing, "new content")
    assert existing.read_text() == "mine"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["keep.txt"]


def test_first_free_skips_taken_names_and_reads_the_names_lazily(tmp_path):
    (tmp_path / "00000-x.bin").write_text("old 0")
    (tmp_path / "00001-x.bin").write_text("old 1")
    offered = []

    def names():
        for name in numbered():
            offered.append(name)
            yield name

    written = create_first_free(tmp_path, names(), b"new")
    assert written.name == "00002-x.bin" and written.read_bytes() == b"new"
    assert offered == ["00000-x.bin", "00001-x.bin", "00002-x.bin"]  # an endless generator is fine
    assert (tmp_path / "00000-x.bin").read_text() == "old 0" and (tmp_path / "00001-x.bin").read_text() == "old 1"


def test_first_free_with_every_name_taken_raises_and_leaves_nothing(tmp_path):
    (tmp_path / "a").write_text("a")
    with pytest.raises(FileExistsError):
        create_first_free(tmp_path, ["a"], b"new")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a"]
    assert (tmp_path / "a").read_text() == "a"


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_the_finished_file_gets_the_mode_the_umask_gives(tmp_path, umask, mask, expected):
    umask(mask)
    assert mode_of(create_file(tmp_path / "new.bin", b"x")) == expected
    assert mode_of(create_first_free(tmp_path, numbered(), b"x")) == expected
    assert mode_of(replace_file(tmp_path / "state.json", "{}")) == expected


def test_without_hard_links_the_file_is_kept_and_nothing_is_replaced(tmp_path, no_hard_links, umask):
    umask(0o022)
    (tmp_path / "00000-x.bin").write_bytes(b"someone else's")
    written = create_first_free(tmp_path, numbered(), b"finished image")
    assert no_hard_links  # the link was tried and refused: the fallback did the work
    assert written.name == "00001-x.bin"
    assert written.read_bytes() == b"finished image"  # not deleted by the cleanup, not left empty
    assert mode_of(written) == 0o644
    assert (tmp_path / "00000-x.bin").read_bytes() == b"someone else's"
    assert leftovers(tmp_path) == []
    with pytest.raises(FileExistsError):
        create_file(written, b"another image")
    assert written.read_bytes() == b"finished image"
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("error", [
    OSError(errno.EXDEV, "Invalid cross-device link"),
    OSError(errno.ENOTSUP, "Operation not supported"),
    OSError(errno.EMLINK, "Too many links"),
    PermissionError(errno.EACCES, "Permission denied"),
])
def test_every_kind_of_missing_hard_link_takes_the_fallback(tmp_path, monkeypatch, error):
    def refuse(*args, **kwargs):
        raise error

    monkeypatch.setattr(os, "link", refuse)
    assert create_file(tmp_path / "out.bin", b"data").read_bytes() == b"data"
    assert leftovers(tmp_path) == []


def test_a_real_link_error_is_raised_and_leaves_nothing(tmp_path, monkeypatch):
    def broken_disk(*args, **kwargs):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "link", broken_disk)
    with pytest.raises(OSError) as caught:
        create_file(tmp_path / "out.bin", b"data")
    assert caught.value.errno == errno.EIO
    assert list(tmp_path.iterdir()) == []


def test_a_failing_writer_leaves_no_file(tmp_path):
    def fails(stream):
        stream.write(b"half an ima")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        create_first_free(tmp_path, numbered(), fails)
    with pytest.raises(OSError, match="No space"):
        replace_file(tmp_path / "state.json", fails)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_rename_in_the_fallback_removes_its_reservation(tmp_path, no_hard_links, monkeypatch):
    def refuse_rename(*args, **kwargs):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "replace", refuse_rename)
    with pytest.raises(OSError):
        create_file(tmp_path / "out.bin", b"data")
    assert list(tmp_path.iterdir()) == []  # neither the temporary file nor the empty reservation


def test_interrupting_a_write_leaves_no_file(tmp_path):
    def interrupted(stream):
        stream.write(b"partial")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        create_file(tmp_path / "out.bin", interrupted)
    assert list(tmp_path.iterdir()) == []


def test_replace_file_replaces_and_a_failure_keeps_the_old_content(tmp_path):
    target = tmp_path / "state.json"
    replace_file(target, '{"a": 1}')
    replace_file(target, '{"a": 2}')
    assert target.read_text() == '{"a": 2}'

    def fails(stream):
        stream.write(b'{"a": ')
        raise ValueError("not serialisable")

    with pytest.raises(ValueError):
        replace_file(target, fails)
    assert target.read_text() == '{"a": 2}'
    assert sorted(path.name for path in tmp_path.iterdir()) == ["state.json"]


@pytest.mark.parametrize("links", ["hard links", "no hard links"])
def test_concurrent_writers_take_distinct_names(tmp_path, monkeypatch, links):
    if links == "no hard links":
        def refuse(source, target, *args, **kwargs):
            raise OSError(errno.EPERM, "Operation not permitted")

        monkeypatch.setattr(os, "link", refuse)
    start = threading.Barrier(6)
    written: dict[int, list[Path]] = {}

    def writer(worker: int) -> None:
        start.wait()
        written[worker] = [create_first_free(tmp_path, numbered(), f"{worker}:{index}") for index in range(20)]

    threads = [threading.Thread(target=writer, args=(worker,)) for worker in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    paths = [path for paths in written.values() for path in paths]
    assert len(paths) == 120 and len(set(paths)) == 120
    assert sorted(path.name for path in tmp_path.iterdir()) == [f"{number:05d}-x.bin" for number in range(120)]
    for worker, own in written.items():  # every file holds what its writer wrote: nothing was replaced
        assert [path.read_text() for path in own] == [f"{worker}:{index}" for index in range(20)]
