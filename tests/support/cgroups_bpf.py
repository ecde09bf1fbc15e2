"""A tiny eBPF interpreter for the instructions berth's device filters use (unit tests).

It runs a ``BPF_PROG_TYPE_CGROUP_DEVICE`` program on one access, so that the
program's decisions can be compared with the rule semantics without the kernel.
"""

from __future__ import annotations

import struct

from berth.cgroups import devices as d

M32 = 0xFFFFFFFF
M64 = (1 << 64) - 1


def run(program: bytes, dev_type: int, major: int, minor: int, access: int) -> int:
    ctx = struct.pack("<III", (access << 16) | dev_type, major, minor)
    insns = [struct.unpack_from("<BBhi", program, i) for i in range(0, len(program), 8)]
    regs = [0] * 11
    pc = 0
    steps = 0
    while True:
        steps += 1
        assert steps < 10000, "no exit"
        code, regbyte, off, imm = insns[pc]
        dst, src = regbyte & 0xF, regbyte >> 4
        pc += 1
        if code == d.LDXW:
            assert src == d.R1 and off in (0, 4, 8), "only ctx loads"
            regs[dst] = struct.unpack_from("<I", ctx, off)[0]
        elif code == d.AND32_K:
            regs[dst] = (regs[dst] & imm) & M32
        elif code == d.RSH32_K:
            regs[dst] = (regs[dst] & M32) >> imm
        elif code == d.MOV32_K:
            regs[dst] = imm & M32
        elif code == d.MOV32_X:
            regs[dst] = regs[src] & M32
        elif code == d.JNE_K:
            if regs[dst] != imm & M64:
                pc += off
        elif code == d.JNE_X:
            if regs[dst] != regs[src]:
                pc += off
        elif code == d.JEQ_K:
            if regs[dst] == imm & M64:
                pc += off
        elif code == d.EXIT:
            return regs[0]
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")
        assert 0 <= pc < len(insns), "jump out of the program"
