"""Docker's own clients against berthd: the docker CLI (20.10 and newer) and docker-py."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time

import pytest

from support.engine_daemon import Engine

DOCKER_CLIS = [p for p in ("/usr/bin/docker", "/usr/local/bin/docker") if shutil.which(p)]


def docker(engine: Engine, cli: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = engine.env
    env["DOCKER_HOST"] = engine.host
    return subprocess.run([cli, *args], capture_output=True, text=True, timeout=60, env=env)


@pytest.mark.skipif(not DOCKER_CLIS, reason="no docker CLI installed")
@pytest.mark.parametrize("cli", DOCKER_CLIS)
def test_docker_cli_version_info_events(berthd: Engine, cli: str) -> None:
    r = docker(berthd, cli, "version")
    assert r.returncode == 0, r.stderr
    assert "\nServer: berth\n Engine:\n  Version:          0.1.0\n" in r.stdout
    assert "API version:      1.45 (minimum version 1.24)" in r.stdout
    r = docker(berthd, cli, "version", "--format", "{{.Server.Version}} {{.Server.APIVersion}}")
    assert r.stdout == "0.1.0 1.45\n"
    r = docker(berthd, cli, "info")
    assert r.returncode == 0, r.stderr
    assert f" Docker Root Dir: {berthd.root}\n" in r.stdout
    assert " Server Version: 0.1.0\n" in r.stdout
    r = docker(berthd, cli, "info", "--format", "{{.Name}} {{.NCPU}} {{.CgroupDriver}}")
    assert r.stdout == f"{os.uname().nodename} {len(os.sched_getaffinity(0))} cgroupfs\n"
    start = time.time()
    os.kill(berthd.pid, signal.SIGHUP)
    deadline = time.monotonic() + 10
    while "configuration reloaded" not in berthd.log() and time.monotonic() < deadline:
        time.sleep(0.02)
    r = docker(
        berthd,
        cli,
        "events",
        "--since",
        f"{start - 1:.3f}",
        "--until",
        f"{time.time():.3f}",
        "--format",
        "{{json .}}",
    )
    assert r.returncode == 0, r.stderr
    ev = json.loads(r.stdout.splitlines()[0])
    assert (ev["Type"], ev["Action"]) == ("daemon", "reload")
    r = docker(berthd, cli, "system", "df")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[1].split()[:3] == ["Images", "0", "0"]


def test_docker_py(berthd: Engine) -> None:
    docker_py = pytest.importorskip("docker")
    client = docker_py.DockerClient(base_url=berthd.host, version="auto", timeout=30)
    try:
        assert client.ping() is True
        v = client.version()
        assert v["ApiVersion"] == "1.45" and v["Version"] == "0.1.0"
        assert v["Components"][0]["Name"] == "Engine"
        info = client.info()
        assert info["DockerRootDir"] == berthd.root
        assert info["OSType"] == "linux"
        df = client.df()
        assert df["Images"] == [] and df["LayersSize"] == 0
        start = time.time()
        os.kill(berthd.pid, signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "configuration reloaded" not in berthd.log() and time.monotonic() < deadline:
            time.sleep(0.02)
        events = list(
            client.events(
                since=int(start) - 1,
                until=time.time() + 0.2,
                decode=True,
                filters={"type": "daemon"},
            )
        )
        assert [(e["Type"], e["Action"]) for e in events] == [("daemon", "reload")]
        with pytest.raises(docker_py.errors.NotFound) as err:
            client.api.inspect_container("nope")
        assert "No such container: nope" in str(err.value)
    finally:
        client.close()
