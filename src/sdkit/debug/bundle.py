"""The `export-debug` zip: machine facts, packages, plugins, config, last preset and recent logs, redacted.

Everything goes through one `Redactor` before it is written, and the manifest says what is inside and
what was removed. Only text log files are read from the log folder; model files, images and anything
binary are never included, whatever their names. The zip is written with `sdkit.files.atomic`, so a
half-written bundle is never seen and an existing file is never overwritten.
"""

from __future__ import annotations

import errno
import io
import json
import os
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sdkit import __version__
from sdkit.core.errors import RuntimeFailure, UserInputError
from sdkit.debug import system
from sdkit.debug.inventory import plugin_inventory
from sdkit.debug.redact import Redactor
from sdkit.files.atomic import create_file, create_first_free
from sdkit.runtime.config import raw_config
from sdkit.runtime.paths import paths
from sdkit.runtime.state import last_preset

# Only these names are read from the log folder: sdkit.log and its rotations (sdkit.log.1, ...).
_LOG_NAME = re.compile(r"^[\w.-]+\.log(\.\d+)?$")
MAX_LOG_FILES = 4
MAX_LOG_BYTES = 512 * 1024  # per file, from its end: the most recent lines matter most
_BINARY_SNIFF_BYTES = 8192
# Errors that say the folder refuses new files: the user's choice of folder, not a failure of sdkit's.
_NOT_WRITABLE_ERRORS = {errno.EACCES, errno.EPERM, errno.EROFS}


@dataclass(frozen=True)
class BundleResult:
    """Where the bundle was written and its manifest (also stored inside it as manifest.json)."""

    path: Path
    manifest: dict[str, Any]


def default_bundle_name(now: datetime) -> str:
    return f"sdkit-debug-{now.strftime('%Y%m%d-%H%M%S')}.zip"


def export_debug_bundle(output: Path | None = None, folder: Path | None = None,
                        redactor: Redactor | None = None) -> BundleResult:
    """Collect, redact and write the bundle.

    `output` is the zip to create (it must not exist) or an existing folder to put a fresh name in;
    None means a fresh timestamped name in `folder` (default: the current folder).
    """
    now = datetime.now(timezone.utc)
    redactor = redactor or Redactor()
    target_folder, exact_name = _resolve_output(output, folder)
    files, manifest = _collect(redactor, now)
    data = _zip_bytes(files, manifest)
    path = _publish(data, target_folder.resolve(), exact_name, now)
    return BundleResult(path, manifest)


def _resolve_output(output: Path | None, folder: Path | None) -> tuple[Path, str | None]:
    """The folder to write in and the exact name (None: a fresh one), checked before anything is collected."""
    if output is None:
        return _writable(folder or Path.cwd()), None
    output = output.expanduser()
    if output.is_dir():
        return _writable(output), None
    if output.exists() or output.is_symlink():
        raise UserInputError(f"{output} already exists; export-debug never overwrites a file",
                             "give another name with -o, or a folder to put a fresh name in")
    if not output.parent.is_dir():
        raise UserInputError(f"the folder {output.parent} does not exist",
                             "create it first, or give -o a path in an existing folder")
    return _writable(output.parent), output.name


def _writable(folder: Path) -> Path:
    # Checked first, so a read-only folder is named at once rather than after seconds of collecting.
    # (root passes it where only the mode forbids writing; a refusal when writing is answered alike.)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise _not_writable(folder)
    return folder


def _not_writable(folder: Path, reason: str | None = None) -> UserInputError:
    detail = f" ({reason})" if reason else ""
    return UserInputError(f"the folder {folder} is not writable{detail}; no bundle was written",
                          "give -o a folder you can write to (or a new file name in one), or run it from such a folder")


# -- what goes in ------------------------------------------------------------------------------------

