"""A run folder's manifest: JSON Lines, one line per finished image (or failed one), appended as it happens.

Each line is written with one `write` on a file opened for appending and flushed to disk before the
next image starts, so a crash loses at most the image being drawn; a torn last line (a crash inside
the write) is ignored when reading. `--restart` appends a restart line: what came before it is no
longer counted as done. Lines: `{"status": "done", "key", "job", "params", "seed", "file"}`,
`{"status": "failed", "key", "job", "params", "seed", "error"}`, `{"status": "restart"}`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

MANIFEST_NAME = "manifest.jsonl"


class Manifest:
    def __init__(self, folder: Path) -> None:
        self.path = folder / MANIFEST_NAME

    def lines(self) -> list[dict[str, Any]]:
        """Every readable line since the last restart."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        lines: list[dict[str, Any]] = []
        for raw in text.splitlines():
            try:
                line = json.loads(raw)
            except json.JSONDecodeError:
                continue  # a line torn by a crash: that image is made again
            if not isinstance(line, dict):
                continue
            if line.get("status") == "restart":
                lines = []
            else:
                lines.append(line)
        return lines

    def done(self) -> dict[str, str]:
        """Job key -> file of each finished image whose file is still there."""
        finished = {}
        for line in self.lines():
            if line.get("status") == "done" and (self.path.parent / str(line.get("file"))).is_file():
                finished[str(line["key"])] = str(line["file"])
        return finished

    def append(self, line: dict[str, Any]) -> None:
        data = (json.dumps(line, sort_keys=True, default=str, ensure_ascii=False) + "\n").encode("utf-8")
        handle = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o666)
        try:
            os.write(handle, data)
            os.fsync(handle)
        finally:
            os.close(handle)

    def restart(self) -> None:
        if self.path.exists():
            self.append({"status": "restart"})
