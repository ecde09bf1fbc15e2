"""docker-compose (Debian's 1.29, a docker-py client) drives berthd unchanged."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from support.engine_daemon import Engine
from support.network_engine import free_port, http_get, ok, wait_for

COMPOSE = shutil.which("docker-compose")

SERVICES = """\
version: "3.8"
services:
  web:
    image: busybox
    command:
      - sh
      - -c
      - mkdir -p /www && echo "hello from $$(hostname)" > /www/index.html
        && exec httpd -f -p 80 -h /www
    ports:
      - "127.0.0.1:{port}:80"
    stop_signal: SIGKILL
  client:
    image: busybox
    command: sh -c 'until wget -qO- http://web/; do sleep 0.1; done; exec sleep 300'
    stop_signal: SIGKILL
    depends_on: [web]
"""


def compose(engine: Engine, project: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = engine.env
    env["DOCKER_HOST"] = engine.host
    return subprocess.run(
        [str(COMPOSE), "--no-ansi", "-p", "demo", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=project,
    )


@pytest.mark.skipif(COMPOSE is None, reason="docker-compose is not installed")
def test_compose_up_ps_logs_exec_down(engine: Engine, tmp_path: object) -> None:
    project = os.path.join(str(tmp_path), "proj")
    os.makedirs(project)
    port = free_port()
    with open(os.path.join(project, "docker-compose.yml"), "w") as f:
        f.write(SERVICES.format(port=port))
    try:
        r = compose(engine, project, "up", "-d")
        assert r.returncode == 0, r.stderr
        assert "Creating demo_web_1 ... done" in r.stderr

        # the web service answers through its published port with its own hostname
        assert wait_for(lambda: "hello from" in http_get("127.0.0.1", port))
        web_host = compose(engine, project, "exec", "-T", "web", "hostname").stdout.strip()
        assert http_get("127.0.0.1", port) == f"hello from {web_host}\n"

        # the client reached it by its service name through the project's network
        assert wait_for(lambda: web_host in compose(engine, project, "logs", "client").stdout)

        r = compose(engine, project, "ps")
        assert r.returncode == 0, r.stderr
        rows = {line.split()[0]: line for line in r.stdout.splitlines()[2:]}
        assert set(rows) == {"demo_web_1", "demo_client_1"}
        assert f"127.0.0.1:{port}->80/tcp" in rows["demo_web_1"]
        assert all(" Up " in line for line in rows.values())

        net = json.loads(ok(engine, "network", "inspect", "demo_default"))[0]
        names = sorted(c["Name"] for c in net["Containers"].values())
        assert names == ["demo_client_1", "demo_web_1"]
        web = json.loads(ok(engine, "inspect", "demo_web_1"))[0]
        assert "web" in web["NetworkSettings"]["Networks"]["demo_default"]["Aliases"]
    finally:
        r = compose(engine, project, "down")
    assert r.returncode == 0, r.stderr
    assert "Removing network demo_default" in r.stderr
    assert ok(engine, "ps", "-aq") == ""
    assert "demo_default" not in ok(engine, "network", "ls")


HEALTHY = """\
version: "3.8"
services:
  db:
    image: busybox
    command: sh -c 'sleep 1; touch /tmp/ready; exec sleep 300'
    healthcheck:
      test: ["CMD-SHELL", "test -e /tmp/ready"]
      interval: 200ms
      retries: 20
    stop_signal: SIGKILL
  app:
    image: busybox
    command: sleep 300
    stop_signal: SIGKILL
    depends_on:
      db:
        condition: service_healthy
"""


@pytest.mark.skipif(COMPOSE is None, reason="docker-compose is not installed")
def test_compose_waits_for_a_healthy_dependency(engine: Engine, tmp_path: object) -> None:
    project = os.path.join(str(tmp_path), "proj")
    os.makedirs(project)
    with open(os.path.join(project, "docker-compose.yml"), "w") as f:
        f.write(HEALTHY)
    try:
        r = compose(engine, project, "up", "-d")
        assert r.returncode == 0, r.stderr
        db = json.loads(ok(engine, "inspect", "demo_db_1"))[0]
        app = json.loads(ok(engine, "inspect", "demo_app_1"))[0]
        health = db["State"]["Health"]
        assert health["Status"] == "healthy"
        healthy_at = next(e["End"] for e in health["Log"] if e["ExitCode"] == 0)
        assert app["State"]["StartedAt"] > healthy_at  # started once db was healthy
        assert db["Config"]["Healthcheck"]["Interval"] == 200_000_000
    finally:
        r = compose(engine, project, "down")
    assert r.returncode == 0, r.stderr
    assert ok(engine, "ps", "-aq") == ""


BUILT = """\
version: "3.8"
services:
  app:
    build: ./app
    image: demo-app:dev
    command: sh -c 'cat /built; sleep 300'
    stop_signal: SIGKILL
"""


@pytest.mark.skipif(COMPOSE is None, reason="docker-compose is not installed")
def test_compose_builds_a_service(engine: Engine, tmp_path: object) -> None:
    project = os.path.join(str(tmp_path), "proj")
    os.makedirs(os.path.join(project, "app"))
    with open(os.path.join(project, "docker-compose.yml"), "w") as f:
        f.write(BUILT)
    with open(os.path.join(project, "app", "Dockerfile"), "w") as f:
        f.write("FROM busybox\nRUN echo built by compose > /built\n")
    try:
        r = compose(engine, project, "build")
        assert r.returncode == 0, r.stderr
        assert "Successfully tagged demo-app:dev" in r.stdout + r.stderr
        r = compose(engine, project, "up", "-d")
        assert r.returncode == 0, r.stderr
        assert wait_for(lambda: "built by compose" in compose(engine, project, "logs").stdout)
    finally:
        r = compose(engine, project, "down", "--rmi", "all")
    assert r.returncode == 0, r.stderr
    assert ok(engine, "ps", "-aq") == ""
    assert "demo-app" not in ok(engine, "images")
