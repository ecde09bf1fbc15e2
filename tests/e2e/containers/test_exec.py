"""berth exec (and the docker CLI's) against a real engine: exit codes, streams, users,
the container's namespaces/cgroup/seccomp, terminals, detaching, the exec API and events."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from berth.client.api import Client
from berth.errors import Conflict, NotFound
from support.containers_pty import PtySession
from support.engine_daemon import PYTHON, Engine


def run(engine: Engine, *args: str, input: bytes | None = None) -> tuple[int, str, str]:
    r = engine.run(list(args), input=input, timeout=60)
    return r.returncode, r.stdout, r.stderr


def start_box(engine: Engine, name: str = "box", *extra: str) -> str:
    code, out, err = run(engine, "run", "-d", "--name", name, *extra, "busybox", "sleep", "300")
    assert code == 0, err
    return out.strip()


def test_exec_streams_exit_codes_and_environment(engine: Engine, tmp_path: object) -> None:
    cid = start_box(engine, "box", "-e", "FROM_RUN=r", "-w", "/etc")
    assert run(engine, "exec", "box", "sh", "-c", "echo out; echo err >&2; exit 3") == (
        3,
        "out\n",
        "err\n",
    )
    code, out, _ = run(engine, "exec", "box", "nonexistent")
    assert code == 127 and 'exec: "nonexistent": executable file not found in $PATH' in out
    code, out, _ = run(engine, "exec", "box", "/etc/passwd")
    assert code == 126 and "permission denied" in out
    assert run(engine, "exec", "-i", "box", "cat", input=b"piped\nin\n") == (0, "piped\nin\n", "")
    env_file = os.path.join(str(tmp_path), "env")
    with open(env_file, "w") as f:
        f.write("# comment\nFROM_FILE=f\n")
    code, out, err = run(
        engine,
        "exec",
        "-u",
        "nobody",
        "-w",
        "/tmp",
        "-e",
        "A=1",
        "--env-file",
        env_file,
        "box",
        "sh",
        "-c",
        "id -u; id -g; pwd; echo $A $FROM_FILE $FROM_RUN $HOSTNAME",
    )
    assert (code, out) == (0, f"65534\n65534\n/tmp\n1 f r {cid[:12]}\n"), err
    # the working directory defaults to the container's; the user to its user (root)
    assert run(engine, "exec", "box", "sh", "-c", "pwd; id -u") == (0, "/etc\n0\n", "")
    # the container's pid namespace and hostname
    code, out, _ = run(engine, "exec", "box", "sh", "-c", "hostname; ps -o pid,comm")
    lines = out.splitlines()
    assert lines[0] == cid[:12] and lines[2].split() == ["1", "sleep"]
    code, _, err = run(engine, "exec", "-u", "nouser", "box", "true")
    assert code == 1 and "unable to find user nouser" in err
    code, _, err = run(engine, "exec", "nope", "true")
    assert code == 1 and "No such container: nope" in err
    # the user is looked up inside the container's root: an absolute symlink there
    # leads to the container's file, not the host's
    swap = "echo alice:x:1234:1234::/:/bin/sh > /tmp/pw && ln -sf /tmp/pw /etc/passwd"
    assert run(engine, "exec", "box", "sh", "-c", swap)[0] == 0
    assert run(engine, "exec", "-u", "alice", "box", "id", "-u") == (0, "1234\n", "")
    assert run(engine, "stop", "-t", "0", "box")[0] == 0
    code, _, err = run(engine, "exec", "box", "true")
    assert code == 1 and f"container {cid} is not running" in err


def _status_field(engine: Engine, ref: str, field: str, *flags: str) -> str:
    code, out, err = run(engine, "exec", *flags, ref, "grep", f"^{field}:", "/proc/self/status")
    assert code == 0, err
    return out.split(":", 1)[1].strip()


def test_exec_gets_the_containers_cgroup_caps_and_seccomp(engine: Engine) -> None:
    cid = start_box(engine, "box", "--cap-drop", "NET_RAW")
    init_caps = run(engine, "exec", "box", "grep", "^CapEff:", "/proc/1/status")[1]
    assert _status_field(engine, "box", "CapEff") == init_caps.split(":", 1)[1].strip()
    privileged = int(_status_field(engine, "box", "CapEff", "--privileged"), 16)
    assert privileged > int(init_caps.split(":", 1)[1], 16)
    assert privileged & (1 << 21)  # CAP_SYS_ADMIN
    # Docker keeps the container's seccomp filter for a privileged exec too
    assert _status_field(engine, "box", "Seccomp") == "2"
    assert _status_field(engine, "box", "Seccomp", "--privileged") == "2"
    code, out, _ = run(engine, "exec", "box", "cat", "/proc/self/cgroup")
    init = run(engine, "exec", "box", "cat", "/proc/1/cgroup")[1]
    assert code == 0 and out == init and cid in out


def test_exec_detached_inspect_and_events(engine: Engine) -> None:
    cid = start_box(engine)
    since = str(time.time())
    assert run(engine, "exec", "-d", "box", "sh", "-c", "sleep 2; exit 4") == (0, "", "")
    code, out, _ = run(engine, "top", "box", "-o", "pid,args")
    assert code == 0 and "sleep 2" in out
    with Client(engine.host) as c:
        eid = c.post_json(
            f"/containers/{cid}/exec", None, {"Cmd": ["sh", "-c", "exit 6"], "User": "nobody"}
        )["Id"]
        doc = c.get_json(f"/exec/{eid}/json")
        assert doc["Running"] is False and doc["ExitCode"] is None and doc["Pid"] == 0
        assert doc["ProcessConfig"] == {
            "tty": False,
            "entrypoint": "sh",
            "arguments": ["-c", "exit 6"],
            "privileged": False,
            "user": "nobody",
        }
        assert doc["ContainerID"] == cid
        c.post_json(f"/exec/{eid}/start", None, {"Detach": True})
        deadline = time.monotonic() + 10
        while c.get_json(f"/exec/{eid}/json")["ExitCode"] is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        doc = c.get_json(f"/exec/{eid}/json")
        assert doc["ExitCode"] == 6 and doc["Running"] is False and doc["Pid"] > 0
        with pytest.raises(Conflict, match=f"exec command {eid} has already run"):
            c.post_json(f"/exec/{eid}/start", None, {"Detach": True})
        with pytest.raises(NotFound, match="No such exec instance: nope"):
            c.get_json("/exec/nope/json")
    _, out, _ = run(
        engine,
        "events",
        "--since",
        since,
        "--until",
        str(time.time() + 3),
        "--filter",
        "container=box",
        "--filter",
        "event=exec_die",
        "--format",
        "{{.Action}} {{.Actor.Attributes.exitCode}}",
    )
    assert sorted(out.splitlines()) == ["exec_die 4", "exec_die 6"]
    _, out, _ = run(
        engine,
        "events",
        "--since",
        since,
        "--until",
        str(time.time()),
        "--filter",
        "event=exec_create",
        "--format",
        "{{.Action}}",
    )
    assert out.splitlines() == ["exec_create: sh -c sleep 2; exit 4", "exec_create: sh -c exit 6"]


def test_exec_with_a_terminal_and_detaching(engine: Engine) -> None:
    start_box(engine)
    argv = [PYTHON, "-m", "berth.cli.main", "exec", "-it", "box", "sh"]
    with PtySession(argv, engine.env, rows=33, cols=101) as s:
        s.read_until(b"# ")
        s.write(b"stty size; tty; echo $TERM\n")
        s.read_until(b"xterm")
        s.write(b"exit 5\n")
        assert s.wait() == 5
        text = s.text()
    assert "33 101" in text and "/dev/pts/" in text
    argv = [PYTHON, "-m", "berth.cli.main", "exec", "-it", "box"]
    argv += ["sh", "-c", "echo ready; sleep 30"]
    with PtySession(argv, engine.env) as s:
        s.read_until(b"ready")
        s.write(b"\x10\x11")  # ctrl-p ctrl-q
        assert s.wait() == 0
    assert "sleep 30" in run(engine, "top", "box")[1]  # it runs on
    argv = [PYTHON, "-m", "berth.cli.main", "exec", "-it", "--detach-keys", "ctrl-x", "box", "sh"]
    with PtySession(argv, engine.env) as s:
        s.read_until(b"# ")
        s.write(b"\x18")
        assert s.wait() == 0


def test_docker_cli_exec(engine: Engine) -> None:
    start_box(engine)
    env = dict(engine.env, DOCKER_HOST=engine.host)

    def docker(*args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(["docker", *args], input=input, capture_output=True, env=env)

    r = docker("exec", "box", "sh", "-c", "echo out; echo err >&2; exit 4")
    assert (r.returncode, r.stdout, r.stderr) == (4, b"out\n", b"err\n")
    r = docker("exec", "-i", "box", "wc", "-c", input=b"12345")
    assert (r.returncode, r.stdout.strip()) == (0, b"5")
    r = docker("exec", "box", "nonexistent")
    assert r.returncode == 127 and b"executable file not found" in r.stdout
    r = docker("exec", "-d", "-e", "X=1", "box", "sh", "-c", "echo $X > /tmp/x")
    assert r.returncode == 0
    deadline = time.monotonic() + 10
    while docker("exec", "box", "cat", "/tmp/x").stdout != b"1\n":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    info = json.loads(docker("inspect", "box").stdout)[0]
    assert info["State"]["Running"] is True
