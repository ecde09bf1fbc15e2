"""Compiled filters on the real kernel: each case loads one in a forked child."""

from __future__ import annotations

import errno
import os
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from berth.errors import KernelError
from berth.kernel import consts as c
from berth.kernel.seccomp import load, notify_id_valid, notify_receive, notify_respond
from berth.kernel.syscalls import SYSCALLS as k
from berth.oci.runtime_spec import Seccomp
from berth.seccomp import compile_filter, default_profile
from berth.seccomp.arch import native, numbers
from support.seccomp_child import in_child, raw
from support.seccomp_eval import reference

NATIVE = native()
NR = numbers(NATIVE)
pytestmark = pytest.mark.skipif(NATIVE.name != "SCMP_ARCH_X86_64", reason="x86_64 numbers")


def spec(**doc: Any) -> Seccomp:
    return Seccomp.from_json(doc)


def test_errno_ret_is_what_the_child_sees(tmp_path: Path) -> None:
    target = tmp_path / "made"
    program = compile_filter(
        spec(
            defaultAction="SCMP_ACT_ALLOW",
            syscalls=[{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 28}],
        )
    )

    def child() -> object:
        assert load(program) is None
        try:
            os.mkdir(target)
        except OSError as e:
            python = e.errno
        return [python, raw(NR["mkdir"], 0, 0o755), raw(NR["getpid"]) == os.getpid()]

    assert in_child(child).value == [errno.ENOSPC, -errno.ENOSPC, True]
    assert not target.exists()


def test_argument_filter_personality() -> None:
    program = compile_filter(
        spec(
            defaultAction="SCMP_ACT_ALLOW",
            syscalls=[
                {
                    "names": ["personality"],
                    "action": "SCMP_ACT_ERRNO",
                    "errnoRet": errno.EACCES,
                    "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_NE"}],
                }
            ],
        )
    )

    def child() -> object:
        load(program)
        return [raw(NR["personality"], 0), raw(NR["personality"], 8)]

    assert in_child(child).value == [0, -errno.EACCES]


def test_64_bit_comparisons_agree_with_the_reference() -> None:
    """Calls that ignore their arguments, one per operator, probed around 64-bit values."""
    big = 0x1_0000_0007
    calls = ["getpid", "getppid", "getuid", "geteuid", "getgid", "getegid", "gettid"]
    ops = ["SCMP_CMP_EQ", "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_GE",
           "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"]  # fmt: skip
    rules = []
    for i, (name, op) in enumerate(zip(calls, ops, strict=True)):
        arg: dict[str, Any] = {"index": i % 6, "value": big, "op": op}
        if op == "SCMP_CMP_MASKED_EQ":
            arg.update(value=0xFFFF_0000_0000_00FF, valueTwo=0x0001_0000_0000_0007)
        rules.append(
            {"names": [name], "action": "SCMP_ACT_ERRNO", "errnoRet": 20 + i, "args": [arg]}
        )
    s = spec(defaultAction="SCMP_ACT_ALLOW", syscalls=rules)
    program = compile_filter(s)
    values = [0, 7, 6, 8, big - 1, big, big + 1, 7 | 1 << 33, 0xFFFFFFFF, 1 << 32, 2**64 - 1,
              0x0001_ABCD_0000_0007, 0x0001_0000_0000_0107]  # fmt: skip
    probes = [(name, (v,) * 6) for name in calls for v in values]

    def child() -> object:
        load(program)
        return [min(raw(NR[name], *args), 0) for name, args in probes]

    got = in_child(child).value
    want = []
    for name, args in probes:
        verdict = reference(s, NATIVE.name, NATIVE.audit, NR[name], args)
        want.append(-(verdict & 0xFFFF) if verdict >> 16 == 0x5 else 0)
    assert got == want
    assert any(want) and not all(want)


@pytest.mark.parametrize("action", ["SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL", "SCMP_ACT_TRAP"])
def test_kill_and_trap_end_the_child_with_sigsys(action: str) -> None:
    program = compile_filter(
        spec(defaultAction="SCMP_ACT_ALLOW", syscalls=[{"names": ["getppid"], "action": action}])
    )

    def child() -> object:
        load(program)
        raw(NR["getppid"])
        return "survived"

    out = in_child(child)
    assert out.signal == signal.SIGSYS and out.text == "", out


