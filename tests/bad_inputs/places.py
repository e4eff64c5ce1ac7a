"""Places that refuse writes for real: a tiny tmpfs that fills up, and a folder that takes no new files.

sdkit's answers to a full disk or a read-only folder come from the kernel's errors, so the corpus uses
the kernel: a tmpfs mounted for the case where this machine allows it (as root), a folder without write
permission otherwise. Without either, the case is skipped and says why.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from bad_inputs.corpus import Ctx


def mount_tmpfs(ctx: Ctx, where: Path, size: str, read_only: bool = False) -> Path:
    """Mount a tmpfs of `size` (e.g. "8k") at `where` for this case only; skip when it cannot be mounted."""
    where.mkdir(parents=True, exist_ok=True)
    options = f"size={size},mode=0777" + (",ro" if read_only else "")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "sdkit-bad-inputs", str(where)],
                             capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a {size} tmpfs at {where} on this machine "
                    f"({(mounted.stderr or mounted.stdout).strip() or mounted.returncode}): "
                    "the case needs a real file system that refuses the write")
    ctx.request.addfinalizer(lambda: subprocess.run(["umount", "-l", str(where)], check=False))
    return where


def full_disk(ctx: Ctx, where: Path, size: str = "4k") -> Path:
    """A folder on a file system with room for `size` bytes (rounded to pages), so writes end in ENOSPC."""
    return mount_tmpfs(ctx, where, size)


def read_only_folder(ctx: Ctx, where: Path) -> Path:
    """A folder that refuses new files: a read-only mount as root (root ignores modes), mode 0555 otherwise."""
    if os.geteuid() == 0:
        return mount_tmpfs(ctx, where, "64k", read_only=True)
    where.mkdir(parents=True, exist_ok=True)
    where.chmod(0o555)
    ctx.request.addfinalizer(lambda: where.chmod(0o755))
    return where
