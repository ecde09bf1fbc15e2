"""Classic BPF as seccomp uses it: opcodes, return values, packing, listing.

An instruction is a tuple ``(code, jt, jf, k)`` as in ``struct sock_filter``.
Conditional jumps skip ``jt`` / ``jf`` instructions (0..255) forward; ``ja``
skips ``k``. A filter reads ``struct seccomp_data``::

    offset 0   int   nr        system call number
    offset 4   u32   arch      AUDIT_ARCH_* of the calling ABI
    offset 8   u64   instruction_pointer
    offset 16  u64   args[6]   (each in the host's byte order)
"""

from __future__ import annotations

import sys

# opcodes (linux/filter.h, linux/bpf_common.h)
LD_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
AND_K = 0x54  # BPF_ALU | BPF_AND | BPF_K
JA = 0x05  # BPF_JMP | BPF_JA
JEQ = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
JGT = 0x25  # BPF_JMP | BPF_JGT | BPF_K
JGE = 0x35  # BPF_JMP | BPF_JGE | BPF_K
JSET = 0x45  # BPF_JMP | BPF_JSET | BPF_K
RET = 0x06  # BPF_RET | BPF_K

MAXINSNS = 4096  # BPF_MAXINSNS
MAX_JUMP = 255

# seccomp_data offsets
OFF_NR = 0
OFF_ARCH = 4
OFF_IP = 8
OFF_ARGS = 16
_BIG = sys.byteorder == "big"


def arg_offsets(index: int) -> tuple[int, int]:
    """(low word, high word) offsets of argument ``index`` in seccomp_data."""
    base = OFF_ARGS + 8 * index
    return (base + 4, base) if _BIG else (base, base + 4)


# SECCOMP_RET_* (linux/seccomp.h): the action is the high 16 bits, data the low.
RET_KILL_PROCESS = 0x80000000
RET_KILL_THREAD = 0x00000000
RET_TRAP = 0x00030000
RET_ERRNO = 0x00050000
RET_USER_NOTIF = 0x7FC00000
RET_TRACE = 0x7FF00000
RET_LOG = 0x7FFC0000
RET_ALLOW = 0x7FFF0000
RET_ACTION_FULL = 0xFFFF0000
RET_DATA = 0x0000FFFF

_RET_NAMES = {
    RET_KILL_PROCESS: "KILL_PROCESS",
    RET_KILL_THREAD: "KILL_THREAD",
    RET_TRAP: "TRAP",
    RET_ERRNO: "ERRNO",
    RET_USER_NOTIF: "USER_NOTIF",
    RET_TRACE: "TRACE",
    RET_LOG: "LOG",
    RET_ALLOW: "ALLOW",
}


def ret_name(value: int) -> str:
    """``ERRNO(1)``, ``ALLOW``, ... for a SECCOMP_RET_* value."""
    action = value & RET_ACTION_FULL
    name = _RET_NAMES.get(action, f"{action:#x}")
    data = value & RET_DATA
    if action in (RET_ERRNO, RET_TRACE) or data:
        return f"{name}({data})"
    return name


def pack(instructions: tuple[tuple[int, int, int, int], ...]) -> bytes:
    """The ``struct sock_filter`` array, in the host's byte order."""
    import struct

    flat = [v for insn in instructions for v in insn]
    return struct.pack("=" + "HBBI" * len(instructions), *flat)


_JUMPS = {JEQ: "jeq", JGT: "jgt", JGE: "jge", JSET: "jset"}


def disasm(instructions: tuple[tuple[int, int, int, int], ...]) -> str:
    """A readable listing, one instruction a line, jump targets as absolute indexes."""
    lines = []
    for pc, (code, jt, jf, k) in enumerate(instructions):
        if code == LD_ABS:
            what = {OFF_NR: "nr", OFF_ARCH: "arch"}.get(k)
            if what is None and k >= OFF_ARGS:
                index, word = divmod(k - OFF_ARGS, 8)
                half = "hi" if (word == 4) != _BIG else "lo"
                what = f"arg{index}.{half}"
            text = f"ld [{k}]" + (f"  ; {what}" if what else "")
        elif code == AND_K:
            text = f"and #{k:#x}"
        elif code == JA:
            text = f"ja {pc + 1 + k}"
        elif code in _JUMPS:
            text = f"{_JUMPS[code]} #{k:#x}, {pc + 1 + jt}, {pc + 1 + jf}"
        elif code == RET:
            text = f"ret #{k:#x}  ; {ret_name(k)}"
        else:
            text = f"code={code:#x} jt={jt} jf={jf} k={k:#x}"
        lines.append(f"{pc:5d}: {text}")
    return "\n".join(lines)
