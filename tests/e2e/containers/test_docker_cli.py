"""The real docker CLI (Debian's docker.io client) drives berthd: run, ps, logs, stop, rm,
commit/history, system prune."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from support.engine_daemon import Engine

pytestmark = pytest.mark.peers


def docker(engine: Engine, *args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("docker") is None:
        pytest.skip("the docker CLI is not installed (scripts/setup installs docker.io)")
    env = dict(engine.env, DOCKER_HOST=engine.host)
    return subprocess.run(["docker", *args], capture_output=True, text=True, env=env, timeout=60)


def test_docker_run_exit_codes_and_cleanup(engine: Engine) -> None:
    r = docker(engine, "run", "--rm", "busybox", "echo", "hello from the docker CLI")
    assert (r.returncode, r.stdout) == (0, "hello from the docker CLI\n"), r.stderr
    assert docker(engine, "run", "--rm", "busybox", "sh", "-c", "exit 5").returncode == 5
    r = docker(engine, "run", "--rm", "busybox", "nosuchcmd")
    assert r.returncode == 127
    assert 'exec: "nosuchcmd": executable file not found in $PATH' in r.stderr
    assert docker(engine, "ps", "-aq").stdout == ""  # --rm removed even the one that never ran
    r = docker(engine, "run", "--name", "kept", "busybox", "nosuchcmd")
    assert r.returncode == 127
    r = docker(engine, "inspect", "-f", "{{.State.ExitCode}} {{.State.Error}}", "kept")
    assert r.stdout.startswith('127 exec: "nosuchcmd"')


def test_docker_detached_lifecycle(engine: Engine) -> None:
    r = docker(engine, "run", "-d", "--name", "dweb", "busybox", "sh", "-c", "echo ready; sleep 60")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    ps = docker(engine, "ps", "--format", "{{.ID}} {{.Names}} {{.Image}}").stdout
    assert ps == f"{cid[:12]} dweb busybox\n"
    assert docker(engine, "exec", "dweb", "hostname").stdout == cid[:12] + "\n"
    assert "ready" in docker(engine, "logs", "dweb").stdout
    assert docker(engine, "stop", "-t", "1", "dweb").stdout == "dweb\n"
    r = docker(engine, "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "dweb")
    assert r.stdout == "exited 137\n"  # sh as pid 1 ignores TERM: killed after 1 s
    assert docker(engine, "rm", "dweb").returncode == 0


def test_docker_commit_history_and_system_prune(engine: Engine) -> None:
    r = docker(engine, "run", "--name", "hc", "busybox", "sh", "-c", "echo x > /made")
    assert r.returncode == 0, r.stderr
    r = docker(engine, "ps", "-a", "-s", "--format", "{{.Names}} {{.Size}}")
    assert r.stdout.startswith("hc 2B (virtual "), r.stdout  # /made: "x\n"
    r = docker(engine, "commit", "-m", "a note", "hc", "hist:1")
    assert r.returncode == 0, r.stderr
    r = docker(engine, "history", "--no-trunc", "--format", "{{.CreatedBy}}|{{.Comment}}", "hist:1")
    lines = r.stdout.splitlines()
    assert lines[0] == "sh -c echo x > /made|a note"  # the container's Cmd, as Docker records
    assert lines[1] == '/bin/sh -c #(nop)  CMD ["sh"]|'
    assert docker(engine, "rmi", "hist:1").returncode == 0
    r = docker(engine, "system", "prune", "-f")  # calls /build/prune too
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("Deleted Containers:\n")
    assert r.stdout.splitlines()[-1].startswith("Total reclaimed space:")
    assert docker(engine, "ps", "-aq").stdout == ""


def test_docker_builder_prune(engine: Engine) -> None:
    r = docker(engine, "builder", "prune", "-f")
    assert (r.returncode, r.stdout) == (0, "Total reclaimed space: 0B\n"), r.stderr