def test_trap_delivers_sigsys_to_a_handler() -> None:
    program = compile_filter(
        spec(
            defaultAction="SCMP_ACT_ALLOW",
            syscalls=[{"names": ["getppid"], "action": "SCMP_ACT_TRAP"}],
        )
    )

    def child() -> object:
        seen: list[int] = []
        signal.signal(signal.SIGSYS, lambda signum, frame: seen.append(signum))
        load(program)
        raw(NR["getppid"])  # not run; its result is whatever the register held
        return seen

    assert in_child(child).value == [signal.SIGSYS]


def test_kill_thread_kills_only_the_thread_kill_process_the_process() -> None:
    def run(action: str) -> Any:
        program = compile_filter(
            spec(
                defaultAction="SCMP_ACT_ALLOW", syscalls=[{"names": ["getppid"], "action": action}]
            )
        )

        def child() -> object:
            load(program)
            threading.Thread(target=lambda: raw(NR["getppid"]), daemon=True).start()
            deadline = time.monotonic() + 5
            while len(os.listdir("/proc/self/task")) > 1 and time.monotonic() < deadline:
                time.sleep(0.01)
            return len(os.listdir("/proc/self/task"))

        return in_child(child)

    assert run("SCMP_ACT_KILL_THREAD").value == 1
    assert run("SCMP_ACT_KILL_PROCESS").signal == signal.SIGSYS


def test_log_and_allow_let_the_call_run() -> None:
    program = compile_filter(
        spec(
            defaultAction="SCMP_ACT_ERRNO",
            flags=["SECCOMP_FILTER_FLAG_LOG"],
            syscalls=[
                {"names": ["getppid"], "action": "SCMP_ACT_LOG"},
                {"names": ["getpid", "write", "exit_group", "close"], "action": "SCMP_ACT_ALLOW"},
            ],
        )
    )
    parent = os.getpid()

    def child() -> object:
        load(program)
        return [raw(NR["getppid"]), raw(NR["getpid"]) > 0, raw(NR["getuid"])]

    assert in_child(child).value == [parent, True, -errno.EPERM]


