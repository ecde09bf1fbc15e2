"""Run seccomp programs without the kernel, and say what a spec means.

- :func:`check` / :func:`run`: a classic-BPF interpreter for the subset the
  kernel accepts in seccomp filters, with the kernel's structural checks
  (known opcodes, jumps in range, aligned loads inside ``seccomp_data``,
  a ``ret`` at the end, at most 4096 instructions).
- :func:`reference`: the verdict a spec gives one call, computed straight
  from the rules as :mod:`berth.seccomp.compiler` documents them, without
  building any program. Tests compare the two.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from berth.oci.runtime_spec import Seccomp
from berth.seccomp import arch as A

M32 = 0xFFFFFFFF
X32_BIT = 0x40000000
KILL_THREAD = 0
ERRNO = 0x00050000
ENOSYS = 38
EPERM = 1

RET_OF = {
    "SCMP_ACT_KILL": 0,
    "SCMP_ACT_KILL_THREAD": 0,
    "SCMP_ACT_KILL_PROCESS": 0x80000000,
    "SCMP_ACT_TRAP": 0x00030000,
    "SCMP_ACT_ERRNO": ERRNO,
    "SCMP_ACT_TRACE": 0x7FF00000,
    "SCMP_ACT_LOG": 0x7FFC0000,
    "SCMP_ACT_ALLOW": 0x7FFF0000,
    "SCMP_ACT_NOTIFY": 0x7FC00000,
}

_LD, _AND, _JA, _JEQ, _JGT, _JGE, _JSET, _RET = 0x20, 0x54, 0x05, 0x15, 0x25, 0x35, 0x45, 0x06
_CONDITIONAL = (_JEQ, _JGT, _JGE, _JSET)


def check(program: Sequence[tuple[int, int, int, int]]) -> None:
    """Raise AssertionError where the kernel's checker would refuse the program."""
    n = len(program)
    assert 0 < n <= 4096, f"{n} instructions"
    for pc, (code, jt, jf, k) in enumerate(program):
        assert 0 <= jt <= 255 and 0 <= jf <= 255, f"{pc}: jump offsets {jt},{jf}"
        assert 0 <= k <= M32, f"{pc}: k={k}"
        if code == _LD:
            assert k % 4 == 0 and k + 4 <= 64, f"{pc}: load outside seccomp_data: {k}"
        elif code == _JA:
            assert pc + 1 + k < n, f"{pc}: ja past the end"
        elif code in _CONDITIONAL:
            assert pc + 1 + max(jt, jf) < n, f"{pc}: jump past the end"
        else:
            assert code in (_AND, _RET), f"{pc}: opcode {code:#x} not allowed"
    assert program[-1][0] == _RET, "the last instruction is not a ret"


def seccomp_data(nr: int, arch: int, args: Sequence[int] = (), ip: int = 0) -> bytes:
    full = [*args, 0, 0, 0, 0, 0, 0][:6]
    return struct.pack("=IIQ6Q", nr & M32, arch, ip, *full)


def run(
    program: Sequence[tuple[int, int, int, int]], nr: int, arch: int, args: Sequence[int] = ()
) -> int:
    """Execute ``program`` on one call; return its 32-bit verdict."""
    data = seccomp_data(nr, arch, args)
    acc = 0
    pc = 0
    steps = 0
    while True:
        code, jt, jf, k = program[pc]
        steps += 1
        assert steps <= len(program), "a loop in a seccomp program"
        pc += 1
        if code == _LD:
            acc = struct.unpack_from("=I", data, k)[0]
        elif code == _AND:
            acc &= k
        elif code == _RET:
            return k
        elif code == _JA:
            pc += k
        else:
            test = {
                _JEQ: acc == k,
                _JGT: acc > k,
                _JGE: acc >= k,
                _JSET: bool(acc & k),
            }[code]
            pc += jt if test else jf


def ret_of(action: str, errno_ret: int | None) -> int:
    value = RET_OF[action]
    if value in (ERRNO, RET_OF["SCMP_ACT_TRACE"]):
        value |= EPERM if errno_ret is None else errno_ret
    return value


def _holds(op: str, arg: int, value: int, two: int, wide: bool) -> bool:
    if not wide:
        arg, value, two = arg & M32, value & M32, two & M32
    if op == "SCMP_CMP_EQ":
        return arg == value
    if op == "SCMP_CMP_NE":
        return arg != value
    if op == "SCMP_CMP_LT":
        return arg < value
    if op == "SCMP_CMP_LE":
        return arg <= value
    if op == "SCMP_CMP_GE":
        return arg >= value
    if op == "SCMP_CMP_GT":
        return arg > value
    assert op == "SCMP_CMP_MASKED_EQ"
    return arg & value == two


def reference(spec: Seccomp, native: str, audit: int, nr: int, args: Sequence[int] = ()) -> int:
    """The verdict of ``spec`` (compiled for ``native``) on one call."""
    full = [*args, 0, 0, 0, 0, 0, 0][:6]
    default = ret_of(spec.default_action, spec.default_errno_ret)
    arches = [A.lookup(native)] + [A.lookup(a) for a in spec.architectures]
    abis = {a.name: a for a in arches if a.audit == audit}
    if not abis:
        return KILL_THREAD
    if audit == A.ARCHES["SCMP_ARCH_X86_64"].audit:
        if nr & X32_BIT:
            if "SCMP_ARCH_X32" not in abis:
                return default if nr == M32 else KILL_THREAD
            abi = abis["SCMP_ARCH_X32"]
        else:
            if "SCMP_ARCH_X86_64" not in abis:
                return KILL_THREAD
            abi = abis["SCMP_ARCH_X86_64"]
    else:
        (abi,) = abis.values()
    table = A.numbers(abi)

    unconditional: list[int] = []
    conditional: list[tuple[int, list[tuple[int, str, int, int]]]] = []
    for call in spec.syscalls:
        action = ret_of(call.action, call.errno_ret)
        if action == default:
            continue
        for name in call.names:
            if table.get(name) != nr:
                continue
            conds = [(a.index, a.op, a.value, a.value_two) for a in call.args]
            if not conds:
                unconditional.append(action)
            elif len({c[0] for c in conds}) < len(conds):
                conditional += [(action, [c]) for c in conds]
            else:
                conditional.append((action, conds))
    if unconditional:
        return unconditional[0]
    for action, conds in conditional:
        if all(_holds(op, full[i], v, two, abi.wide) for i, op, v, two in conds):
            return action

    if default & 0xFFFF0000 not in (0x7FFF0000, 0x7FFC0000, 0x7FF00000):
        named = [table[n] for call in spec.syscalls for n in call.names if n in table]
        if named and nr > max(named):
            return ERRNO | ENOSYS
    return default
