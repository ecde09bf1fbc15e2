"""Architectures a seccomp filter can name, and their system call tables.

An OCI spec names architectures the way libseccomp does (``SCMP_ARCH_X86_64``).
The kernel tells a filter which ABI a call came in through by
``seccomp_data.arch``, an ``AUDIT_ARCH_*`` value. Two ABIs share one audit
value: x86_64 and x32; x32 calls carry ``__X32_SYSCALL_BIT`` (0x40000000) in
their number, which is how a filter tells them apart.

Syscall name -> number tables live in :mod:`berth.seccomp.tables` (generated
by ``tools/gen_syscall_tables.py``) and are imported only when an
architecture is compiled for.
"""

from __future__ import annotations

import os

from berth.errors import InvalidArgument

X32_SYSCALL_BIT = 0x40000000

_64 = 0x80000000  # __AUDIT_ARCH_64BIT
_LE = 0x40000000  # __AUDIT_ARCH_LE


class Arch:
    """One ABI: its OCI name, audit value, table module and argument width."""

    __slots__ = ("audit", "docker", "name", "table", "wide")

    def __init__(self, name: str, audit: int, table: str | None, wide: bool, docker: str) -> None:
        self.name = name
        self.audit = audit
        self.table = table  # module name under berth.seccomp.tables, None: no table
        self.wide = wide  # arguments compared on 64 bits (else the low 32 only)
        self.docker = docker  # the name Docker profiles use in "arches" filters

    def __repr__(self) -> str:
        return f"Arch({self.name})"


ARCHES: dict[str, Arch] = {
    a.name: a
    for a in (
        Arch("SCMP_ARCH_X86_64", 62 | _64 | _LE, "x86_64", True, "amd64"),
        Arch("SCMP_ARCH_X32", 62 | _64 | _LE, "x32", False, "x32"),
        Arch("SCMP_ARCH_X86", 3 | _LE, "x86", False, "x86"),
        Arch("SCMP_ARCH_AARCH64", 183 | _64 | _LE, "aarch64", True, "arm64"),
        Arch("SCMP_ARCH_ARM", 40 | _LE, "arm", False, "arm"),
        Arch("SCMP_ARCH_RISCV64", 243 | _64 | _LE, None, True, "riscv64"),
        Arch("SCMP_ARCH_LOONGARCH64", 258 | _64 | _LE, None, True, "loong64"),
        Arch("SCMP_ARCH_PPC", 20, None, False, "ppc"),
        Arch("SCMP_ARCH_PPC64", 21 | _64, None, True, "ppc64"),
        Arch("SCMP_ARCH_PPC64LE", 21 | _64 | _LE, None, True, "ppc64le"),
        Arch("SCMP_ARCH_S390", 22, None, False, "s390"),
        Arch("SCMP_ARCH_S390X", 22 | _64, None, True, "s390x"),
        Arch("SCMP_ARCH_MIPS", 8, None, False, "mips"),
        Arch("SCMP_ARCH_MIPSEL", 8 | _LE, None, False, "mipsel"),
        Arch("SCMP_ARCH_MIPS64", 8 | _64, None, True, "mips64"),
        Arch("SCMP_ARCH_MIPSEL64", 8 | _64 | _LE, None, True, "mipsel64"),
        Arch("SCMP_ARCH_MIPS64N32", 8 | _64 | 0x20000000, None, False, "mips64n32"),
        Arch("SCMP_ARCH_MIPSEL64N32", 8 | _64 | _LE | 0x20000000, None, False, "mipsel64n32"),
    )
}

# Other spellings of an architecture: uname -m, GOARCH, libseccomp's short names.
_ALIASES = {
    "x86_64": "SCMP_ARCH_X86_64",
    "amd64": "SCMP_ARCH_X86_64",
    "x32": "SCMP_ARCH_X32",
    "x86": "SCMP_ARCH_X86",
    "i386": "SCMP_ARCH_X86",
    "i686": "SCMP_ARCH_X86",
    "386": "SCMP_ARCH_X86",
    "aarch64": "SCMP_ARCH_AARCH64",
    "arm64": "SCMP_ARCH_AARCH64",
    "arm": "SCMP_ARCH_ARM",
    "armv7l": "SCMP_ARCH_ARM",
    "armv8l": "SCMP_ARCH_ARM",
    "riscv64": "SCMP_ARCH_RISCV64",
    "loong64": "SCMP_ARCH_LOONGARCH64",
    "loongarch64": "SCMP_ARCH_LOONGARCH64",
    "ppc": "SCMP_ARCH_PPC",
    "ppc64": "SCMP_ARCH_PPC64",
    "ppc64le": "SCMP_ARCH_PPC64LE",
    "s390": "SCMP_ARCH_S390",
    "s390x": "SCMP_ARCH_S390X",
    "mips": "SCMP_ARCH_MIPS",
    "mipsel": "SCMP_ARCH_MIPSEL",
    "mipsle": "SCMP_ARCH_MIPSEL",
    "mips64": "SCMP_ARCH_MIPS64",
    "mips64el": "SCMP_ARCH_MIPSEL64",
    "mipsel64": "SCMP_ARCH_MIPSEL64",
    "mips64le": "SCMP_ARCH_MIPSEL64",
    "mips64n32": "SCMP_ARCH_MIPS64N32",
    "mipsel64n32": "SCMP_ARCH_MIPSEL64N32",
}


def lookup(name: str, where: str = "architecture") -> Arch:
    """The architecture ``name`` (any spelling), or InvalidArgument naming ``where``."""
    arch = ARCHES.get(name) or ARCHES.get(_ALIASES.get(name, ""))
    if arch is None:
        known = ", ".join(ARCHES)
        raise InvalidArgument(f"{where}: unknown architecture {name!r}; use one of {known}")
    return arch


_native: Arch | None = None


def native() -> Arch:
    """The architecture of this machine's kernel."""
    global _native
    if _native is None:
        _native = lookup(os.uname().machine, "this machine")
    return _native


_tables: dict[str, dict[str, int]] = {}


def numbers(arch: Arch) -> dict[str, int]:
    """Name -> number for ``arch`` (empty when berth has no table for it)."""
    if arch.table is None:
        return {}
    table = _tables.get(arch.table)
    if table is None:
        # __import__ rather than importlib: importlib's package costs more than a table.
        module = __import__(f"berth.seccomp.tables.{arch.table}", fromlist=["NUMBERS"])
        table = _tables[arch.table] = module.NUMBERS
    return table
