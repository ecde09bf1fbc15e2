"""berthd can die (SIGKILL) or stop and come back: containers keep running, exits that
happen meanwhile are recorded by the monitor, and the next daemon reconciles -- ps,
inspect, wait and logs are right at once. When the monitor itself is killed, its
containers are orphaned: berth kills what is left of them, frees their resources,
records exit code 255 and applies their restart policy.
"""

from __future__ import annotations

import json
import os
import signal
import time
from typing import Any

from support.engine_daemon import Engine


def ok(e: Engine, *args: str) -> str:
    r = e.run(list(args))
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout


def inspect(e: Engine, ref: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(ok(e, "inspect", ref))[0]
    return doc


def crash(e: Engine) -> None:
    assert e.proc is not None
    os.kill(e.pid, signal.SIGKILL)
    e.proc.wait()
    e.proc = None


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] not in ("Z", "X")
    except OSError:
        return False


def mounted(path: str) -> bool:
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)


def wait_log(e: Engine, name: str, text: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while text not in e.run(["logs", name]).stdout:
        assert time.monotonic() < deadline, f"{name} never logged {text!r}"
        time.sleep(0.05)


def test_containers_outlive_a_daemon_crash(engine: Engine) -> None:
    ok(engine, "run", "-d", "--name", "keep", "busybox", "sh", "-c", "echo hi; sleep 60")
    ok(
        engine,
        "run",
        "-d",
        "--name",
        "short",
        "busybox",
        "sh",
        "-c",
        "echo before; sleep 1; echo after >&2; exit 7",
    )
    ok(engine, "run", "-d", "--rm", "--name", "gone", "busybox", "sleep", "1")
    ok(
        engine,
        "run",
        "-d",
        "--name",
        "again",
        "--restart",
        "on-failure",
        "busybox",
        "sh",
        "-c",
        "echo run; sleep 1; exit 1",
    )
    wait_log(engine, "keep", "hi")
    pid = inspect(engine, "keep")["State"]["Pid"]
    crash(engine)
    time.sleep(2.0)  # short, gone and again exit while no daemon runs
    assert alive(pid)
    engine.start()
    # right after the restart: ps, inspect, wait, logs
    names = ok(engine, "ps", "--format", "{{.Names}}").split()
    assert "keep" in names and "short" not in names
    st = inspect(engine, "keep")["State"]
    assert st["Running"] is True and st["Pid"] == pid
    st = inspect(engine, "short")["State"]
    assert (st["Status"], st["ExitCode"]) == ("exited", 7)
    assert ok(engine, "wait", "short") == "7\n"
    r = engine.run(["logs", "short"])
    assert (r.stdout, r.stderr) == ("before\n", "after\n")
    assert engine.run(["inspect", "gone"]).returncode == 1  # --rm applied after the fact
    again = inspect(engine, "again")
    assert again["RestartCount"] >= 1  # its policy applied to the exit it missed
    # the container that kept running is still the engine's: logs, stop, wait
    assert ok(engine, "logs", "keep") == "hi\n"
    ok(engine, "kill", "keep")
    assert ok(engine, "wait", "keep") == "137\n"
    ok(engine, "rm", "-f", "keep", "short", "again")


def test_restart_policies_at_daemon_start(engine: Engine) -> None:
    for name, policy in (
        ("a-run", "always"),
        ("a-stop", "always"),
        ("u-run", "unless-stopped"),
        ("u-stop", "unless-stopped"),
        ("no-stop", "no"),
    ):
        ok(engine, "run", "-d", "--name", name, "--restart", policy, "busybox", "sleep", "60")
    ok(engine, "create", "--name", "a-new", "--restart", "always", "busybox", "sleep", "60")
    ok(engine, "stop", "-t", "0", "a-stop", "u-stop", "no-stop")
    # the containers that ran keep running through a clean daemon stop
    assert engine.stop() == 0
    engine.start()
    deadline = time.monotonic() + 15
    while True:
        running = set(ok(engine, "ps", "--format", "{{.Names}}").split())
        if "a-stop" in running or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    # always: started again even when the user stopped it; unless-stopped: not then
    assert running == {"a-run", "a-stop", "u-run"}
    assert inspect(engine, "a-new")["State"]["Status"] == "created"
    ok(engine, "rm", "-f", "a-run", "a-stop", "u-run", "u-stop", "no-stop", "a-new")


def test_killed_monitor_orphans_are_cleaned_up(engine: Engine) -> None:
    cid = ok(engine, "run", "-d", "--name", "orphan", "busybox", "sleep", "60").strip()
    ok(engine, "run", "-d", "--name", "phoenix", "--restart", "always", "busybox", "sleep", "60")
    orphan_pid = inspect(engine, "orphan")["State"]["Pid"]
    phoenix_pid = inspect(engine, "phoenix")["State"]["Pid"]
    with open(os.path.join(engine.exec_root, "shim.pid")) as f:
        monitor = int(f.read())
    os.kill(monitor, signal.SIGKILL)
    deadline = time.monotonic() + 15
    while inspect(engine, "orphan")["State"]["Running"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    st = inspect(engine, "orphan")["State"]
    assert st["ExitCode"] == 255 and "monitor" in st["Error"]
    assert not alive(orphan_pid)  # killed, not left running unwatched
    rootfs = os.path.join(engine.root, "containers", cid, "rootfs")
    assert not mounted(rootfs)
    assert not os.path.exists(os.path.join(engine.exec_root, "runtime", cid))
    # its policy applies: a new monitor runs the always container again
    while True:
        st = inspect(engine, "phoenix")["State"]
        if st["Running"] and st["Pid"] not in (0, phoenix_pid):
            break
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert not alive(phoenix_pid)
    r = engine.run(["run", "--rm", "busybox", "echo", "still works"])
    assert r.stdout == "still works\n"
    ok(engine, "rm", "-f", "orphan", "phoenix")


def test_monitor_and_daemon_both_killed(engine: Engine) -> None:
    cid = ok(engine, "run", "-d", "--name", "lost", "busybox", "sleep", "60").strip()
    pid = inspect(engine, "lost")["State"]["Pid"]
    with open(os.path.join(engine.exec_root, "shim.pid")) as f:
        monitor = int(f.read())
    crash(engine)
    os.kill(monitor, signal.SIGKILL)
    time.sleep(0.2)
    assert alive(pid)  # an orphan nobody watches
    engine.start()
    st = inspect(engine, "lost")["State"]
    assert (st["Status"], st["ExitCode"]) == ("exited", 255)
    assert not alive(pid)
    assert not mounted(os.path.join(engine.root, "containers", cid, "rootfs"))
    ok(engine, "start", "lost")
    assert inspect(engine, "lost")["State"]["Running"] is True
    ok(engine, "rm", "-f", "lost")


def test_removed_containers_leave_no_directory(engine: Engine) -> None:
    """rm answers once the container is gone from the store; its directory goes to
    the trash and is deleted in the background -- by the next daemon, if the
    one that removed it was killed first."""

    def gone(path: str) -> bool:
        deadline = time.monotonic() + 10
        while os.path.exists(path) and time.monotonic() < deadline:
            time.sleep(0.02)
        return not os.path.exists(path)

    cid = ok(engine, "create", "busybox", "true").strip()
    cdir = os.path.join(engine.root, "containers", cid)
    assert os.path.isdir(cdir)
    ok(engine, "rm", cid)
    assert not os.path.exists(cdir)  # moved to the trash at once
    assert gone(os.path.join(engine.root, "trash", cid))
    r = engine.run(["run", "--rm", "busybox", "true"])
    assert r.returncode == 0, r.stderr
    deadline = time.monotonic() + 10
    while os.listdir(os.path.join(engine.root, "trash")) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert os.listdir(os.path.join(engine.root, "trash")) == []
    # what a killed daemon left: trash, and a directory whose container is not stored
    crash(engine)
    left = os.path.join(engine.root, "trash", "f" * 64)
    os.makedirs(os.path.join(left, "rootfs", "etc"))
    stray = os.path.join(engine.root, "containers", "e" * 64)
    os.makedirs(os.path.join(stray, "rootfs"))
    engine.start()
    assert gone(left) and gone(stray)
    assert ok(engine, "ps", "-aq") == ""
