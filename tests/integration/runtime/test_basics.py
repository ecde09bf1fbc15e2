"""berth-runtime run: what the process inside sees (real kernel, root)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from support.fixtures_runtime import RuntimeHandle


def test_echo_and_exit_status(runtime: RuntimeHandle) -> None:
    r = runtime.container(["sh", "-c", "echo hello from $(hostname); exit 3"], hostname="box")
    assert r.stdout == "hello from box\n"
    assert r.returncode == 3
    assert runtime.ids() == []  # run deletes the container


def test_killed_by_signal_is_128_plus_n(runtime: RuntimeHandle) -> None:
    # pid 1 of a pid namespace ignores signals from inside it: kill it from outside.
    b = runtime.bundle(["sleep", "30"])
    proc = subprocess.Popen(runtime.cmd("run", "--bundle", str(b.path), b.path.name))
    try:
        wait_for_status(runtime, b.path.name, "running")
        assert runtime.run("kill", b.path.name, "KILL").returncode == 0
        assert proc.wait(timeout=10) == 137
    finally:
        proc.kill()
        proc.wait()


def wait_for_status(runtime: RuntimeHandle, cid: str, status: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = runtime.run("state", cid)
        if r.returncode == 0 and json.loads(r.stdout)["status"] == status:
            return
        time.sleep(0.02)
    raise AssertionError(f"{cid} did not become {status}")


def test_pid_1_sees_only_its_own_processes(runtime: RuntimeHandle) -> None:
    r = runtime.container(["sh", "-c", "ps -o pid,comm; true"])
    lines = r.stdout.split("\n")[1:-1]
    pids = sorted(int(line.split()[0]) for line in lines)
    assert pids[0] == 1
    assert len(pids) <= 3  # sh, ps (and busybox's applet fork at most)
    assert r.stdout.split("\n")[1].split()[1] == "sh"


def test_namespaces_differ_from_the_host(runtime: RuntimeHandle) -> None:
    kinds = ["pid", "net", "ipc", "uts", "mnt", "cgroup"]
    r = runtime.container(["sh", "-c", " ".join(f"readlink /proc/self/ns/{k};" for k in kinds)])
    inside = r.stdout.split()
    assert len(inside) == len(kinds)
    for kind, link in zip(kinds, inside, strict=True):
        assert link != os.readlink(f"/proc/self/ns/{kind}"), kind
    assert socket.gethostname() != "berth"


def test_env_cwd_user_umask(runtime: RuntimeHandle) -> None:
    r = runtime.container(
        ["sh", "-c", "echo $GREETING; pwd; id; umask; echo $HOME"],
        process={
            "env": ["PATH=/bin:/usr/bin", "GREETING=hi there"],
            "cwd": "/work/deep",
            "user": {"uid": 1000, "gid": 1000, "additionalGids": [10, 20], "umask": 0o027},
        },
    )
    lines = r.stdout.splitlines()
    assert lines[0] == "hi there"
    assert lines[1] == "/work/deep"  # created when missing
    assert lines[2].startswith("uid=1000 gid=1000 groups=")
    assert "10" in lines[2] and "20" in lines[2]
    assert lines[3] == "0027"
    assert lines[4] == "/"  # no passwd entry for 1000: HOME defaults to /


def test_home_from_passwd(runtime: RuntimeHandle) -> None:
    r = runtime.container(["sh", "-c", "echo $HOME"], process={"env": ["PATH=/bin"]})
    assert r.stdout == "/root\n"


def status_field(text: str, name: str) -> str:
    for line in text.splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"{name} not in /proc/self/status")


def test_capabilities_all_five_sets(runtime: RuntimeHandle) -> None:
    caps = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    r = runtime.container(
        ["cat", "/proc/self/status"],
        process={
            "capabilities": {
                "bounding": [*caps, "CAP_SYS_ADMIN"],
                "effective": caps,
                "permitted": caps,
                "inheritable": ["CAP_KILL"],
                "ambient": ["CAP_KILL"],
            }
        },
    )
    want = (1 << 0) | (1 << 5) | (1 << 10)
    assert int(status_field(r.stdout, "CapEff"), 16) == want
    assert int(status_field(r.stdout, "CapPrm"), 16) == want
    assert int(status_field(r.stdout, "CapBnd"), 16) == want | (1 << 21)
    assert int(status_field(r.stdout, "CapAmb"), 16) == 1 << 5


def test_non_root_user_keeps_configured_caps(runtime: RuntimeHandle) -> None:
    caps = ["CAP_NET_BIND_SERVICE"]
    r = runtime.container(
        ["cat", "/proc/self/status"],
        process={
            "user": {"uid": 1000, "gid": 1000},
            "capabilities": {
                "bounding": caps,
                "effective": caps,
                "permitted": caps,
                "inheritable": caps,
                "ambient": caps,
            },
        },
    )
    assert int(status_field(r.stdout, "CapEff"), 16) == 1 << 10
    assert status_field(r.stdout, "Uid").split()[0] == "1000"


def test_no_new_privileges_and_rlimits(runtime: RuntimeHandle) -> None:
    r = runtime.container(
        ["sh", "-c", "cat /proc/self/status; ulimit -n; ulimit -u"],
        process={
            "noNewPrivileges": True,
            "rlimits": [
                {"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1024},
                {"type": "RLIMIT_NPROC", "soft": 77, "hard": 77},
            ],
        },
    )
    assert status_field(r.stdout, "NoNewPrivs") == "1"
    assert r.stdout.splitlines()[-2:] == ["512", "77"]


def test_rlimit_above_the_hard_limit_is_a_clear_error(runtime: RuntimeHandle) -> None:
    r = runtime.container(
        ["true"], process={"rlimits": [{"type": "RLIMIT_NOFILE", "soft": 10**7, "hard": 10**7}]}
    )
    assert r.returncode == 1
    assert "setrlimit RLIMIT_NOFILE" in r.stderr
    assert "CAP_SYS_RESOURCE" in r.stderr


def test_oom_score_adj(runtime: RuntimeHandle) -> None:
    r = runtime.container(["cat", "/proc/self/oom_score_adj"], process={"oomScoreAdj": 500})
    assert r.stdout == "500\n"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["nonexistent"], 1, 'exec: "nonexistent": executable file not found in $PATH'),
        (["/etc/passwd"], 1, 'exec: "/etc/passwd": permission denied'),
    ],
)
def test_program_errors_use_docker_wording(
    runtime: RuntimeHandle, args: list[str], code: int, message: str
) -> None:
    r = runtime.container(args)
    assert r.returncode == code
    assert message.replace('"', '\\"') in r.stderr  # runc's logfmt escapes quotes
    assert runtime.ids() == []


def test_signal_dispositions_start_at_default(runtime: RuntimeHandle) -> None:
    # The runtime is a Python process that ignores SIGPIPE and SIGXFSZ; a container's
    # program must not inherit that (ignored signals survive execve).
    r = runtime.container(["cat", "/proc/self/status"])
    assert int(status_field(r.stdout, "SigIgn"), 16) == 0
    assert int(status_field(r.stdout, "SigBlk"), 16) == 0


def test_seccomp_from_the_spec(runtime: RuntimeHandle) -> None:
    seccomp = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 28},
            {
                "names": ["personality"],
                "action": "SCMP_ACT_ERRNO",
                "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}],
            },
        ],
    }
    r = runtime.container(
        ["sh", "-c", "mkdir /tmp/x; grep Seccomp: /proc/self/status; echo done"],
        linux={"seccomp": seccomp},
    )
    assert "No space left on device" in r.stderr  # errnoRet 28 = ENOSPC
    assert "Seccomp:\t2" in r.stdout and "done" in r.stdout


def test_domainname(runtime: RuntimeHandle) -> None:
    r = runtime.container(["cat", "/proc/sys/kernel/domainname"], domainname="example.org")
    assert r.stdout == "example.org\n"


def test_json_error_log_for_conmon(runtime: RuntimeHandle, tmp_path: Path) -> None:
    log = tmp_path / "runtime.log"
    b = runtime.bundle(["nonexistent"])
    r = runtime.run("--log", str(log), "--log-format", "json", "run", "-b", str(b.path), "x1")
    assert r.returncode == 1
    entry = json.loads(log.read_text().splitlines()[-1])
    assert entry["level"] == "error"
    assert 'exec: "nonexistent": executable file not found in $PATH' in entry["msg"]
    assert entry["time"].endswith("Z")
