"""The seccomp compiler, checked by running its programs in a BPF interpreter."""

from __future__ import annotations

from typing import Any

import pytest

from berth.errors import InvalidArgument
from berth.oci.runtime_spec import Seccomp
from berth.seccomp import Program, compile_filter
from berth.seccomp import bpf as b
from berth.seccomp.arch import ARCHES, numbers
from support.seccomp_eval import check, reference, run

X86_64 = ARCHES["SCMP_ARCH_X86_64"].audit
I386 = ARCHES["SCMP_ARCH_X86"].audit
AARCH64 = ARCHES["SCMP_ARCH_AARCH64"].audit
X32_BIT = 0x40000000
NR64 = numbers(ARCHES["SCMP_ARCH_X86_64"])
NR32 = numbers(ARCHES["SCMP_ARCH_X86"])
NRX32 = numbers(ARCHES["SCMP_ARCH_X32"])
ALLOW = b.RET_ALLOW
EPERM = b.RET_ERRNO | 1
ENOSYS = b.RET_ERRNO | 38


def spec(**doc: Any) -> Seccomp:
    return Seccomp.from_json(doc)


def compiled(s: Seccomp, native: str = "x86_64") -> Program:
    program = compile_filter(s, native)
    check(program.instructions)
    return program


def verdict(program: Program, name: str, args: tuple[int, ...] = (), arch: int = X86_64) -> int:
    table = {X86_64: NR64, I386: NR32}[arch]
    return run(program.instructions, table[name], arch, args)


def test_allow_list_with_errno_default() -> None:
    s = spec(
        defaultAction="SCMP_ACT_ERRNO",
        defaultErrnoRet=13,
        syscalls=[{"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"}],
    )
    p = compiled(s)
    assert verdict(p, "read") == ALLOW
    assert verdict(p, "write") == ALLOW
    assert verdict(p, "mkdir") == b.RET_ERRNO | 13
    assert p.flags == 4  # no "flags" key: SPEC_ALLOW, as runc
    assert not p.needs_listener


def test_errno_ret_on_a_rule() -> None:
    s = spec(
        defaultAction="SCMP_ACT_ALLOW",
        syscalls=[
            {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 28},
            {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["getpid"], "action": "SCMP_ACT_TRACE", "errnoRet": 7},
        ],
    )
    p = compiled(s)
    assert verdict(p, "mkdir") == b.RET_ERRNO | 28
    assert verdict(p, "rmdir") == EPERM
    assert verdict(p, "getpid") == b.RET_TRACE | 7
    assert verdict(p, "read") == ALLOW  # ALLOW default: no ENOSYS for unknown numbers
    assert run(p.instructions, 1000, X86_64) == ALLOW


@pytest.mark.parametrize(
    ("action", "ret"),
    [
        ("SCMP_ACT_KILL", b.RET_KILL_THREAD),
        ("SCMP_ACT_KILL_THREAD", b.RET_KILL_THREAD),
        ("SCMP_ACT_KILL_PROCESS", b.RET_KILL_PROCESS),
        ("SCMP_ACT_TRAP", b.RET_TRAP),
        ("SCMP_ACT_LOG", b.RET_LOG),
        ("SCMP_ACT_NOTIFY", b.RET_USER_NOTIF),
    ],
)
def test_actions(action: str, ret: int) -> None:
    s = spec(defaultAction="SCMP_ACT_ALLOW", syscalls=[{"names": ["kill"], "action": action}])
    p = compiled(s)
    assert verdict(p, "kill") == ret
    assert p.needs_listener == (action == "SCMP_ACT_NOTIFY")
    assert bool(p.flags & 8) == p.needs_listener


