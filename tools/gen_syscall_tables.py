#!/usr/bin/env python3
"""Generate berth's syscall name -> number tables (src/berth/seccomp/tables/).

The numbers are facts of the Linux ABI. They are read once from the kernel's
UAPI headers installed on the build machine (Debian's linux-libc-dev) and
committed as Python modules, so that berth never parses headers at run time:

- x86_64: ``<asm/unistd_64.h>``
- x86 (i386): ``<asm/unistd_32.h>``
- x32: ``<asm/unistd_x32.h>`` (numbers include ``__X32_SYSCALL_BIT``)
- aarch64: ``<asm-generic/unistd.h>`` run through the C preprocessor with the
  ``__ARCH_WANT_*`` switches that arm64's ``<asm/unistd.h>`` sets
- arm (EABI): only when ``--libseccomp-csv`` names libseccomp's
  ``src/syscalls.csv`` (the arm column), since no arm headers are installed

System calls added after the installed headers (the kernel here is newer than
linux-libc-dev) come from :data:`LATER`, a short hand-kept list checked
against the kernel's syscall tables.

Usage::

    .venv/bin/python tools/gen_syscall_tables.py [--libseccomp-csv PATH] [--check]
"""

from __future__ import annotations

import argparse
import csv
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "src" / "berth" / "seccomp" / "tables"
INCLUDE = Path("/usr/include")
X32_BIT = 0x40000000

# arm64's <asm/unistd.h> (Linux 6.x) sets these before including the generic table.
ARM64_WANTS = (
    "__ARCH_WANT_RENAMEAT",
    "__ARCH_WANT_NEW_STAT",
    "__ARCH_WANT_SET_GET_RLIMIT",
    "__ARCH_WANT_TIME32_SYSCALLS",
    "__ARCH_WANT_SYS_CLONE3",
    "__ARCH_WANT_MEMFD_SECRET",
)

_ALL = ("x86_64", "x86", "x32", "aarch64", "arm")
# Calls numbered after the 6.1 headers: (name, number, tables that have it).
LATER: tuple[tuple[str, int, tuple[str, ...]], ...] = (
    ("uretprobe", 335, ("x86_64", "x32")),
    ("uprobe", 336, ("x86_64", "x32")),
    ("cachestat", 451, _ALL),
    ("fchmodat2", 452, _ALL),
    ("map_shadow_stack", 453, ("x86_64", "aarch64")),
    ("futex_wake", 454, _ALL),
    ("futex_wait", 455, _ALL),
    ("futex_requeue", 456, _ALL),
    ("statmount", 457, _ALL),
    ("listmount", 458, _ALL),
    ("lsm_get_self_attr", 459, _ALL),
    ("lsm_set_self_attr", 460, _ALL),
    ("lsm_list_modules", 461, _ALL),
    ("mseal", 462, _ALL),
    ("setxattrat", 463, _ALL),
    ("getxattrat", 464, _ALL),
    ("listxattrat", 465, _ALL),
    ("removexattrat", 466, _ALL),
    ("open_tree_attr", 467, _ALL),
    ("file_getattr", 468, _ALL),
    ("file_setattr", 469, _ALL),
    ("listns", 470, _ALL),
    ("rseq_slice_yield", 471, _ALL),
)

_NOT_CALLS = ("syscalls", "3264_", "arch_specific")  # counts and bases, not calls
_DEFINE = re.compile(r"^#define __NR_(\w+)\s+(.+?)\s*$")
_EXPR = re.compile(r"^[0-9a-fA-Fx+()\s]+$")


def _evaluate(expr: str) -> int:
    """Evaluate a macro body that only adds integer literals."""
    if not _EXPR.fullmatch(expr):
        raise ValueError(f"unexpected syscall number expression: {expr!r}")
    total = 0
    for term in expr.replace("(", " ").replace(")", " ").split("+"):
        total += int(term.strip(), 0)
    return total


