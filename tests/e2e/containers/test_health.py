"""Health checks through the CLI: --health-cmd probes run in the container, the status
goes starting -> unhealthy -> healthy as the probe's answer changes, ps shows and
filters it, events report it, a probe that outlives its timeout is killed and
recorded, and the checks go on across a berthd crash."""

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


def health(e: Engine, ref: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(ok(e, "inspect", ref))[0]["State"]["Health"]
    return doc


def wait_status(e: Engine, ref: str, status: str, timeout: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        doc = health(e, ref)
        if doc["Status"] == status:
            return doc
        assert time.monotonic() < deadline, f"{ref} never became {status}: {doc}"
        time.sleep(0.05)


def test_status_follows_the_probe(engine: Engine) -> None:
    ok(
        engine, "run", "-d", "--name", "hc", "--health-cmd", "cat /tmp/ok",
        "--health-interval", "200ms", "--health-retries", "2", "busybox", "sleep", "60",
    )  # fmt: skip
    assert health(engine, "hc")["Status"] == "starting"
    assert ok(engine, "ps", "--format", "{{.Status}}").endswith("(health: starting)\n")
    doc = wait_status(engine, "hc", "unhealthy")
    assert doc["FailingStreak"] >= 2
    last = doc["Log"][-1]
    assert last["ExitCode"] == 1 and "No such file or directory" in last["Output"]
    assert ok(engine, "ps", "--filter", "health=unhealthy", "--format", "{{.Names}}") == "hc\n"
    ok(engine, "exec", "hc", "sh", "-c", "echo fine > /tmp/ok")
    doc = wait_status(engine, "hc", "healthy")
    assert doc["FailingStreak"] == 0 and doc["Log"][-1]["Output"] == "fine\n"
    assert len(doc["Log"]) <= 5
    assert ok(engine, "ps", "--format", "{{.Status}}").endswith("(healthy)\n")
    assert ok(engine, "ps", "--filter", "health=unhealthy", "-q") == ""
    until = f"{time.time() + 0.5:.3f}"  # "0s" would cut at the current whole second
    events = ok(
        engine, "events", "--since", "60s", "--until", until, "--filter", "event=health_status",
        "--format", "{{.Action}}",
    )  # fmt: skip
    assert events.splitlines() == ["health_status: unhealthy", "health_status: healthy"]
    ok(engine, "stop", "-t", "0", "hc")
    ok(engine, "start", "hc")
    assert health(engine, "hc")["Status"] == "starting"  # a start begins again
    wait_status(engine, "hc", "healthy")  # /tmp/ok is still in its writable layer
    ok(engine, "rm", "-f", "hc")


def test_probe_timeout_is_killed_and_recorded(engine: Engine) -> None:
    ok(
        engine, "run", "-d", "--name", "slow", "--health-cmd", "sleep 30",
        "--health-interval", "100ms", "--health-timeout", "300ms", "--health-retries", "1",
        "busybox", "sleep", "60",
    )  # fmt: skip
    doc = wait_status(engine, "slow", "unhealthy")
    assert doc["Log"][0]["ExitCode"] == -1
    assert doc["Log"][0]["Output"] == "Health check exceeded timeout (300ms)"
    time.sleep(0.5)
    top = ok(engine, "top", "slow")
    assert top.count("sleep 30") <= 1  # the timed-out probes were killed, not left behind
    ok(engine, "rm", "-f", "slow")


def test_no_healthcheck_and_bad_settings(engine: Engine) -> None:
    ok(engine, "run", "-d", "--name", "none", "--no-healthcheck", "busybox", "sleep", "60")
    state = json.loads(ok(engine, "inspect", "none"))[0]["State"]
    assert "Health" not in state
    assert ok(engine, "ps", "--filter", "health=none", "--format", "{{.Names}}") == "none\n"
    ok(engine, "rm", "-f", "none")
    r = engine.run(["run", "--health-interval", "500us", "busybox", "true"])
    assert r.returncode == 125 and "Interval in Healthcheck cannot be less than 1ms" in r.stderr
    r = engine.run(["run", "--no-healthcheck", "--health-retries", "2", "busybox", "true"])
    assert r.returncode == 125 and "--no-healthcheck conflicts with --health-*" in r.stderr
    assert ok(engine, "ps", "-aq") == ""


def test_checks_go_on_after_a_daemon_crash(engine: Engine) -> None:
    ok(
        engine, "run", "-d", "--name", "keep", "--health-cmd", "cat /tmp/ok",
        "--health-interval", "200ms", "--health-retries", "1", "busybox", "sleep", "60",
    )  # fmt: skip
    wait_status(engine, "keep", "unhealthy")
    assert engine.proc is not None
    os.kill(engine.pid, signal.SIGKILL)
    engine.proc.wait()
    engine.proc = None
    engine.start()
    ok(engine, "exec", "keep", "touch", "/tmp/ok")
    wait_status(engine, "keep", "healthy")
    ok(engine, "rm", "-f", "keep")