def test_personality_allowed_only_for_zero() -> None:
    s = spec(
        defaultAction="SCMP_ACT_ERRNO",
        architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
        syscalls=[
            {
                "names": ["personality"],
                "action": "SCMP_ACT_ALLOW",
                "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}],
            }
        ],
    )
    p = compiled(s)
    assert verdict(p, "personality", (0,)) == ALLOW
    assert verdict(p, "personality", (8,)) == EPERM
    assert verdict(p, "personality", (1 << 32,)) == EPERM  # the high word counts on x86_64
    # i386 arguments are 32 bits: only the low word is compared
    assert verdict(p, "personality", (0,), I386) == ALLOW
    assert verdict(p, "personality", (1 << 32,), I386) == ALLOW
    assert verdict(p, "personality", (8,), I386) == EPERM


def test_64_bit_comparisons_use_both_words() -> None:
    big = 0x1_0000_0005
    ops = {
        "SCMP_CMP_EQ": lambda a: a == big,
        "SCMP_CMP_NE": lambda a: a != big,
        "SCMP_CMP_LT": lambda a: a < big,
        "SCMP_CMP_LE": lambda a: a <= big,
        "SCMP_CMP_GE": lambda a: a >= big,
        "SCMP_CMP_GT": lambda a: a > big,
    }
    probes = [0, 5, 6, 4, 0xFFFFFFFF, 1 << 32, big - 1, big, big + 1, 0x2_0000_0000, 2**64 - 1]
    for op, holds in ops.items():
        s = spec(
            defaultAction="SCMP_ACT_ALLOW",
            syscalls=[
                {
                    "names": ["lseek"],
                    "action": "SCMP_ACT_ERRNO",
                    "args": [{"index": 1, "value": big, "op": op}],
                }
            ],
        )
        p = compiled(s)
        for a in probes:
            expected = EPERM if holds(a) else ALLOW
            assert verdict(p, "lseek", (3, a)) == expected, (op, hex(a))


def test_masked_eq_on_both_words() -> None:
    s = spec(
        defaultAction="SCMP_ACT_ALLOW",
        syscalls=[
            {
                "names": ["ioctl"],
                "action": "SCMP_ACT_ERRNO",
                "args": [
                    {
                        "index": 1,
                        "value": 0xFF_0000_00FF,
                        "valueTwo": 0x12_0000_0034,
                        "op": "SCMP_CMP_MASKED_EQ",
                    }
                ],
            }
        ],
    )
    p = compiled(s)
    assert verdict(p, "ioctl", (0, 0x12_ABCD_EF34)) == EPERM
    assert verdict(p, "ioctl", (0, 0x13_0000_0034)) == ALLOW
    assert verdict(p, "ioctl", (0, 0x12_0000_0035)) == ALLOW


