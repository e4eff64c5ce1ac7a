"""The upscale memory check on the CPU sees the machine's free RAM, as `sdkit.runtime.machine` reads it."""

from __future__ import annotations

import pytest

from sdkit.core.errors import UserInputError
from sdkit.runtime import machine
from sdkit.upscale import memory


@pytest.fixture
def free_ram(tmp_path, monkeypatch):
    """Set the machine's free RAM (in KiB) through a sample /proc/meminfo."""
    monkeypatch.setattr(machine, "PROC", tmp_path)

    def set_free(kib: int) -> None:
        (tmp_path / "meminfo").write_text(f"MemTotal: 64000000 kB\nMemFree: 1000 kB\nMemAvailable: {kib} kB\n")
    return set_free


def test_cpu_free_memory_is_memavailable_now(free_ram):
    free_ram(2_000_000)
    assert memory.available_bytes("cpu") == 2_000_000 * 1024
    free_ram(500)  # read afresh on every check, not once per process
    assert memory.available_bytes("cpu") == 500 * 1024


def test_an_untiled_image_too_large_for_free_ram_is_refused(free_ram):
    needed = memory.estimate_bytes(2048, 2048, 4)
    free_ram(int(needed / memory.SAFE_SHARE / 1024) - 1)
    with pytest.raises(UserInputError, match="untiled needs about"):
        memory.check_fits(2048, 2048, 4, "cpu", tile=0)
    free_ram(int(needed / memory.SAFE_SHARE / 1024) + 1)
    memory.check_fits(2048, 2048, 4, "cpu", tile=0)  # fits now: no error