def _collect(redactor: Redactor, now: datetime) -> tuple[dict[str, bytes], dict[str, Any]]:
    """The bundle's files (name -> redacted bytes) and its manifest."""
    contents: dict[str, tuple[str, bytes]] = {}
    notes: list[str] = []

    def add_json(name: str, description: str, data: Any) -> None:
        clean = redactor.value(data, name)
        text = json.dumps(clean, indent=2, sort_keys=False, default=str, ensure_ascii=False) + "\n"
        contents[name] = (description, text.encode("utf-8"))

    def add_text(name: str, description: str, text: str) -> None:
        contents[name] = (description, redactor.text(text, name).encode("utf-8"))

    def add_settings(name: str, description: str, data: Any) -> None:
        clean = redactor.settings(data, name) if isinstance(data, dict) else data
        text = json.dumps(clean, indent=2, default=str, ensure_ascii=False) + "\n"
        contents[name] = (description, text.encode("utf-8"))

    # User settings go first: the secret values found in them are then also scrubbed wherever free text
    # (logs, tool output) echoes them.
    add_settings("environment.json", "environment variables, secret-looking values removed",
                 dict(sorted(os.environ.items())))
    add_settings("config.json", "the sdkit config file, secret-looking values removed",
                 system.safely(raw_config))
    add_settings("last-preset.json", "the last preset applied (name, source, effective values)",
                 system.safely(last_preset))

    torch = system.safely(system.torch_info)
    if torch.get("importable") is not True:
        notes.append(redactor.text(f"torch could not be imported ({torch.get('error')}); "
                                   "GPU details from torch are missing", "manifest.json"))
    add_json("system.json", "OS, CPU, RAM, Python, GPUs (torch and vendor tools), package versions", {
        "sdkit": __version__,
        "created_utc": now.isoformat(timespec="seconds"),
        "os": system.safely(system.os_info),
        "cpu": system.safely(system.cpu_info),
        "memory": system.safely(system.memory_info),
        "python": system.safely(system.python_info),
        "packages": system.safely(system.package_versions),
        "torch": torch,
        "gpu_tools": system.safely(system.vendor_tools),
        "device_nodes": system.safely(system.device_nodes),
    })
    add_text("pip-freeze.txt", "pip freeze of the Python that runs sdkit", system.pip_freeze())
    add_json("plugins.json", "distributions with sdkit entry points, their entries and load status",
             system.safely(lambda: [dist.as_dict() for dist in plugin_inventory(load=True)]))

    skipped = []
    for name, text, reason in _recent_logs():
        if text is None:
            skipped.append({"name": redactor.text(name, "manifest.json"), "reason": reason})
            continue
        add_text(f"logs/{name}", reason, text)

    manifest = {
        "bundle": "sdkit export-debug",
        "sdkit_version": __version__,
        "created_utc": now.isoformat(timespec="seconds"),
        "files": [{"name": name, "description": description, "bytes": len(data)}
                  for name, (description, data) in sorted(contents.items())],
        "redactions": redactor.summary(),
        "skipped": skipped,
        "never_included": "model files, images, and any file in the log folder that is not a text log",
        "notes": notes,
    }
    return {name: data for name, (_, data) in contents.items()}, manifest


def _recent_logs() -> Iterator[tuple[str, str | None, str]]:
    """(file name, text or None, description or why skipped) for the log folder's files, newest first."""
    log_dir = paths().log_dir
    try:
        candidates = list(log_dir.iterdir())
    except OSError:
        return
    candidates.sort(key=lambda entry: _mtime(entry), reverse=True)
    taken = 0
    for entry in candidates:
        if not entry.is_file() or entry.is_symlink():
            yield entry.name, None, "not a regular file"
            continue
        if not _LOG_NAME.match(entry.name):
            yield entry.name, None, "not a log file (models, images and other files are never included)"
            continue
        if taken >= MAX_LOG_FILES:
            yield entry.name, None, f"older than the {MAX_LOG_FILES} most recent logs"
            continue
        text = _read_tail(entry)
        if text is None:
            yield entry.name, None, "binary content, not a text log"
            continue
        taken += 1
        yield entry.name, text, "recent sdkit log" + (" (the end of it)" if _size(entry) > MAX_LOG_BYTES else "")


def _read_tail(path: Path) -> str | None:
    with path.open("rb") as stream:
        size = stream.seek(0, os.SEEK_END)
        stream.seek(max(0, size - MAX_LOG_BYTES))
        data = stream.read()
    if b"\x00" in data[:_BINARY_SNIFF_BYTES]:
        return None
    text = data.decode("utf-8", errors="replace")
    if size > MAX_LOG_BYTES:  # start at a whole line
        text = text.partition("\n")[2]
    return text


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


# -- writing -----------------------------------------------------------------------------------------

def _zip_bytes(files: dict[str, bytes], manifest: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
        for name, data in sorted(files.items()):
            archive.writestr(name, data)
    return buffer.getvalue()


def _publish(data: bytes, folder: Path, exact_name: str | None, now: datetime) -> Path:
    """Write `data` under a name that did not exist before; never replace an existing file."""
    try:
        if exact_name:
            return create_file(folder / exact_name, data)
        return create_first_free(folder, _fresh_names(now), data)
    except FileExistsError:
        if exact_name:
            raise UserInputError(f"{folder / exact_name} already exists; export-debug never overwrites a file",
                                 "give another name with -o") from None
        raise RuntimeFailure(f"no free file name for the bundle in {folder}",
                             "move older bundles away, or give -o another name") from None
    except OSError as error:
        if error.errno in _NOT_WRITABLE_ERRORS:
            raise _not_writable(folder, error.strerror) from error
        raise RuntimeFailure(f"cannot write the bundle in {folder}: {error.strerror or error}",
                             "run it from a folder you can write to, or give -o a writable path") from error


def _fresh_names(now: datetime) -> Iterator[str]:
    base = default_bundle_name(now)[: -len(".zip")]
    yield f"{base}.zip"
    for number in range(2, 1000):
        yield f"{base}-{number}.zip"
