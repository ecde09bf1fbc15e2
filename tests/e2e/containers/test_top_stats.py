"""berth top and berth stats (and the docker CLI's) against a real engine."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time

import pytest

from berth.client.api import Client
from berth.errors import InvalidArgument, NotFound
from support.engine_daemon import PYTHON, Engine


def run(engine: Engine, *args: str) -> tuple[int, str, str]:
    r = engine.run(list(args), timeout=60)
    return r.returncode, r.stdout, r.stderr


def docker(engine: Engine, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(engine.env, DOCKER_HOST=engine.host)
    return subprocess.run(["docker", *args], capture_output=True, text=True, env=env, timeout=60)


def test_top_shows_the_containers_processes(engine: Engine) -> None:
    code, cid, err = run(engine, "run", "-d", "--name", "t", "busybox", "sleep", "300")
    assert code == 0, err
    cid = cid.strip()
    assert run(engine, "exec", "-d", "t", "sleep", "200")[0] == 0
    code, out, err = run(engine, "top", "t")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    cmds = sorted(" ".join(line.split()[7:]) for line in lines[1:])
    assert cmds == ["sleep 200", "sleep 300"]
    host_pid = json.loads(run(engine, "inspect", "t")[1])[0]["State"]["Pid"]
    assert str(host_pid) in [line.split()[1] for line in lines[1:]]  # host pids, as Docker
    code, out, _ = run(engine, "top", "t", "-o", "pid,comm")
    assert out.splitlines()[0].split() == ["PID", "COMMAND"] and len(out.splitlines()) == 3
    code, out, _ = run(engine, "top", "t", "aux")  # BSD syntax: retried without -q
    assert code == 0 and out.splitlines()[0].split()[:2] == ["USER", "PID"]
    assert len(out.splitlines()) == 3
    r = docker(engine, "top", "t")
    assert r.returncode == 0 and "sleep 300" in r.stdout, r.stderr
    with Client(engine.host) as c:
        doc = c.get_json(f"/containers/{cid}/top", {"ps_args": "-o pid,args"})
        assert doc["Titles"] == ["PID", "COMMAND"] and len(doc["Processes"]) == 2
        with pytest.raises(InvalidArgument, match='specifying "user=PID" is not allowed'):
            c.get_json(f"/containers/{cid}/top", {"ps_args": "-o user=PID"})
    run(engine, "rm", "-f", "t")
    assert run(engine, "create", "--name", "idle", "busybox", "true")[0] == 0
    code, _, err = run(engine, "top", "idle")
    assert code == 1 and "is not running" in err


def test_stats_of_a_busy_container(engine: Engine) -> None:
    code, cid, err = run(
        engine,
        "run",
        "-d",
        "--name",
        "busy",
        "-m",
        "64m",
        "busybox",
        "sh",
        "-c",
        "while :; do :; done",
    )
    assert code == 0, err
    cid = cid.strip()
    assert run(engine, "create", "--name", "idle", "busybox", "true")[0] == 0
    code, out, err = run(engine, "stats", "--no-stream")
    assert code == 0, err
    lines = out.splitlines()
    assert re.split(r"\s{2,}", lines[0]) == [
        "CONTAINER ID",
        "NAME",
        "CPU %",
        "MEM USAGE / LIMIT",
        "MEM %",
        "NET I/O",
        "BLOCK I/O",
        "PIDS",
    ]
    assert len(lines) == 2 and lines[1].startswith(cid[:12])  # running ones only
    code, out, _ = run(
        engine,
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}}|{{.CPUPerc}}|{{.MemUsage}}|{{.PIDs}}|{{.NetIO}}",
        "busy",
    )
    name, cpu, mem, pids, net = out.strip().split("|")
    assert name == "busy" and mem.endswith(" / 64MiB") and pids == "1"
    assert float(cpu.rstrip("%")) > 5.0  # a busy loop, measured over the engine's second
    assert " / " in net
    code, out, _ = run(engine, "stats", "--no-stream", "-a", "--format", "{{.Name}} {{.CPUPerc}}")
    got = sorted(out.splitlines())
    assert len(got) == 2 and got[0].startswith("busy ") and got[1] == "idle 0.00%"
    with Client(engine.host) as c:
        docs = c.stream_json("GET", f"/containers/{cid}/stats")
        first, second = next(docs), next(docs)
        docs.close()  # type: ignore[attr-defined]
        assert first["name"] == "/busy" and first["id"] == cid
        assert first["preread"] == "0001-01-01T00:00:00Z"
        assert second["preread"] == first["read"]
        usage = second["cpu_stats"]["cpu_usage"]["total_usage"]
        assert usage > second["precpu_stats"]["cpu_usage"]["total_usage"] > 0
        assert second["memory_stats"]["limit"] == 64 * 1024 * 1024
        assert second["pids_stats"]["current"] == 1
        assert "eth0" in second.get("networks", {})
        one = c.get_json(f"/containers/{cid}/stats", {"stream": 0, "one-shot": 1})
        assert one["preread"] == "0001-01-01T00:00:00Z" and one["cpu_stats"]["online_cpus"] >= 1
        idle = c.get_json("/containers/idle/stats", {"stream": 0})
        assert idle["name"] == "/idle" and idle["memory_stats"] == {}
    # streaming: the table is redrawn (screen cleared first) while the containers run
    proc = subprocess.Popen(
        [PYTHON, "-m", "berth.cli.main", "stats", "--format", "{{.Name}} {{.PIDs}}"],
        env=engine.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        seen = b""
        deadline = time.monotonic() + 20
        while seen.count(b"busy 1\n") < 2:
            assert time.monotonic() < deadline, seen
            seen += os.read(proc.stdout.fileno(), 4096)
    finally:
        proc.terminate()
        proc.wait(10)
    assert seen.startswith(b"\x1b[2J\x1b[H") and b"idle" not in seen
    r = docker(engine, "stats", "--no-stream", "busy")
    assert r.returncode == 0 and "busy" in r.stdout and "64MiB" in r.stdout, r.stderr
    run(engine, "rm", "-f", "busy")
    with Client(engine.host) as c, pytest.raises(NotFound, match="No such container: busy"):
        c.get_json("/containers/busy/stats", {"stream": 0})