def from_header(text: str, substitutions: dict[str, str]) -> dict[str, int]:
    """``#define __NR_name <expr>`` lines of an x86 unistd_*.h header."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        m = _DEFINE.match(line)
        if not m:
            continue
        body = m.group(2)
        for key, value in substitutions.items():
            body = body.replace(key, value)
        out[m.group(1)] = _evaluate(body)
    return out


def from_generic(wants: tuple[str, ...]) -> dict[str, int]:
    """The asm-generic table as an architecture that sets ``wants`` sees it."""
    source = "".join(f"#define {w}\n" for w in wants)
    source += "#include <asm-generic/unistd.h>\n"
    macros = subprocess.run(
        ["cpp", "-dM", "-P", "-"], input=source, capture_output=True, text=True, check=True
    ).stdout
    names = sorted(
        m.group(1)
        for line in macros.splitlines()
        if (m := _DEFINE.match(line)) and not m.group(1).startswith(_NOT_CALLS)
    )
    # Let the preprocessor expand each name's value (they refer to other macros).
    probe = source + "".join(f"@{n}@ __NR_{n}\n" for n in names)
    expanded = subprocess.run(
        ["cpp", "-P", "-"], input=probe, capture_output=True, text=True, check=True
    ).stdout
    out: dict[str, int] = {}
    for line in expanded.splitlines():
        if line.startswith("@"):
            _, name, expr = line.split("@", 2)
            out[name] = _evaluate(expr.strip())
    return out


def from_libseccomp_csv(text: str, column: str) -> dict[str, int]:
    rows = list(csv.reader(text.splitlines()))
    header = rows[0]
    index = header.index(column)
    return {
        row[0]: int(row[index])
        for row in rows[1:]
        if row and not row[0].startswith("#") and row[index].isdigit()
    }


def render(arch: str, table: dict[str, int], source: str) -> str:
    lines = [
        f'"""System call numbers of {arch} (generated by tools/gen_syscall_tables.py).',
        "",
        f"Source: {source}. Do not edit by hand.",
        '"""',
        "",
        "NUMBERS: dict[str, int] = {",
    ]
    for name, number in sorted(table.items(), key=lambda kv: (kv[1], kv[0])):
        value = f"0x{number:X}" if number >= X32_BIT else str(number)  # as ruff formats it
        lines.append(f'    "{name}": {value},')
    lines.append("}")
    return "\n".join(lines) + "\n"


def build(libseccomp_csv: str | None) -> dict[str, tuple[dict[str, int], str]]:
    asm = INCLUDE / "x86_64-linux-gnu" / "asm"
    tables: dict[str, tuple[dict[str, int], str]] = {
        "x86_64": (from_header((asm / "unistd_64.h").read_text(), {}), "<asm/unistd_64.h>"),
        "x86": (from_header((asm / "unistd_32.h").read_text(), {}), "<asm/unistd_32.h>"),
        "x32": (
            from_header((asm / "unistd_x32.h").read_text(), {"__X32_SYSCALL_BIT": hex(X32_BIT)}),
            "<asm/unistd_x32.h>",
        ),
        "aarch64": (from_generic(ARM64_WANTS), "<asm-generic/unistd.h> with arm64's switches"),
    }
    if libseccomp_csv:
        text = Path(libseccomp_csv).read_text()
        tables["arm"] = (from_libseccomp_csv(text, "arm"), "libseccomp src/syscalls.csv (arm)")
    for name, number, arches in LATER:
        for arch in arches:
            if arch in tables:
                table = tables[arch][0]
                table.setdefault(name, number | X32_BIT if arch == "x32" else number)
    return tables


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--libseccomp-csv", help="libseccomp's src/syscalls.csv, for arm")
    parser.add_argument("--check", action="store_true", help="fail if a table would change")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    changed = []
    for arch, (table, source) in build(args.libseccomp_csv).items():
        path = OUT / f"{arch}.py"
        text = render(arch, table, source)
        if not path.exists() or path.read_text() != text:
            changed.append(path.name)
            if not args.check:
                path.write_text(text)
    init = OUT / "__init__.py"
    if not init.exists() and not args.check:
        init.write_text('"""Generated syscall tables, one module per architecture."""\n')
    if changed:
        print(("would change: " if args.check else "wrote: ") + " ".join(changed))
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
