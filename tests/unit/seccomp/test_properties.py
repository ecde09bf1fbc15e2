"""For random specs and calls, the compiled program agrees with the reference."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from berth.oci.runtime_spec import Seccomp
from berth.seccomp import compile_filter
from berth.seccomp.arch import ARCHES, X32_SYSCALL_BIT, numbers
from support.seccomp_eval import check, reference, run

# names that exist everywhere, on some ABIs only, and nowhere
NAMES = [
    "read", "write", "openat", "close", "mkdir", "mkdirat", "ioctl", "personality",
    "socket", "clone", "clone3", "chown32", "rt_sigaction", "arch_prctl", "set_tls",
    "listns", "io_uring_setup", "no_such_call",
]  # fmt: skip
ACTIONS = [
    "SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_TRAP", "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_NOTIFY",
]  # fmt: skip
OPS = ["SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE",
       "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"]  # fmt: skip
ARCH_NAMES = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64",
              "SCMP_ARCH_ARM", "SCMP_ARCH_RISCV64"]  # fmt: skip
M64 = 2**64 - 1

values = st.one_of(
    st.sampled_from([0, 1, 2, 8, 0xFFFFFFFF, 1 << 32, (1 << 32) + 1, 1 << 63, M64]),
    st.integers(0, 0xFFFF),
    st.integers(0, M64),
)


@st.composite
def args(draw: st.DrawFn) -> dict[str, Any]:
    op = draw(st.sampled_from(OPS))
    out = {"index": draw(st.integers(0, 5)), "value": draw(values), "op": op}
    if op == "SCMP_CMP_MASKED_EQ":
        out["valueTwo"] = draw(st.one_of(values, st.just(out["value"] & 0xF0F0F0F0F0F0F0F0)))
    return out


@st.composite
def calls(draw: st.DrawFn) -> dict[str, Any]:
    action = draw(st.sampled_from(ACTIONS))
    out: dict[str, Any] = {
        "names": draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=3)),
        "action": action,
    }
    if action in ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE") and draw(st.booleans()):
        out["errnoRet"] = draw(st.sampled_from([1, 2, 13, 38, 4095]))
    if draw(st.integers(0, 2)):
        out["args"] = draw(st.lists(args(), max_size=4))
    return out


@st.composite
def specs(draw: st.DrawFn) -> Seccomp:
    default = draw(st.sampled_from([a for a in ACTIONS if a != "SCMP_ACT_NOTIFY"]))
    doc: dict[str, Any] = {"defaultAction": default}
    if default in ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE") and draw(st.booleans()):
        doc["defaultErrnoRet"] = draw(st.sampled_from([1, 38]))
    doc["architectures"] = draw(st.lists(st.sampled_from(ARCH_NAMES), max_size=3, unique=True))
    syscalls = draw(st.lists(calls(), max_size=8))
    doc["syscalls"] = [
        c for c in syscalls if not (c["action"] == "SCMP_ACT_NOTIFY" and "write" in c["names"])
    ]
    return Seccomp.from_json(doc)


def probes(spec: Seccomp, native: str) -> list[tuple[int, int, tuple[int, ...]]]:
    """Calls worth asking about: every named number on every ABI, +-1, x32 twins, edges."""
    audits = {ARCHES[n].audit for n in ARCH_NAMES} | {0x4000_0099}
    datums = {0, M64}
    for call in spec.syscalls:
        for a in call.args:
            for d in (a.value, a.value_two):
                datums.update({d, (d + 1) & M64, (d - 1) & M64, d ^ (1 << 32), d & 0xFFFFFFFF})
    ordered = sorted(datums)
    arg_sets = [
        tuple(ordered[(i + j) % len(ordered)] for j in range(6)) for i in range(len(ordered))
    ]
    out = []
    for arch_name in ARCH_NAMES:
        a = ARCHES[arch_name]
        table = numbers(a)
        nrs = {0, 1, 0xFFFFFFFF, X32_SYSCALL_BIT, X32_SYSCALL_BIT - 1, 999}
        for call in spec.syscalls:
            for name in call.names:
                if name in table:
                    n = table[name]
                    nrs.update({n, n + 1, n - 1, n ^ X32_SYSCALL_BIT})
        for nr in nrs:
            for args_ in arg_sets:
                out.append((a.audit, nr & 0xFFFFFFFF, args_))
    for audit in audits:
        out.append((audit, 0, (0,) * 6))
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs(), st.sampled_from(["x86_64", "aarch64"]))
def test_program_agrees_with_reference(spec: Seccomp, native: str) -> None:
    program = compile_filter(spec, native)
    check(program.instructions)
    for audit, nr, call_args in probes(spec, native):
        got = run(program.instructions, nr, audit, call_args)
        want = reference(spec, native, audit, nr, call_args)
        assert got == want, f"arch={audit:#x} nr={nr:#x} args={call_args}\n{program.disasm()}"
