"""Results read from the installed distributions' metadata, cached until the installation changes.

Scanning every distribution's entry points costs tens of milliseconds (importlib_metadata, the email
parser for names and versions, a few hundred small files), paid by every command that lists plugins or
presets. The scan's result is kept in sdkit's cache folder with a fingerprint of the installation: for
each `sys.path` entry, the `*.dist-info` / `*.egg-info` folders in it with the size and modification
time of their `entry_points.txt` and `METADATA` (or `PKG-INFO`). Installing, removing or upgrading a
distribution, or a different `sys.path` (a virtual environment, PYTHONPATH), changes the fingerprint
and the scan runs again. Distributions that only a custom import hook reports (none that pip makes)
are not fingerprinted. The file is written atomically; a missing or corrupt one is rebuilt.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import sys
from collections.abc import Callable
from typing import Any

from sdkit.runtime.paths import paths

log = logging.getLogger(__name__)

CACHE_FORMAT = 1
_METADATA_FOLDERS = (".dist-info", ".egg-info")
_STAMPED_FILES = ("entry_points.txt", "METADATA", "PKG-INFO")


def _stamp(path: str) -> str:
    try:
        info = os.stat(path)
    except OSError:
        return "-"
    return f"{info.st_size}:{info.st_mtime_ns}:{info.st_ino}"


def installation_fingerprint() -> list[str]:
    """What the installed distributions look like on this `sys.path`, as comparable text."""
    stamps = [f"python {sys.version}", f"prefix {sys.prefix}"]
    for entry in sys.path:
        folder = entry or os.curdir  # the current folder; os.getcwd() fails where it was deleted
        try:
            info = os.stat(folder)
        except OSError:
            stamps.append(f"{entry} missing")
            continue
        if not stat.S_ISDIR(info.st_mode):  # a zip or egg file
            stamps.append(f"{entry} file {info.st_size}:{info.st_mtime_ns}")
            continue
        stamps.append(f"{entry} folder")
        try:
            with os.scandir(folder) as children:
                names = sorted(child.name for child in children if child.name.endswith(_METADATA_FOLDERS))
        except OSError:
            stamps.append("unreadable")
            continue
        for name in names:
            child = os.path.join(folder, name)
            files = " ".join(_stamp(os.path.join(child, file)) for file in _STAMPED_FILES)
            stamps.append(f"{name} {_stamp(child) if not os.path.isdir(child) else ''} {files}")
    return stamps


def cached_scan(name: str, scan: Callable[[], Any], valid: Callable[[Any], bool]) -> Any:
    """`scan()`'s result (JSON data), from `<cache folder>/<name>.json` while the installation is unchanged.

    `valid` checks the shape of what the cache file holds; anything else (or a damaged file) is scanned
    again and rewritten. A cache that cannot be written only makes the next command scan again.
    """
    path = paths().cache_dir / f"{name}.json"
    fingerprint = installation_fingerprint()
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        data = None
    except (OSError, ValueError) as error:
        log.debug("ignoring the cache file %s: %s", path, error)
        data = None
    if (isinstance(data, dict) and data.get("format") == CACHE_FORMAT and data.get("installation") == fingerprint
            and valid(data.get("result"))):
        return data["result"]
    result = scan()
    from sdkit.files.atomic import replace_file

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_file(path, json.dumps({"format": CACHE_FORMAT, "installation": fingerprint, "result": result}))
    except (OSError, TypeError, ValueError) as error:
        log.debug("could not write the cache file %s: %s", path, error)
    return result