def test_args_in_one_rule_are_anded_rules_are_ored() -> None:
    s = spec(
        defaultAction="SCMP_ACT_ERRNO",
        syscalls=[
            {
                "names": ["socket"],
                "action": "SCMP_ACT_ALLOW",
                "args": [
                    {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"},
                    {"index": 1, "value": 1, "op": "SCMP_CMP_EQ"},
                ],
            },
            {
                "names": ["socket"],
                "action": "SCMP_ACT_ALLOW",
                "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}],
            },
        ],
    )
    p = compiled(s)
    assert verdict(p, "socket", (2, 1)) == ALLOW
    assert verdict(p, "socket", (2, 2)) == EPERM
    assert verdict(p, "socket", (1, 5)) == ALLOW
    assert verdict(p, "socket", (10, 1)) == EPERM


def test_repeated_argument_index_splits_into_ored_rules() -> None:
    # runc: two conditions on one argument become two rules
    s = spec(
        defaultAction="SCMP_ACT_ERRNO",
        syscalls=[
            {
                "names": ["personality"],
                "action": "SCMP_ACT_ALLOW",
                "args": [
                    {"index": 0, "value": 0, "op": "SCMP_CMP_EQ"},
                    {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"},
                ],
            }
        ],
    )
    p = compiled(s)
    assert verdict(p, "personality", (0,)) == ALLOW
    assert verdict(p, "personality", (8,)) == ALLOW
    assert verdict(p, "personality", (9,)) == EPERM


def test_unconditional_rule_wins_and_default_rules_are_dropped() -> None:
    s = spec(
        defaultAction="SCMP_ACT_ERRNO",
        syscalls=[
            {
                "names": ["kill"],
                "action": "SCMP_ACT_TRAP",
                "args": [{"index": 1, "value": 9, "op": "SCMP_CMP_EQ"}],
            },
            {"names": ["kill"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["kill"], "action": "SCMP_ACT_LOG"},
            {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
            {"names": ["mkdir"], "action": "SCMP_ACT_LOG"},
        ],
    )
    p = compiled(s)
    assert verdict(p, "kill", (1, 9)) == ALLOW
    assert verdict(p, "mkdir") == b.RET_LOG  # the ERRNO(1) rule equals the default


def test_unknown_names_are_ignored_and_reported() -> None:
    s = spec(
        defaultAction="SCMP_ACT_ERRNO",
        syscalls=[{"names": ["read", "no_such_call", "chown32"], "action": "SCMP_ACT_ALLOW"}],
    )
    p = compiled(s)
    assert verdict(p, "read") == ALLOW
    assert p.unknown == ("no_such_call", "chown32")  # chown32 is i386 only, not compiled


def test_bad_architecture_is_killed() -> None:
    s = spec(defaultAction="SCMP_ACT_ALLOW", syscalls=[])
    p = compiled(s)
    assert p.architectures == ("SCMP_ARCH_X86_64",)
    assert run(p.instructions, 0, AARCH64) == b.RET_KILL_THREAD
    assert run(p.instructions, 0, I386) == b.RET_KILL_THREAD
    assert run(p.instructions, 0, X86_64) == ALLOW


def test_listed_architectures_use_their_own_numbers() -> None:
    s = spec(
        defaultAction="SCMP_ACT_ERRNO",
        architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_AARCH64"],
        syscalls=[{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ALLOW"}],
    )
    p = compiled(s)
    assert run(p.instructions, NR32["mkdir"], I386) == ALLOW
    assert run(p.instructions, NR64["mkdir"], X86_64) == ALLOW
    assert run(p.instructions, NR32["mkdir"], X86_64) != ALLOW  # 39 is getpid on x86_64
    aarch = numbers(ARCHES["SCMP_ARCH_AARCH64"])
    assert "mkdir" not in aarch
    assert run(p.instructions, aarch["mkdirat"], AARCH64) == ALLOW


def test_x32_calls_do_not_slip_through_x86_64_rules() -> None:
    s = spec(
        defaultAction="SCMP_ACT_ERRNO",
        architectures=["SCMP_ARCH_X86_64"],
        syscalls=[{"names": ["read", "mkdir"], "action": "SCMP_ACT_ALLOW"}],
    )
    p = compiled(s)
    assert run(p.instructions, NR64["mkdir"], X86_64) == ALLOW
    assert run(p.instructions, X32_BIT | NR64["mkdir"], X86_64) == b.RET_KILL_THREAD
    assert run(p.instructions, X32_BIT, X86_64) == b.RET_KILL_THREAD
    # nr -1 (a tracer skipping the call) gets the default action, as with libseccomp
    assert run(p.instructions, 0xFFFFFFFF, X86_64) == EPERM


def test_x32_listed_matches_x32_numbers() -> None:
    s = spec(
        defaultAction="SCMP_ACT_ERRNO",
        architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_X32"],
        syscalls=[{"names": ["read", "rt_sigaction"], "action": "SCMP_ACT_ALLOW"}],
    )
    p = compiled(s)
    assert NRX32["rt_sigaction"] == X32_BIT | 512  # x32 has its own numbers for some calls
    assert run(p.instructions, NRX32["rt_sigaction"], X86_64) == ALLOW
    assert run(p.instructions, X32_BIT | NR64["rt_sigaction"], X86_64) == EPERM
    assert run(p.instructions, NRX32["read"], X86_64) == ALLOW
    assert run(p.instructions, NR64["read"], X86_64) == ALLOW


def test_calls_newer_than_the_profile_get_enosys() -> None:
    s = spec(
        defaultAction="SCMP_ACT_ERRNO",
        syscalls=[
            {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["openat2"], "action": "SCMP_ACT_ERRNO"},  # dropped, still counts
        ],
    )
    p = compiled(s)
    assert run(p.instructions, NR64["openat2"], X86_64) == EPERM
    assert run(p.instructions, NR64["openat2"] + 1, X86_64) == ENOSYS
    assert run(p.instructions, 0x3FFFFFFF, X86_64) == ENOSYS
    assert run(p.instructions, NR64["write"], X86_64) == EPERM


def test_flags() -> None:
    base = {"defaultAction": "SCMP_ACT_ALLOW"}
    assert compiled(spec(**base, flags=[])).flags == 0
    assert compiled(spec(**base, flags=["SECCOMP_FILTER_FLAG_LOG"])).flags == 2
    every = [
        "SECCOMP_FILTER_FLAG_TSYNC",
        "SECCOMP_FILTER_FLAG_LOG",
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
    ]
    assert compiled(spec(**base, flags=every)).flags == 1 | 2 | 4 | 32
    notify = spec(
        **base,
        flags=["SECCOMP_FILTER_FLAG_TSYNC"],
        syscalls=[{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}],
    )
    # TSYNC with a listener needs TSYNC_ESRCH (16), or the kernel refuses
    assert compiled(notify).flags == 1 | 8 | 16


def test_program_bytes_and_listing() -> None:
    s = spec(
        defaultAction="SCMP_ACT_ERRNO", syscalls=[{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]
    )
    p = compiled(s)
    assert len(p.bytes) == 8 * len(p.instructions)
    assert p.bytes[:8] == bytes([0x20, 0, 0, 0, 4, 0, 0, 0])  # ld [4] (arch), little endian
    listing = p.disasm()
    assert listing.splitlines()[0] == "    0: ld [4]  ; arch"
    assert "jeq #0xc000003e" in listing
    assert "ret #0x7fff0000  ; ALLOW" in listing
    assert "ret #0x50001  ; ERRNO(1)" in listing
    assert "ret #0x0  ; KILL_THREAD" in listing


def test_compiled_programs_are_cached() -> None:
    doc = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}],
    }
    assert compile_filter(spec(**doc), "x86_64") is compile_filter(spec(**doc), "x86_64")
    # an explicit empty flags list is a different program (no SPEC_ALLOW)
    assert compile_filter(spec(**doc, flags=[]), "x86_64").flags == 0


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (
            {"defaultAction": "SCMP_ACT_NOPE"},
            "linux.seccomp.defaultAction: unknown action 'SCMP_ACT_NOPE'",
        ),
        (
            {"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 1},
            "linux.seccomp.defaultErrnoRet: SCMP_ACT_ALLOW takes no errno",
        ),
        (
            {"defaultAction": "SCMP_ACT_NOTIFY"},
            "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be",
        ),
        (
            {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_VAX"]},
            "linux.seccomp.architectures[0]: unknown architecture 'SCMP_ARCH_VAX'",
        ),
        (
            {"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_LOG", "BOGUS"]},
            "linux.seccomp.flags[1]: unknown flag 'BOGUS'",
        ),
        (
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["read"], "action": "KILL"}],
            },
            "linux.seccomp.syscalls[0].action: unknown action 'KILL'",
        ),
        (
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["read"], "action": "SCMP_ACT_KILL", "errnoRet": 1}],
            },
            "linux.seccomp.syscalls[0].errnoRet: SCMP_ACT_KILL takes no errno",
        ),
        (
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 70000}],
            },
            "linux.seccomp.syscalls[0].errnoRet: 70000 is not an errno",
        ),
        (
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [
                    {"names": ["read"], "action": "SCMP_ACT_LOG"},
                    {
                        "names": ["read"],
                        "action": "SCMP_ACT_ERRNO",
                        "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}],
                    },
                ],
            },
            "linux.seccomp.syscalls[1].args[0].index: 6 is not an argument index",
        ),
        (
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [
                    {
                        "names": ["read"],
                        "action": "SCMP_ACT_ERRNO",
                        "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_LIKE"}],
                    }
                ],
            },
            "linux.seccomp.syscalls[0].args[0].op: unknown operator 'SCMP_CMP_LIKE'",
        ),
        (
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["read", ""], "action": "SCMP_ACT_LOG"}],
            },
            "linux.seccomp.syscalls[0].names[1]: empty system call name",
        ),
        (
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["write"], "action": "SCMP_ACT_NOTIFY"}],
            },
            "linux.seccomp.syscalls[0]: SCMP_ACT_NOTIFY cannot be used for write",
        ),
    ],
)
def test_bad_input_names_the_field(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        compile_filter(spec(**doc), "x86_64")
    assert str(e.value).startswith(message), str(e.value)


def test_unknown_native_architecture() -> None:
    with pytest.raises(InvalidArgument, match="native_arch: unknown architecture 'pdp11'"):
        compile_filter(spec(defaultAction="SCMP_ACT_ALLOW"), "pdp11")


def test_too_long_a_program_is_refused() -> None:
    args = [{"index": i, "value": 2**40 + i, "op": "SCMP_CMP_GE"} for i in range(6)]
    calls = [
        {"names": ["ioctl"], "action": "SCMP_ACT_ERRNO", "errnoRet": n + 1, "args": args}
        for n in range(150)
    ]
    with pytest.raises(InvalidArgument, match="more than the kernel's limit of 4096"):
        compile_filter(spec(defaultAction="SCMP_ACT_ALLOW", syscalls=calls), "x86_64")


def test_long_programs_use_jump_chains() -> None:
    """~400 syscalls, alternating verdicts, arg rules: every distance over 255 is chained."""
    names = sorted(NR64, key=NR64.get)  # type: ignore[arg-type]
    calls: list[dict[str, Any]] = []
    for i, name in enumerate(names):
        action = ["SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_TRAP"][i % 3]
        calls.append({"names": [name], "action": action})
    for i, name in enumerate(("ioctl", "fcntl", "prctl", "socket", "personality", "mmap")):
        calls.insert(
            0,
            {
                "names": [name],
                "action": "SCMP_ACT_ERRNO",
                "errnoRet": 10 + i,
                "args": [
                    {"index": j, "value": (j + 1) << 33 | i, "op": op}
                    for j, op in enumerate(
                        ("SCMP_CMP_GE", "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE")
                    )
                ],
            },
        )
        calls.append(
            {
                "names": [name],
                "action": "SCMP_ACT_KILL_PROCESS",
                "args": [{"index": 5, "value": 7, "op": "SCMP_CMP_EQ"}],
            }
        )
    s = spec(
        defaultAction="SCMP_ACT_ERRNO",
        architectures=["SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        syscalls=calls,
    )
    p = compiled(s)
    assert len(NR64) > 370
    far = [i for i in p.instructions if i[0] == b.JA and i[3] > 255]
    assert far, "expected long jumps in a program this size"
    assert 800 < len(p) <= 4096
    probes = [
        (3 << 33, 0, 0, 0, 0, 7),
        (1 << 33, 2 << 33, 0, 0, 0, 0),
        (0, 0, 0, 0, 0, 0),
        (5 << 33, 1, 1, 1, 0, 7),
    ]
    for arch, table in ((X86_64, NR64), (I386, NR32), (X86_64, NRX32)):
        for nr in sorted(set(table.values())):
            for args in probes:
                got = run(p.instructions, nr, arch, args)
                assert got == reference(s, "x86_64", arch, nr, args), (arch, nr, args)
