"""create / start / state / kill / delete / list / ps / pause / resume / exec, as runc does them."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from support.fixtures_runtime import RuntimeHandle, reap


def state(runtime: RuntimeHandle, cid: str) -> dict[str, object]:
    r = runtime.run("state", cid, check=True)
    doc: dict[str, object] = json.loads(r.stdout)
    return doc


def _debug(runtime: RuntimeHandle, cid: str) -> str:
    st = state(runtime, cid)
    try:
        with open(f"/proc/{st['pid']}/stat") as f:
            return f"{st} {f.read()[:60]}"
    except OSError as e:
        return f"{st} {e}"


def wait_status(runtime: RuntimeHandle, cid: str, want: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while state(runtime, cid)["status"] != want:
        reap()
        assert time.monotonic() < deadline, f"{cid} never became {want}: {_debug(runtime, cid)}"
        time.sleep(0.02)


def test_full_lifecycle(runtime: RuntimeHandle, tmp_path: Path) -> None:
    out = tmp_path / "out"
    b = runtime.bundle(["sh", "-c", "echo started > /host/out; exec sleep 60"], mounts=[])
    b.update(
        mounts=[
            *runtime.bundle(["true"]).spec["mounts"],
            {"destination": "/host", "type": "bind", "source": str(tmp_path), "options": ["rbind"]},
        ]
    )
    cid = b.path.name
    pid_file = tmp_path / "pid"
    r = runtime.run("create", "--bundle", str(b.path), "--pid-file", str(pid_file), cid)
    assert r.returncode == 0, r.stderr
    st = state(runtime, cid)
    assert st["status"] == "created"
    assert st["id"] == cid
    assert st["bundle"] == str(b.path)
    assert int(pid_file.read_text()) == st["pid"]
    assert not out.exists()  # the program has not run yet

    assert runtime.run("start", cid).returncode == 0
    deadline = time.monotonic() + 5
    while not out.exists():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert state(runtime, cid)["status"] == "running"

    listed = runtime.run("list", "--format", "json", check=True)
    assert [c["id"] for c in json.loads(listed.stdout)] == [cid]
    table = runtime.run("list", check=True).stdout.splitlines()
    assert table[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    assert table[1].split()[:3] == [cid, str(st["pid"]), "running"]

    pids = json.loads(runtime.run("ps", "--format", "json", cid, check=True).stdout)
    assert pids == [st["pid"]]

    assert runtime.run("pause", cid).returncode == 0
    assert state(runtime, cid)["status"] == "paused"
    assert runtime.run("resume", cid).returncode == 0
    assert state(runtime, cid)["status"] == "running"

    refused = runtime.run("delete", cid)
    assert refused.returncode == 1
    assert "is not stopped: running" in refused.stderr

    # pid 1 (sleep) has no handler for SIGTERM, so the kernel drops it: KILL it.
    assert runtime.run("kill", cid, "TERM").returncode == 0
    time.sleep(0.1)
    assert state(runtime, cid)["status"] == "running"
    assert runtime.run("kill", cid, "KILL").returncode == 0
    wait_status(runtime, cid, "stopped")
    assert state(runtime, cid)["pid"] == 0
    assert runtime.run("delete", cid).returncode == 0
    assert runtime.run("state", cid).returncode == 1
    assert runtime.ids() == []


def test_start_twice_and_unknown_ids(runtime: RuntimeHandle) -> None:
    b = runtime.bundle(["sleep", "30"])
    cid = b.path.name
    runtime.run("create", "--bundle", str(b.path), cid, check=True)
    runtime.run("start", cid, check=True)
    again = runtime.run("start", cid)
    assert again.returncode == 1 and "cannot start a container that is running" in again.stderr
    dup = runtime.run("create", "--bundle", str(b.path), cid)
    assert dup.returncode == 1 and "already exists" in dup.stderr
    missing = runtime.run("state", "nope")
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    assert runtime.run("delete", "--force", cid).returncode == 0
    assert runtime.run("delete", "--force", "nope").returncode == 0


def test_delete_created_container(runtime: RuntimeHandle) -> None:
    b = runtime.bundle(["true"])
    cid = b.path.name
    runtime.run("create", "--bundle", str(b.path), cid, check=True)
    pid = state(runtime, cid)["pid"]
    assert runtime.run("delete", cid).returncode == 0  # as runc: a created one goes quietly
    assert not os.path.exists(f"/proc/{pid}/exe") or _state_of(int(str(pid))) == "Z"
    assert runtime.ids() == []


def test_kill_all_and_exec(runtime: RuntimeHandle, tmp_path: Path) -> None:
    b = runtime.bundle(["sleep", "60"])
    cid = b.path.name
    runtime.run("create", "--bundle", str(b.path), cid, check=True)
    runtime.run("start", cid, check=True)

    r = runtime.run("exec", cid, "sh", "-c", "echo in $(hostname); ps -o pid,comm")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("in berth\n")
    assert "    1 sleep" in r.stdout  # the exec'd process shares the pid namespace

    code = runtime.run("exec", cid, "sh", "-c", "exit 7")
    assert code.returncode == 7

    process = dict(b.spec["process"], args=["sleep", "60"], env=["PATH=/bin"])
    proc_file = tmp_path / "process.json"
    proc_file.write_text(json.dumps(process))
    pid_file = tmp_path / "exec.pid"
    r = runtime.run(
        "exec", "--detach", "--pid-file", str(pid_file), "--process", str(proc_file), cid
    )
    assert r.returncode == 0, r.stderr
    exec_pid = int(pid_file.read_text())
    assert os.path.exists(f"/proc/{exec_pid}")
    pids = json.loads(runtime.run("ps", "--format", "json", cid, check=True).stdout)
    assert exec_pid in pids and len(pids) == 2

    assert runtime.run("kill", "--all", cid, "KILL").returncode == 0
    wait_status(runtime, cid, "stopped")
    deadline = time.monotonic() + 5
    while os.path.exists(f"/proc/{exec_pid}") and "Z" not in _state_of(exec_pid):
        reap()
        assert time.monotonic() < deadline, "exec'd process survived kill --all"
        time.sleep(0.01)
    assert runtime.run("delete", cid).returncode == 0


def _state_of(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


def test_exec_into_stopped_container_is_refused(runtime: RuntimeHandle) -> None:
    b = runtime.bundle(["true"])
    cid = b.path.name
    runtime.run("create", "--bundle", str(b.path), cid, check=True)
    runtime.run("start", cid, check=True)
    wait_status(runtime, cid, "stopped")
    r = runtime.run("exec", cid, "true")
    assert r.returncode == 1 and "cannot exec in a stopped container" in r.stderr


def test_run_detached(runtime: RuntimeHandle, tmp_path: Path) -> None:
    b = runtime.bundle(["sleep", "60"])
    cid = b.path.name
    r = runtime.run("run", "-d", "--bundle", str(b.path), "--pid-file", str(tmp_path / "p"), cid)
    assert r.returncode == 0, r.stderr
    assert state(runtime, cid)["status"] == "running"
    assert runtime.run("delete", "-f", cid).returncode == 0


def test_spec_and_features(runtime: RuntimeHandle, tmp_path: Path) -> None:
    r = runtime.run("spec", "--bundle", str(tmp_path))
    assert r.returncode == 0
    spec = json.loads((tmp_path / "config.json").read_text())
    assert spec["process"]["args"] == ["sh"] and spec["root"]["path"] == "rootfs"
    again = runtime.run("spec", "--bundle", str(tmp_path))
    assert again.returncode == 1 and "exists" in again.stderr
    features = json.loads(runtime.run("features", check=True).stdout)
    assert "time" in features["linux"]["namespaces"]
    assert "CAP_SYS_ADMIN" in features["linux"]["capabilities"]
    assert "rro" in features["mountOptions"]
    version = runtime.run("--version", check=True).stdout
    assert version.startswith("berth-runtime version ") and "spec: 1.2.0" in version


_SUBREAPER = """
import ctypes, json, os, subprocess, sys, time
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
pid_file = sys.argv[1]
p = subprocess.Popen(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
reaped = []
deadline = time.monotonic() + 10
while time.monotonic() < deadline:  # reap every orphan at once, as containerd's shim does
    try:
        info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        info = None
    if info is not None and info.si_pid != p.pid:
        os.waitpid(info.si_pid, 0)
        reaped.append(info.si_pid)
        continue
    if p.poll() is not None and (reaped or not os.path.exists(pid_file)):
        break
    time.sleep(0.0002)
print(json.dumps({"code": p.wait(), "err": p.stderr.read().decode(), "reaped": reaped}))
"""


def test_exec_detach_writes_the_pid_file_of_a_process_already_reaped(
    runtime: RuntimeHandle, tmp_path: Path
) -> None:
    """containerd's shim (a subreaper) inherits a detached exec's process and may reap
    it before ``exec`` returns; it then reads --pid-file to match that exit to the exec."""
    import subprocess
    import sys

    b = runtime.bundle(["sleep", "60"])
    cid = b.path.name
    runtime.run("run", "-d", "--bundle", str(b.path), cid, check=True)
    try:
        for i in range(5):
            pid_file = tmp_path / f"exec{i}.pid"
            cmd = runtime.cmd("exec", "--detach", "--pid-file", str(pid_file), cid, "true")
            r = subprocess.run(
                [sys.executable, "-c", _SUBREAPER, str(pid_file), *cmd],
                capture_output=True,
                text=True,
            )
            assert r.returncode == 0, r.stderr
            doc = json.loads(r.stdout)
            assert doc["code"] == 0, doc["err"]
            assert pid_file.exists(), f"no pid file (the process was reaped: {doc['reaped']})"
            assert int(pid_file.read_text()) in doc["reaped"]
    finally:
        runtime.run("delete", "--force", cid)


def _sleeper(runtime: RuntimeHandle) -> tuple[Any, dict[str, Any]]:
    """A detached container running ``sleep 60``: its bundle and its state."""
    b = runtime.bundle(["sleep", "60"])
    runtime.run("run", "-d", "--bundle", str(b.path), b.path.name, check=True)
    return b, json.loads(runtime.run("state", b.path.name, check=True).stdout)


def _wait_stopped(runtime: RuntimeHandle, cid: str) -> None:
    deadline = time.monotonic() + 10
    while json.loads(runtime.run("state", cid, check=True).stdout)["status"] != "stopped":
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_delete_kills_what_was_moved_into_a_stopped_containers_cgroup(
    runtime: RuntimeHandle,
) -> None:
    # The processes of a container with its own pid namespace end with its init; one
    # moved into its cgroup from outside does not, and delete kills it.
    import subprocess

    b, state = _sleeper(runtime)
    freezer = f"/sys/fs/cgroup/freezer/berth-test/{b.path.name}"
    intruder = subprocess.Popen(["sleep", "60"])
    try:
        with open(f"{freezer}/cgroup.procs", "w") as f:
            f.write(str(intruder.pid))
        runtime.run("kill", b.path.name, "KILL", check=True)
        _wait_stopped(runtime, b.path.name)
        assert intruder.poll() is None  # not in the pid namespace: still running
        assert runtime.run("delete", b.path.name).returncode == 0
        assert intruder.wait(timeout=10) == -9
        assert not os.path.exists(freezer)
    finally:
        if intruder.poll() is None:
            intruder.kill()
            intruder.wait()
    assert state["pid"] > 0


def test_delete_of_a_stopped_container_removes_its_cgroup(runtime: RuntimeHandle) -> None:
    b = runtime.bundle(["true"])
    runtime.run("create", "--bundle", str(b.path), b.path.name, check=True)
    with open(runtime.root / b.path.name / "state.json") as f:
        made = json.load(f)["cgroup"]["created"]
    assert len(made) >= 10  # a directory in each hierarchy
    runtime.run("start", b.path.name, check=True)
    _wait_stopped(runtime, b.path.name)
    assert runtime.run("delete", b.path.name).returncode == 0
    assert [d for d in made if os.path.exists(d)] == []


def test_run_with_a_taken_id_is_refused_and_leaves_the_other_alone(
    runtime: RuntimeHandle,
) -> None:
    b, before = _sleeper(runtime)
    r = runtime.run("run", "--bundle", str(b.path), b.path.name)
    assert r.returncode == 1
    assert f"container with id {b.path.name!r} already exists" in r.stderr
    after = json.loads(runtime.run("state", b.path.name, check=True).stdout)
    assert after["status"] == "running" and after["pid"] == before["pid"]
    runtime.run("delete", "-f", b.path.name, check=True)