def test_tsync_applies_the_filter_to_every_thread() -> None:
    def run(flags: list[str]) -> object:
        program = compile_filter(
            spec(
                defaultAction="SCMP_ACT_ALLOW",
                flags=flags,
                syscalls=[{"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 77}],
            )
        )

        def child() -> object:
            go = threading.Event()
            seen: list[int] = []

            def worker() -> None:
                go.wait()
                seen.append(raw(NR["getppid"]))

            t = threading.Thread(target=worker)
            t.start()
            load(program)
            go.set()
            t.join()
            return [seen[0] < 0 and -seen[0], raw(NR["getppid"])]

        return in_child(child).value

    assert run(["SECCOMP_FILTER_FLAG_TSYNC"]) == [77, -77]
    assert run([]) == [False, -77]  # without TSYNC the other thread keeps no filter


def test_notify_gives_a_listener_that_receives_the_call() -> None:
    program = compile_filter(
        spec(
            defaultAction="SCMP_ACT_ALLOW",
            syscalls=[{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}],
        )
    )
    assert program.needs_listener
    parent = os.getpid()

    def child() -> object:
        fd = load(program)
        assert fd is not None and fd >= 0
        results: list[object] = []
        answers = [{"val": 4242}, {"error": errno.EPERM}, {"allow": True}]
        for answer in answers:
            got: list[int] = []
            t = threading.Thread(target=lambda got=got: got.append(raw(NR["getppid"])))
            t.start()
            note = notify_receive(fd)
            valid = notify_id_valid(fd, note.id)
            notify_respond(fd, note.id, **answer)  # type: ignore[arg-type]
            t.join()
            results.append([note.nr == NR["getppid"], note.arch == NATIVE.audit, valid, got[0]])
        os.close(fd)
        return results

    assert in_child(child).value == [
        [True, True, True, 4242],
        [True, True, True, -errno.EPERM],
        [True, True, True, parent],
    ]


def test_tsync_with_a_listener_loads() -> None:
    program = compile_filter(
        spec(
            defaultAction="SCMP_ACT_ALLOW",
            flags=["SECCOMP_FILTER_FLAG_TSYNC"],
            syscalls=[{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}],
        )
    )

    def child() -> object:
        threading.Thread(target=time.sleep, args=(0.2,)).start()
        fd = load(program)
        assert fd is not None
        os.close(fd)
        return len(os.listdir("/proc/self/task"))

    assert in_child(child).value == 2


def test_load_without_privilege_or_no_new_privs_fails_clearly() -> None:
    program = compile_filter(spec(defaultAction="SCMP_ACT_ALLOW"))

    def child() -> object:
        k.capset(0, 0, 0)  # no CAP_SYS_ADMIN, no no_new_privs
        try:
            load(program)
        except KernelError as e:
            return [e.errno, str(e)]
        return "loaded"

    code, message = in_child(child).value  # type: ignore[misc]
    assert code == errno.EACCES
    assert "set no_new_privs first" in message


DOCKER_CAPS = ["CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID",
               "SETUID", "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL",
               "AUDIT_WRITE"]  # fmt: skip


def test_default_profile_in_a_docker_like_process(tmp_path: Path) -> None:
    program = compile_filter(default_profile(DOCKER_CAPS))
    mask = sum(1 << c.CAPABILITIES["CAP_" + name] for name in DOCKER_CAPS)
    top = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    work = tmp_path / "work"
    work.mkdir()
    clone_newuser_fs = c.CLONE_NEWUSER | 0x200  # CLONE_FS: the kernel alone says EINVAL

    def child() -> object:
        # a private mount namespace, so that a mount seccomp failed to stop stays here
        k.unshare(c.CLONE_NEWNS)
        k.mount(None, "/", None, c.MS_REC | c.MS_PRIVATE)
        for cap in range(top + 1):
            if not mask >> cap & 1:
                k.cap_bound_drop(cap)
        k.capset(mask, mask, 0)
        k.set_no_new_privs()
        load(program)
        out: dict[str, object] = {}
        out["status"] = [
            line.split()[1] for line in open("/proc/self/status") if line.startswith("Seccomp:")
        ]
        out["keyctl"] = raw(NR["keyctl"], 0, 2**64 - 3, 0)  # KEY_SPEC_SESSION_KEYRING
        out["unshare_user"] = raw(NR["unshare"], c.CLONE_NEWUSER)
        out["mount"] = raw(NR["mount"], 0, 0, 0, 0, 0)
        out["clone_ns"] = raw(NR["clone"], clone_newuser_fs, 0, 0, 0, 0)
        out["clone3"] = raw(NR["clone3"], 0, 0)
        out["perf"] = raw(NR["perf_event_open"], 0, 0, 0, 0, 0)
        out["vsock"] = raw(NR["socket"], 40, socket.SOCK_STREAM, 0)
        out["persona"] = raw(NR["personality"], 0xFFFFFFFF) >= 0
        # ordinary work
        pid = os.fork()
        if pid == 0:
            os._exit(7)
        out["fork"] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        pid = os.fork()
        if pid == 0:
            try:
                os.execv("/bin/busybox", ["true"])
            finally:
                os._exit(127)
        out["exec"] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        done: list[int] = []
        t = threading.Thread(target=lambda: done.append(1))
        t.start()
        t.join()
        out["thread"] = done
        path = work / "file"
        path.write_bytes(b"x" * 10000)
        path.rename(work / "moved")
        out["file"] = len((work / "moved").read_bytes())
        (work / "moved").unlink()
        a, b = socket.socketpair()
        a.sendall(b"ping")
        out["socketpair"] = b.recv(4).decode()
        a.close()
        b.close()
        with socket.socket() as server:
            server.bind(("127.0.0.1", 0))
            server.listen(1)
            with socket.create_connection(server.getsockname()) as client:
                conn, _ = server.accept()
                client.sendall(b"tcp")
                out["tcp"] = conn.recv(3).decode()
                conn.close()
        return out

    got = in_child(child).value
    assert got == {
        "status": ["2"],
        "keyctl": -errno.EPERM,
        "unshare_user": -errno.EPERM,
        "mount": -errno.EPERM,
        "clone_ns": -errno.EPERM,
        "clone3": -errno.ENOSYS,
        "perf": -errno.EPERM,
        "vsock": -errno.EPERM,
        "persona": True,
        "fork": 7,
        "exec": 0,
        "thread": [1],
        "file": 10000,
        "socketpair": "ping",
        "tcp": "tcp",
    }
