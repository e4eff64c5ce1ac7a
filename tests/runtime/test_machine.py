"""`sdkit.runtime.machine`: parsing /proc/cpuinfo and /proc/meminfo, and answers where /proc is missing."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from sdkit.runtime import machine

# Two sockets, two cores each, two hyper-threads per core: 8 processors, 4 physical cores.
X86_CPUINFO = "".join(
    f"processor\t: {index}\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Platinum 8480+\n"
    f"physical id\t: {index // 4}\ncore id\t\t: {index % 4 // 2}\n"
    "flags\t\t: fpu sse2 sse4_2 avx avx2 fma f16c avx512f avx512_bf16 amx_tile amx_bf16 amx_int8 hypervisor\n\n"
    for index in range(8)
)

# A Raspberry Pi 4: ARM names its flags "Features", and the board comes last as "Model".
ARM_CPUINFO = """processor\t: 0
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm crc32 cpuid
CPU implementer\t: 0x41

processor\t: 1
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm crc32 cpuid

Hardware\t: BCM2835
Revision\t: c03111
Model\t\t: Raspberry Pi 4 Model B Rev 1.1
"""

MEMINFO = """MemTotal:       16318412 kB
MemFree:          623940 kB
MemAvailable:    9837624 kB
Buffers:          403412 kB
SwapTotal:       2097148 kB
HugePages_Total:       0
"""


@pytest.fixture
def fake_proc(tmp_path, monkeypatch):
    """Point the module at a folder of sample files, with a fresh per-process cache before and after."""
    monkeypatch.setattr(machine, "PROC", tmp_path)
    machine.cpu.cache_clear()
    yield tmp_path
    machine.cpu.cache_clear()


def test_x86_cpuinfo_gives_model_flags_and_physical_cores():
    facts = machine.parse_cpuinfo(X86_CPUINFO)
    assert facts.model == "Intel(R) Xeon(R) Platinum 8480+"
    assert {"avx512_bf16", "amx_bf16", "hypervisor"} <= facts.flags
    assert facts.physical_cores == 4
    assert facts.native_bf16 is True
    # Only the flags that decide fast paths, in NOTABLE_FLAGS' order (not the file's, not sorted).
    assert facts.notable_flags == ["sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512_bf16",
                                   "amx_tile", "amx_bf16", "amx_int8"]


def test_arm_cpuinfo_reads_features_and_hardware():
    facts = machine.parse_cpuinfo(ARM_CPUINFO)
    assert facts.model == "BCM2835"  # the first name given wins
    assert facts.notable_flags == ["asimd"]
    assert facts.physical_cores is None  # ARM's cpuinfo has no core ids
    assert facts.native_bf16 is False


@pytest.mark.parametrize(("flags", "native"), [
    ("fpu sse2 avx avx2 fma avx512f avx512_bf16", True),  # Zen 4, Cooper Lake and later
    ("fpu sse2 avx avx2 amx_tile amx_bf16", True),  # Sapphire Rapids AMX
    ("fpu sse2 avx avx2 fma f16c", False),  # AVX2 only: bf16 would be emulated, slower than fp32
    ("fpu sse2 avx avx2 avx512f avx512_vnni", False),  # AVX-512 without its bf16 extension
])
def test_native_bf16_follows_the_flags(flags, native):
    assert machine.parse_cpuinfo(f"model name\t: Some CPU\nflags\t\t: {flags}\n").native_bf16 is native


def test_meminfo_is_read_in_bytes():
    fields = machine.parse_meminfo(MEMINFO)
    assert fields["MemTotal"] == 16318412 * 1024
    assert fields["MemAvailable"] == 9837624 * 1024
    assert fields["SwapTotal"] == 2097148 * 1024
    assert fields["HugePages_Total"] == 0  # a count, not kB: left unscaled


def test_readers_use_proc_and_cache_the_cpu(fake_proc):
    (fake_proc / "cpuinfo").write_text(X86_CPUINFO)
    (fake_proc / "meminfo").write_text(MEMINFO)
    assert machine.cpu().model == "Intel(R) Xeon(R) Platinum 8480+"
    assert machine.memory() == machine.MemoryFacts(16318412 * 1024, 9837624 * 1024, 2097148 * 1024)

    # The CPU is read once per process; free memory is read again on every call.
    (fake_proc / "cpuinfo").write_text(ARM_CPUINFO)
    (fake_proc / "meminfo").write_text(MEMINFO.replace("9837624", "1000"))
    assert machine.cpu().model == "Intel(R) Xeon(R) Platinum 8480+"
    assert machine.memory().available_bytes == 1000 * 1024


def test_old_kernels_without_memavailable_report_memfree(fake_proc):
    (fake_proc / "meminfo").write_text(MEMINFO.replace("MemAvailable:    9837624 kB\n", ""))
    assert machine.memory().available_bytes == 623940 * 1024


def test_no_proc_gives_none_and_empty_not_errors(fake_proc, monkeypatch):
    monkeypatch.setattr(machine, "PROC", fake_proc / "missing")  # as on macOS or Windows
    monkeypatch.setattr(machine.platform, "system", lambda: "FreeBSD")  # no sysctl or Windows calls
    monkeypatch.setattr(machine.platform, "processor", lambda: "")
    assert machine.cpu() == machine.CpuFacts(model=None, flags=frozenset(), physical_cores=None)
    assert machine.cpu().notable_flags == [] and machine.cpu().native_bf16 is False
    facts = machine.memory()
    assert facts.total_bytes == os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert facts.available_bytes is None or facts.available_bytes > 0  # psutil's figure where installed


def test_this_machine_answers():
    machine.cpu.cache_clear()
    facts = machine.memory()
    assert facts.total_bytes and facts.total_bytes > 0
    assert facts.available_bytes is None or 0 < facts.available_bytes <= facts.total_bytes
    assert isinstance(machine.cpu().flags, frozenset)


def test_the_module_is_light():
    code = ("import sys, sdkit.runtime.machine as m; m.cpu(); m.memory(); "
            "print(sorted(name for name in ('torch', 'numpy', 'PIL') if name in sys.modules))")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == "[]"
