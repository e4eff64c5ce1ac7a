"""The one reader of this machine's CPU and memory facts: CPU model, its flags, physical cores, RAM.

Linux answers from /proc/cpuinfo and /proc/meminfo; macOS and Windows from the OS's own calls where
cheap ones exist; anything else gets None or an empty set, never an exception, because the callers
(dtype choice, the upscale memory check, benchmark headers, debug reports) must work everywhere.

The CPU does not change while a process runs, so `cpu()` reads it once per process; free memory
does, so `memory()` reads afresh on every call (the upscale check must see what is free now, not at
start). Nothing here imports torch, numpy or PIL: light commands such as `sdkit export-debug` use it.
"""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

# The /proc folder; a module attribute so that tests can point it at sample files.
PROC = Path("/proc")

# CPU flags that decide fast paths (bf16/fp16 support, AVX-512, AMX, ARM SIMD), in reading order:
# reports show these rather than the full list of a hundred-odd flags.
NOTABLE_FLAGS = (
    "sse4_2", "avx", "avx2", "fma", "f16c", "avx_vnni", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
    "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8", "neon", "asimd", "sve",
)

# Flags with which the CPU computes bf16 natively; without them torch emulates bf16, slower than fp32.
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})

_SYSCTL_TIMEOUT_S = 5


@dataclass(frozen=True)
class CpuFacts:
    """What the OS says about the CPU; `model` and `physical_cores` are None where it says nothing."""

    model: str | None
    flags: frozenset[str]
    physical_cores: int | None

    @property
    def notable_flags(self) -> list[str]:
        """The flags of `NOTABLE_FLAGS` this CPU has, in that order."""
        return [flag for flag in NOTABLE_FLAGS if flag in self.flags]

    @property
    def native_bf16(self) -> bool:
        return bool(self.flags & NATIVE_BF16_FLAGS)


@dataclass(frozen=True)
class MemoryFacts:
    """RAM in bytes at the moment of reading; None for what the OS did not tell."""

    total_bytes: int | None
    available_bytes: int | None
    swap_bytes: int | None = None


def parse_cpuinfo(text: str) -> CpuFacts:
    """The facts in the text of /proc/cpuinfo (x86: `model name`, `flags`; ARM: `Hardware`/`Model`, `Features`)."""
    model = None
    flags: set[str] = set()
    cores: set[tuple[str, str]] = set()
    physical_id = ""
    for line in text.splitlines():
        name, _, value = (part.strip() for part in line.partition(":"))
        if name in ("model name", "Hardware", "Model") and model is None and value:
            model = value
        elif name in ("flags", "Features"):
            flags.update(value.split())
        elif name == "physical id":
            physical_id = value
        elif name == "core id":
            # Hyper-threads share a (package, core) pair: counting pairs counts physical cores.
            cores.add((physical_id, value))
    return CpuFacts(model=model, flags=frozenset(flags), physical_cores=len(cores) or None)


def parse_meminfo(text: str) -> dict[str, int]:
    """The fields of /proc/meminfo in bytes (the file says kB, meaning KiB; unit-less fields stay as they are)."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if not parts or not parts[0].isdigit():
            continue
        values[name.strip()] = int(parts[0]) * (1024 if parts[1:2] == ["kB"] else 1)
    return values


@lru_cache(maxsize=1)
def cpu() -> CpuFacts:
    """This machine's CPU, read once per process."""
    text = _read(PROC / "cpuinfo")
    facts = parse_cpuinfo(text) if text is not None else CpuFacts(None, frozenset(), None)
    if platform.system() == "Darwin":
        cores = _sysctl("hw.physicalcpu")
        facts = CpuFacts(model=facts.model or _sysctl("machdep.cpu.brand_string"), flags=facts.flags,
                         physical_cores=facts.physical_cores or (int(cores) if cores and cores.isdigit() else None))
    if facts.model is None:
        # Windows names the CPU here ("Intel64 Family 6 Model 85 ..."); elsewhere it is at least the architecture.
        facts = CpuFacts(platform.processor() or None, facts.flags, facts.physical_cores)
    return facts


def memory() -> MemoryFacts:
    """Total and available RAM and the swap size, as they are now."""
    text = _read(PROC / "meminfo")
    if text is not None:
        fields = parse_meminfo(text)
        # Kernels before 3.14 have no MemAvailable; MemFree is the closest (lower) figure they give.
        available = fields.get("MemAvailable", fields.get("MemFree"))
        return MemoryFacts(fields.get("MemTotal"), available, fields.get("SwapTotal"))
    if platform.system() == "Windows":
        return _windows_memory()
    return MemoryFacts(_total_bytes_elsewhere(), _available_bytes_elsewhere())


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return None


def _sysctl(name: str) -> str | None:
    """One macOS sysctl value as text, or None."""
    try:
        done = subprocess.run(["sysctl", "-n", name], capture_output=True, text=True, timeout=_SYSCTL_TIMEOUT_S,
                              check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None


def _total_bytes_elsewhere() -> int | None:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")  # macOS and the BSDs have these
    except (ValueError, OSError, AttributeError):
        return None


def _available_bytes_elsewhere() -> int | None:
    try:
        import psutil  # accelerate depends on it, so it is usually installed; sdkit does not require it

        return int(psutil.virtual_memory().available)
    except ImportError:
        return None


def _windows_memory() -> MemoryFacts:
    import ctypes

    class MemoryStatus(ctypes.Structure):
        _fields_ = [("dwLength", ctypes.c_ulong), ("dwMemoryLoad", ctypes.c_ulong),
                    ("ullTotalPhys", ctypes.c_ulonglong), ("ullAvailPhys", ctypes.c_ulonglong),
                    ("ullTotalPageFile", ctypes.c_ulonglong), ("ullAvailPageFile", ctypes.c_ulonglong),
                    ("ullTotalVirtual", ctypes.c_ulonglong), ("ullAvailVirtual", ctypes.c_ulonglong),
                    ("ullAvailExtendedVirtual", ctypes.c_ulonglong)]

    status = MemoryStatus()
    status.dwLength = ctypes.sizeof(MemoryStatus)
    if not ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status)):  # type: ignore[attr-defined]
        return MemoryFacts(None, None)
    return MemoryFacts(int(status.ullTotalPhys), int(status.ullAvailPhys))
