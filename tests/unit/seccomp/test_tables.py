"""The generated syscall tables: anchors from the ABI, and that they are up to date."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from berth.seccomp.arch import ARCHES, X32_SYSCALL_BIT, lookup, numbers

ROOT = Path(__file__).resolve().parents[3]


def test_anchor_numbers() -> None:
    x86_64 = numbers(ARCHES["SCMP_ARCH_X86_64"])
    assert (x86_64["read"], x86_64["write"], x86_64["openat"], x86_64["clone3"]) == (0, 1, 257, 435)
    assert x86_64["seccomp"] == 317 and x86_64["uretprobe"] == 335
    i386 = numbers(ARCHES["SCMP_ARCH_X86"])
    assert (i386["read"], i386["socketcall"], i386["_llseek"], i386["chown32"]) == (
        3,
        102,
        140,
        212,
    )
    aarch64 = numbers(ARCHES["SCMP_ARCH_AARCH64"])
    assert aarch64["openat"] == 56 and aarch64["clone"] == 220 and aarch64["fstat"] == 80
    assert "open" not in aarch64 and "arch_specific_syscall" not in aarch64
    arm = numbers(ARCHES["SCMP_ARCH_ARM"])
    assert arm["set_tls"] == 0x0F0005 and arm["read"] == 3
    for table in (x86_64, i386, aarch64, arm):
        assert table["listmount"] == 458 and table["file_setattr"] == 469


def test_x32_numbers_carry_the_x32_bit() -> None:
    x32 = numbers(ARCHES["SCMP_ARCH_X32"])
    assert all(nr & X32_SYSCALL_BIT for nr in x32.values())
    assert x32["read"] == X32_SYSCALL_BIT and x32["execve"] == X32_SYSCALL_BIT | 520


def test_no_two_names_share_a_number() -> None:
    for name in ("SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64"):
        table = numbers(ARCHES[name])
        assert len(set(table.values())) == len(table), name


def test_architecture_spellings() -> None:
    for spelling in ("x86_64", "amd64", "SCMP_ARCH_X86_64"):
        assert lookup(spelling) is ARCHES["SCMP_ARCH_X86_64"]
    assert lookup("arm64").audit == 0xC00000B7
    assert lookup("i686").audit == 0x40000003
    assert numbers(ARCHES["SCMP_ARCH_S390X"]) == {}


@pytest.mark.skipif(
    not Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h").exists() or not shutil.which("cpp"),
    reason="needs the kernel UAPI headers and cpp",
)
def test_generator_reproduces_the_tables() -> None:
    tool = ROOT / "tools" / "gen_syscall_tables.py"
    out = subprocess.run([sys.executable, str(tool), "--check"], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
