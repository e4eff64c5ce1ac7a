"""Writing files atomically: whoever looks sees no file or the whole file, never half of one.

Two operations, for the two kinds of file sdkit writes:

- `create_file` / `create_first_free` make a NEW file and never replace an existing one: result
  images, their JSON sidecars, debug bundles. The content goes to a temporary file in the target
  folder, is flushed to disk, then hard-linked to its final name; `os.link` fails when the name exists,
  so two processes writing into one folder can never replace each other's files. Where the file system
  has no hard links (exFAT, FAT, some network mounts), the final name is reserved with an exclusive
  create and the temporary file renamed over that reservation, which is still ours alone.
- `replace_file` makes a file that is meant to be replaced: state, caches, the CLIP vocabulary. The
  temporary file is renamed over the old one, so readers see the old content or the new, never a mix.

The temporary file lives in the target's own folder because a rename or link is only atomic within one
file system. It is created with mode 0o666 and the umask applies, so the finished file gets the mode
any normally created file gets (not the 0600 of `tempfile.mkstemp`). It is removed whatever happens;
a finished file never is.
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger(__name__)

Content = bytes | str | Callable[[BinaryIO], None]
"""What to write: bytes, text (written as UTF-8), or a function that writes into a binary stream."""

TEMP_PREFIX = ".sdkit-"
TEMP_SUFFIX = ".part"

# os.link fails with these where the file system (or the OS) has no hard links; any of them means
# "use the fallback", not "the write failed".
_NO_LINK_ERRNOS = frozenset(
    getattr(errno, name) for name in ("EPERM", "ENOTSUP", "EOPNOTSUPP", "EXDEV", "ENOSYS", "EMLINK")
    if hasattr(errno, name)
)
# Windows reports FAT/exFAT and unsupported shares by these (Python maps them all to EINVAL).
_NO_LINK_WINERRORS = frozenset({1, 17, 50})  # invalid function, not same device, not supported
_BINARY = getattr(os, "O_BINARY", 0)  # Windows would otherwise translate line endings


def create_file(path: str | Path, content: Content) -> Path:
    """Create `path` atomically with `content`; `FileExistsError` if it exists, which is never replaced."""
    path = Path(path)
    return create_first_free(path.parent, [path.name], content)


def create_first_free(folder: str | Path, names: Iterable[str], content: Content) -> Path:
    """Create the first of `names` that is free in `folder`, atomically, and return its path.

    `names` is read lazily and may be endless (`00007-x.png`, `00008-x.png`, ...): a name taken
    meanwhile, by another process too, moves on to the next one. No existing file is ever replaced.
    `FileExistsError` when every name is taken; any other error leaves no file behind.
    """
    folder = Path(folder)
    temp = _write_temp(folder, content)
    try:
        use_links = hasattr(os, "link")
        for name in names:
            final = folder / name
            if use_links:
                try:
                    os.link(temp, final)
                except FileExistsError:
                    continue
                except OSError as error:
                    if not _links_unsupported(error):
                        raise
                    log.debug("no hard links in %s (%s); reserving names instead", folder, error)
                    use_links = False
                else:
                    _sync_folder(folder)
                    return final
            try:
                _reserve_and_rename(temp, final)
            except FileExistsError:
                continue
            _sync_folder(folder)
            return final
        raise FileExistsError(errno.EEXIST, "every name offered is taken", str(folder))
    finally:
        # After a link the temporary name is a second name of the finished file, after the fallback's
        # rename it no longer exists: removing it never touches the finished file.
        _remove(temp)


def replace_file(path: str | Path, content: Content) -> Path:
    """Write `path` atomically, replacing it if it exists: readers see the old content or the new."""
    path = Path(path)
    temp = _write_temp(path.parent, content)
    try:
        os.replace(temp, path)
    except BaseException:
        _remove(temp)
        raise
    _sync_folder(path.parent)
    return path


def _write_temp(folder: Path, content: Content) -> Path:
    """A new temporary file in `folder` holding `content`, flushed to disk."""
    while True:
        temp = folder / f"{TEMP_PREFIX}{secrets.token_hex(8)}{TEMP_SUFFIX}"
        try:
            # 0o666 and O_EXCL as a normal new file gets (the umask applies); never follows a link.
            handle = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _BINARY, 0o666)
        except FileExistsError:  # a 64-bit random name taken: only by astonishing luck
            continue
        break
    try:
        with os.fdopen(handle, "wb") as stream:
            _write_content(stream, content)
            stream.flush()
            os.fsync(stream.fileno())
    except BaseException:
        _remove(temp)
        raise
    return temp


def _write_content(stream: BinaryIO, content: Content) -> None:
    if isinstance(content, bytes):
        stream.write(content)
    elif isinstance(content, str):
        stream.write(content.encode("utf-8"))
    else:
        content(stream)


def _reserve_and_rename(temp: Path, final: Path) -> None:
    """Without hard links: claim `final` exclusively (FileExistsError if taken), then rename onto it."""
    reservation = os.open(final, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _BINARY, 0o666)
    os.close(reservation)
    try:
        os.replace(temp, final)
    except BaseException:
        _remove(final)  # our own empty reservation: nobody else can have taken an exclusively created name
        raise


def _links_unsupported(error: OSError) -> bool:
    return (isinstance(error, PermissionError) or error.errno in _NO_LINK_ERRNOS
            or getattr(error, "winerror", None) in _NO_LINK_WINERRORS)


def _sync_folder(folder: Path) -> None:
    """Flush the folder too, so that the new name survives a crash (best effort; POSIX only)."""
    if os.name != "posix":
        return
    try:
        handle = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass  # some file systems refuse fsync on a folder; the data itself is already on disk
    finally:
        os.close(handle)


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as error:  # never hide the real error behind a failed cleanup
        log.warning("could not remove the temporary file %s: %s", path, error)
