"""berth's default profile and the Docker profile converter."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import pytest

from berth.errors import InvalidArgument
from berth.oci.runtime_spec import Seccomp
from berth.seccomp import bpf as b
from berth.seccomp import compile_filter, compiler, default_profile, docker_profile_to_oci, features
from berth.seccomp.arch import ARCHES, lookup, numbers
from support.seccomp_eval import check, run

DOCKER_CAPS = {
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}  # fmt: skip
X86_64 = ARCHES["SCMP_ARCH_X86_64"].audit
I386 = ARCHES["SCMP_ARCH_X86"].audit
NR = numbers(ARCHES["SCMP_ARCH_X86_64"])
NR32 = numbers(ARCHES["SCMP_ARCH_X86"])
NRX32 = numbers(ARCHES["SCMP_ARCH_X32"])
ALLOW, EPERM, ENOSYS = b.RET_ALLOW, b.RET_ERRNO | 1, b.RET_ERRNO | 38
CLONE_NEWUSER = 0x10000000
SIGCHLD = 17


def program(caps: set[str], kernel: tuple[int, int] = (6, 18)) -> tuple[Any, ...]:
    spec = default_profile(caps, "x86_64", kernel=kernel)
    p = compile_filter(spec, "x86_64")
    check(p.instructions)
    return p.instructions


def call(insns: tuple[Any, ...], name: str, *args: int) -> int:
    return run(insns, NR[name], X86_64, args)


def test_default_profile_shape() -> None:
    spec = default_profile(DOCKER_CAPS, "x86_64", kernel=(6, 18))
    assert isinstance(spec, Seccomp)
    assert spec.default_action == "SCMP_ACT_ERRNO"
    assert spec.default_errno_ret == 1
    assert spec.architectures == ("SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32")
    names = {n for c in spec.syscalls for n in c.names}
    assert {"read", "execve", "clone", "clone3", "personality", "socket", "chroot"} <= names
    assert not {"mount", "unshare", "setns", "bpf", "keyctl", "add_key", "kexec_load"} & names
    assert default_profile(DOCKER_CAPS, "x86_64", kernel=(6, 18)) is spec  # cached


def test_default_profile_without_sys_admin() -> None:
    p = program(DOCKER_CAPS)
    assert len(p) <= 4096
    for name in (
        "keyctl", "add_key", "request_key", "kexec_load", "kexec_file_load", "mount",
        "umount2", "unshare", "setns", "bpf", "perf_event_open", "userfaultfd", "reboot",
        "init_module", "open_by_handle_at", "io_uring_setup", "settimeofday", "acct",
        "iopl", "syslog", "swapon", "pivot_root", "fsopen", "quotactl",
    ):  # fmt: skip
        assert call(p, name) == EPERM, name
    for name in ("read", "openat", "execve", "fork", "chroot", "arch_prctl", "ptrace", "pipe2"):
        assert call(p, name) == ALLOW, name
    assert call(p, "clone", SIGCHLD) == ALLOW
    assert call(p, "clone", SIGCHLD | CLONE_NEWUSER) == EPERM
    assert call(p, "clone3") == ENOSYS
    assert call(p, "personality", 0) == ALLOW
    assert call(p, "personality", 0xFFFFFFFF) == ALLOW
    assert call(p, "personality", 1) == EPERM
    assert call(p, "socket", 2) == ALLOW  # AF_INET
    assert call(p, "socket", 38) == EPERM  # AF_ALG
    assert call(p, "socket", 40) == EPERM  # AF_VSOCK
    assert call(p, "socket", 39) == ALLOW
    assert run(p, 470, X86_64) == ENOSYS  # listns: newer than the profile
    assert run(p, NR32["socketcall"], I386) == ALLOW
    assert run(p, NR32["keyctl"], I386) == EPERM
    assert run(p, NRX32["read"], X86_64) == ALLOW
    assert run(p, NRX32["keyctl"], X86_64) == EPERM
    assert run(p, 0, ARCHES["SCMP_ARCH_AARCH64"].audit) == b.RET_KILL_THREAD


def test_default_profile_with_capabilities() -> None:
    p = program(DOCKER_CAPS | {"CAP_SYS_ADMIN"})
    assert call(p, "mount") == ALLOW
    assert call(p, "unshare", CLONE_NEWUSER) == ALLOW
    assert call(p, "clone", SIGCHLD | CLONE_NEWUSER) == ALLOW
    assert call(p, "clone3") == ALLOW
    assert call(p, "keyctl") == EPERM
    p = program({"sys_time", "SYS_MODULE", "CAP_SYS_BOOT", "CAP_PERFMON", "CAP_DAC_READ_SEARCH"})
    for name in ("settimeofday", "clock_settime", "init_module", "reboot", "perf_event_open"):
        assert call(p, name) == ALLOW, name
    assert call(p, "open_by_handle_at") == ALLOW
    assert call(p, "chroot") == EPERM
    assert call(p, "bpf") == EPERM


def test_ptrace_needs_kernel_4_8() -> None:
    assert call(program(DOCKER_CAPS, (4, 7)), "ptrace") == EPERM
    assert call(program(DOCKER_CAPS, (4, 8)), "ptrace") == ALLOW


def test_default_profile_on_aarch64() -> None:
    spec = default_profile(DOCKER_CAPS, "arm64", kernel=(6, 1))
    assert spec.architectures == ("SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM")
    p = compile_filter(spec, "aarch64")
    check(p.instructions)
    arm = numbers(ARCHES["SCMP_ARCH_ARM"])
    a64 = numbers(ARCHES["SCMP_ARCH_AARCH64"])
    assert run(p.instructions, arm["set_tls"], ARCHES["SCMP_ARCH_ARM"].audit) == ALLOW
    assert run(p.instructions, a64["mkdirat"], ARCHES["SCMP_ARCH_AARCH64"].audit) == ALLOW
    assert run(p.instructions, a64["keyctl"], ARCHES["SCMP_ARCH_AARCH64"].audit) == EPERM
    assert run(p.instructions, 0, X86_64) == b.RET_KILL_THREAD
    assert "arch_prctl" not in {n for c in spec.syscalls for n in c.names}


def test_default_profile_compile_time() -> None:
    spec = default_profile(DOCKER_CAPS, "x86_64", kernel=(6, 18))
    compiler._compile(spec, lookup("x86_64"))  # tables loaded
    rounds = 20
    start = time.perf_counter()
    for _ in range(rounds):
        p = compiler._compile(spec, lookup("x86_64"))
    each = (time.perf_counter() - start) / rounds * 1000
    print(f"\ndefault profile: {len(p)} instructions, compiled in {each:.2f} ms (uncached)")
    assert len(p) <= 4096


def test_imports_stay_light() -> None:
    code = (
        "import sys; from berth.seccomp import compile_filter, default_profile; "
        "compile_filter(default_profile(['CAP_CHOWN'])); "
        "heavy = {'re', 'enum', 'dataclasses', 'typing', 'json', 'subprocess', 'logging', "
        "'importlib', 'argparse', 'socket', 'asyncio'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_features() -> None:
    doc = features((6, 1))
    assert doc["enabled"] is True
    assert "SCMP_ACT_NOTIFY" in doc["actions"]  # type: ignore[operator]
    assert "SCMP_CMP_MASKED_EQ" in doc["operators"]  # type: ignore[operator]
    assert "SCMP_ARCH_X32" in doc["archs"]  # type: ignore[operator]
    assert doc["supportedFlags"] == doc["knownFlags"]
    old = features((5, 4))
    assert "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" not in old["supportedFlags"]  # type: ignore[operator]


# -- docker_profile_to_oci -----------------------------------------------------------------


def convert(doc: Any, caps: set[str] | None = None, arch: str = "amd64") -> Seccomp | None:
    return docker_profile_to_oci(doc, caps or set(), arch, kernel=(5, 10))


def names(spec: Seccomp | None) -> list[str]:
    assert spec is not None
    return [n for c in spec.syscalls for n in c.names]


def test_convert_text_and_filters() -> None:
    text = """{
      "defaultAction": "SCMP_ACT_ERRNO",
      "archMap": [
        {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]},
        {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}
      ],
      "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_ALLOW", "comment": "always"},
        {"name": "write", "action": "SCMP_ACT_ALLOW"},
        {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["both"], "action": "SCMP_ACT_ALLOW",
         "includes": {"caps": ["CAP_SYS_ADMIN", "CAP_NET_ADMIN"]}},
        {"names": ["notadmin"], "action": "SCMP_ACT_ALLOW",
         "excludes": {"caps": ["CAP_SYS_ADMIN", "CAP_BPF"]}},
        {"names": ["x86only"], "action": "SCMP_ACT_ALLOW",
         "includes": {"arches": ["amd64", "x32"]}},
        {"names": ["notx86"], "action": "SCMP_ACT_ALLOW", "excludes": {"arches": ["amd64"]}},
        {"names": ["new"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "5.11"}},
        {"names": ["old"], "action": "SCMP_ACT_ALLOW", "excludes": {"minKernel": "5.10"}},
        {"names": ["recent"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.19"}}
      ]
    }"""
    plain = convert(text)
    assert plain is not None
    assert plain.architectures == ("SCMP_ARCH_X86_64", "SCMP_ARCH_X86")
    assert names(plain) == ["read", "write", "notadmin", "x86only", "recent"]
    assert plain.syscalls[0].to_json() == {"names": ["read"], "action": "SCMP_ACT_ALLOW"}
    assert names(convert(text, {"SYS_ADMIN"})) == ["read", "write", "mount", "x86only", "recent"]
    admin_net = convert(text, {"CAP_SYS_ADMIN", "CAP_NET_ADMIN"})
    assert "both" in names(admin_net)
    arm = convert(text, arch="arm64")
    assert arm is not None and arm.architectures == ("SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM")
    assert "notx86" in names(arm) and "x86only" not in names(arm)


def test_convert_keeps_oci_fields() -> None:
    doc = {
        "defaultAction": "SCMP_ACT_LOG",
        "architectures": ["SCMP_ARCH_X86_64"],
        "flags": ["SECCOMP_FILTER_FLAG_LOG"],
        "listenerPath": "/run/agent.sock",
        "syscalls": [
            {
                "names": ["personality"],
                "action": "SCMP_ACT_ERRNO",
                "errnoRet": 22,
                "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}],
            }
        ],
    }
    spec = convert(doc)
    assert spec is not None
    assert spec.architectures == ("SCMP_ARCH_X86_64",)
    assert spec.flags == ("SECCOMP_FILTER_FLAG_LOG",)
    assert spec.listener_path == "/run/agent.sock"
    assert spec.syscalls[0].args[0].value == 8
    assert spec.syscalls[0].errno_ret == 22


def test_convert_empty_profile_means_no_seccomp() -> None:
    assert convert({}) is None
    assert convert("{}") is None


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ("[]", "seccomp profile: expected a JSON object"),
        (
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "architectures": ["SCMP_ARCH_X86"],
                "archMap": [{}],
            },
            "seccomp profile: both 'architectures' and 'archMap' are given",
        ),
        (
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"name": "a", "names": ["b"], "action": "x"}],
            },
            "seccomp profile.syscalls[0]: both 'name' and 'names' are given",
        ),
        (
            {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"], "action": 3}]},
            "seccomp profile.syscalls[0].action: expected a string",
        ),
        (
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["a"], "action": "x", "includes": {"minKernel": "4"}}],
            },
            "seccomp profile.syscalls[0].includes.minKernel: invalid kernel version '4'",
        ),
        (
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["a"], "action": "x", "excludes": {"caps": "CAP_X"}}],
            },
            "seccomp profile.syscalls[0].excludes.caps: expected an array of strings",
        ),
        ({"defaultAction": 1}, "seccomp profile.defaultAction: expected a string"),
    ],
)
def test_convert_errors(doc: Any, message: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        convert(doc)
    assert str(e.value).startswith(message), str(e.value)


def test_convert_rejects_unknown_arch() -> None:
    with pytest.raises(InvalidArgument, match="arch: unknown architecture 'vax'"):
        docker_profile_to_oci({"defaultAction": "SCMP_ACT_ALLOW"}, set(), "vax")
