"""Many clients at once, and a daemon killed in the middle of them.

- 20 ``berth run`` at once (foreground ``--rm`` ones checking their output,
  detached ones), together with ``rm -f`` of other containers and ``ps``
  loops: every command succeeds and the state stays consistent (what ``ps -a``
  lists is what was left, each running container's process is alive, a daemon
  restart shows the same);
- berthd SIGKILLed while ten detached starts are in flight: after a restart
  every container the engine knows is either running (its process alive) or
  not, none half-started, and all of them can be removed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from typing import Any

from support.engine_daemon import PYTHON, Engine

N_RUNS = 20


def cli(e: Engine, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [PYTHON, "-m", "berth.cli.main", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=e.env,
    )


def ok(e: Engine, *args: str) -> str:
    r = e.run(list(args))
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] not in ("Z", "X")
    except OSError:
        return False


def consistent(e: Engine) -> dict[str, dict[str, Any]]:
    """name -> State, checking that running means a live process and that ps agrees."""
    ids = ok(e, "ps", "-aq", "--no-trunc").split()
    docs = json.loads(ok(e, "inspect", *ids)) if ids else []
    states = {}
    for d in docs:
        st = d["State"]
        if st["Running"]:
            assert st["Pid"] > 0 and alive(st["Pid"]), d["Name"]
        else:
            assert st["Status"] in ("created", "exited"), (d["Name"], st)
        states[d["Name"].lstrip("/")] = st
    running = set(ok(e, "ps", "--format", "{{.Names}}").split())
    assert running == {n for n, st in states.items() if st["Running"]}
    assert len(states) == len(ids) == len(set(ids))
    return states


def test_twenty_runs_with_rm_and_ps(engine: Engine) -> None:
    victims = [f"victim{i}" for i in range(5)]
    for name in victims:
        ok(engine, "run", "-d", "--name", name, "busybox", "sleep", "60")
    procs: dict[str, subprocess.Popen[str]] = {}
    for i in range(N_RUNS):
        if i % 2:
            procs[f"fg{i}"] = cli(engine, "run", "--rm", "busybox", "echo", f"hello {i}")
        else:
            procs[f"bg{i}"] = cli(engine, "run", "-d", "--name", f"bg{i}", "busybox", "sleep", "60")
    procs.update({f"rm-{v}": cli(engine, "rm", "-f", v) for v in victims})
    stop_ps = threading.Event()
    ps_failures: list[str] = []

    def ps_loop() -> None:
        while not stop_ps.is_set():
            r = engine.run(["ps", "-a"])
            if r.returncode != 0:
                ps_failures.append(r.stderr)

    pollers = [threading.Thread(target=ps_loop) for _ in range(2)]
    for t in pollers:
        t.start()
    try:
        results = {k: (p.wait(120), *p.communicate()) for k, p in procs.items()}
    finally:
        stop_ps.set()
        for t in pollers:
            t.join()
    for key, (code, out, err) in results.items():
        assert code == 0, (key, out, err)
        if key.startswith("fg"):
            assert out == f"hello {key[2:]}\n", (key, out, err)
    assert ps_failures == []
    states = consistent(engine)
    assert set(states) == {f"bg{i}" for i in range(0, N_RUNS, 2)}
    assert all(st["Running"] for st in states.values())
    # the database says the same to the next daemon
    assert engine.stop() == 0
    engine.start()
    assert consistent(engine) == states
    ids = ok(engine, "ps", "-aq").split()
    ok(engine, "rm", "-f", *ids)
    assert ok(engine, "ps", "-aq") == ""


def monitors(e: Engine) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    cmd = f.read().split(b"\0")
            except OSError:
                continue
            if b"berth.engine.monitor.shim" in b" ".join(cmd) and e.exec_root.encode() in cmd:
                out.append(int(entry))
    return out


def test_first_runs_at_once_share_one_monitor(engine: Engine) -> None:
    """No monitor runs yet: concurrent attaches and starts must not spawn one each."""
    assert monitors(engine) == []
    procs = [cli(engine, "run", "--rm", "busybox", "echo", str(i)) for i in range(8)]
    for i, p in enumerate(procs):
        out, err = p.communicate(timeout=60)
        assert (p.returncode, out) == (0, f"{i}\n"), err
    assert len(monitors(engine)) == 1


def test_daemon_killed_during_starts(engine: Engine) -> None:
    procs = [
        cli(engine, "run", "-d", "--name", f"c{i}", "busybox", "sleep", "60") for i in range(10)
    ]
    time.sleep(0.4)  # some created, some started, some in flight
    assert engine.proc is not None
    os.kill(engine.pid, signal.SIGKILL)
    engine.proc.wait()
    engine.proc = None
    for p in procs:
        p.communicate(timeout=60)  # they fail or succeed; the state must be sane either way
    engine.start()
    states = consistent(engine)
    for name, st in states.items():
        if not st["Running"]:
            assert st["Status"] in ("created", "exited"), (name, st)
    # everything it knows can be started, then removed
    for name, st in states.items():
        if not st["Running"]:
            r = engine.run(["start", name])
            assert r.returncode == 0, (name, r.stderr)
    assert all(s["Running"] for s in consistent(engine).values())
    if states:
        ok(engine, "rm", "-f", *states)
    assert ok(engine, "ps", "-aq") == ""
