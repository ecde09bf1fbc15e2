"""Restart policies through the CLI: on-failure[:N], always, unless-stopped, update --restart.

The backoff is checked from the engine's own event times (lower bounds only:
a busy machine may only make the waits longer).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from support.engine_daemon import Engine


def inspect(e: Engine, ref: str) -> dict[str, Any]:
    r = e.run(["inspect", ref])
    assert r.returncode == 0, r.stderr
    doc: dict[str, Any] = json.loads(r.stdout)[0]
    return doc


def until(what: Callable[[], Any], timeout: float = 15.0, step: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = what()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(step)


def events(e: Engine, name: str, since: float) -> list[tuple[str, float]]:
    out = e.run(
        [
            "events",
            "--since",
            f"{since:.3f}",
            "--until",
            f"{time.time() + 0.5:.3f}",
            "--filter",
            f"container={name}",
            "--format",
            "{{.Action}} {{.TimeNano}}",
        ]
    ).stdout
    return [(a, int(t) / 1e9) for a, t in (line.split() for line in out.splitlines())]


def test_on_failure_retries_then_gives_up(lc: Engine) -> None:
    since = time.time() - 1
    r = lc.run(
        [
            "run",
            "-d",
            "--name",
            "flaky",
            "--restart",
            "on-failure:2",
            "busybox",
            "sh",
            "-c",
            "echo attempt; exit 3",
        ]
    )
    assert r.returncode == 0, r.stderr

    def settled() -> dict[str, Any] | None:
        info = inspect(lc, "flaky")
        st = info["State"]
        return info if info["RestartCount"] == 2 and st["Status"] == "exited" else None

    info = until(settled)
    assert info["State"]["ExitCode"] == 3 and info["HostConfig"]["RestartPolicy"] == {
        "Name": "on-failure",
        "MaximumRetryCount": 2,
    }
    time.sleep(0.5)
    assert inspect(lc, "flaky")["RestartCount"] == 2  # gave up
    assert lc.run(["logs", "flaky"]).stdout == "attempt\n" * 3
    actions = [a for a, _ in events(lc, "flaky", since)]
    assert actions.count("start") == 3 and actions.count("die") == 3
    # a success does not restart an on-failure container
    r = lc.run(["run", "-d", "--name", "fine", "--restart", "on-failure", "busybox", "true"])
    assert r.returncode == 0
    assert lc.run(["wait", "fine"]).stdout == "0\n"
    time.sleep(0.3)
    assert inspect(lc, "fine")["RestartCount"] == 0


def test_always_backs_off_and_a_stop_ends_it(lc: Engine) -> None:
    since = time.time() - 1
    r = lc.run(
        [
            "run",
            "-d",
            "--name",
            "loop",
            "--restart",
            "always",
            "busybox",
            "sh",
            "-c",
            "echo up; sleep 0.2",
        ]
    )
    assert r.returncode == 0, r.stderr

    def restarting() -> dict[str, Any] | None:
        st: dict[str, Any] = inspect(lc, "loop")["State"]
        return st if st["Status"] == "restarting" else None

    st = until(restarting, step=0.01)
    assert st["Restarting"] is True and st["Running"] is True and st["Pid"] == 0
    until(lambda: inspect(lc, "loop")["RestartCount"] >= 4)
    out = lc.run(["ps", "--filter", "name=loop", "--format", "{{.Status}}"]).stdout
    assert out.startswith(("Up ", "Restarting (0) "))
    # Docker's backoff: 100 ms before the first restart, doubling after each quick run
    evs = events(lc, "loop", since)
    dies = [t for a, t in evs if a == "die"]
    starts = [t for a, t in evs if a == "start"]
    for i, delay in enumerate((0.1, 0.2, 0.4)):
        assert starts[i + 1] - dies[i] >= delay * 0.9, (i, evs)
    # a stop by the user ends the restarts, also while the container waits to restart
    assert lc.run(["stop", "-t", "1", "loop"]).returncode == 0
    count = inspect(lc, "loop")["RestartCount"]
    time.sleep(1.0)
    info = inspect(lc, "loop")
    assert info["State"]["Status"] == "exited" and info["RestartCount"] == count
    # a start by the user counts afresh
    assert lc.run(["start", "loop"]).returncode == 0
    assert inspect(lc, "loop")["RestartCount"] == 0
    until(lambda: inspect(lc, "loop")["RestartCount"] >= 1)
    # kill (SIGKILL) by the user: no restart either
    until(lambda: inspect(lc, "loop")["State"]["Status"] == "running", step=0.005)
    lc.run(["kill", "loop"])
    time.sleep(0.8)
    st = inspect(lc, "loop")["State"]
    assert st["Status"] == "exited" and not st["Restarting"]


def test_update_restart_policy(lc: Engine) -> None:
    r = lc.run(["run", "-d", "--name", "later", "busybox", "sh", "-c", "exit 1"])
    assert r.returncode == 0
    assert lc.run(["wait", "later"]).stdout == "1\n"
    r = lc.run(["update", "--restart", "on-failure:1", "later"])
    assert r.returncode == 0, r.stderr
    assert inspect(lc, "later")["HostConfig"]["RestartPolicy"]["Name"] == "on-failure"
    assert lc.run(["start", "later"]).returncode == 0
    info = until(
        lambda: (
            (i := inspect(lc, "later"))["RestartCount"] == 1
            and i["State"]["Status"] == "exited"
            and i
        )
    )
    assert info["State"]["ExitCode"] == 1
    r = lc.run(["run", "-d", "--rm", "--name", "temp", "busybox", "sleep", "30"])
    assert r.returncode == 0
    r = lc.run(["update", "--restart", "always", "temp"])
    assert r.returncode != 0 and "AutoRemove" in r.stderr
    r = lc.run(["run", "--rm", "--restart", "always", "busybox", "true"])
    assert r.returncode == 125 and "Conflicting options: --restart and --rm" in r.stderr


def test_remove_while_restarting(lc: Engine) -> None:
    r = lc.run(["run", "-d", "--name", "crashy", "--restart", "always", "busybox", "false"])
    assert r.returncode == 0

    def restarting() -> bool:
        return bool(inspect(lc, "crashy")["State"]["Status"] == "restarting")

    until(lambda: inspect(lc, "crashy")["RestartCount"] >= 3)
    until(restarting, step=0.005)
    r = lc.run(["rm", "crashy"])
    assert r.returncode == 1
    assert "You cannot remove a restarting container" in r.stderr
    assert lc.run(["rm", "-f", "crashy"]).returncode == 0
    assert lc.run(["ps", "-aq", "--filter", "name=crashy"]).stdout == ""
    time.sleep(0.5)  # a restart that was scheduled finds nothing to start
    assert lc.run(["ps", "-aq", "--filter", "name=crashy"]).stdout == ""
