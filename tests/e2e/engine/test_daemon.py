"""berthd as a user runs it: the berth CLI against a daemon on temporary dirs."""

from __future__ import annotations

import json
import os
import signal
import socket
import time

import pytest

from support.engine_daemon import PYTHON, Engine, ping


def raw(sock_path: str, data: bytes) -> bytes:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(sock_path)
    s.sendall(data)
    out = b""
    while True:
        piece = s.recv(65536)
        if not piece:
            break
        out += piece
    s.close()
    return out


def test_version_reports_client_and_server(berthd: Engine) -> None:
    r = berthd.run(["version"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("Client:\n Version:           0.1.0\n API version:       1.45\n")
    assert "\nServer: berth\n Engine:\n  Version:          0.1.0\n" in r.stdout
    assert "  API version:      1.45 (minimum version 1.24)\n" in r.stdout
    r = berthd.run(["version", "--format", "{{.Server.ApiVersion}} {{.Client.Version}}"])
    assert r.stdout == "1.45 0.1.0\n"


def test_info_shows_the_engine(berthd: Engine) -> None:
    r = berthd.run(["info"])
    assert r.returncode == 0, r.stderr
    assert f" Berth Root Dir: {berthd.root}\n" in r.stdout
    assert " Cgroup Driver: cgroupfs\n" in r.stdout
    assert f" CPUs: {len(os.sched_getaffinity(0))}\n" in r.stdout
    doc = json.loads(berthd.run(["info", "--format", "{{json .}}"]).stdout)
    assert doc["DockerRootDir"] == berthd.root
    assert doc["SecurityOptions"] == ["name=seccomp,profile=builtin"]
    assert doc["ID"] == open(os.path.join(berthd.root, "engine-id")).read().strip()
    r = berthd.run(["system", "df"])
    assert r.stdout.splitlines()[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]


def test_events_since_until_and_live_reload(berthd: Engine) -> None:
    start = time.time()
    os.kill(berthd.pid, signal.SIGHUP)  # reload: publishes "daemon reload"
    deadline = time.monotonic() + 10
    while "configuration reloaded" not in berthd.log() and time.monotonic() < deadline:
        time.sleep(0.02)
    until = f"{time.time() + 0.5:.9f}"
    r = berthd.run(["events", "--since", f"{start - 1:.3f}", "--until", until])
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 1
    assert " daemon reload " in lines[0] and "name=" in lines[0]
    r = berthd.run(
        ["events", "--since", "1m", "--until", until, "--format", "{{.Type}}/{{.Action}}"]
    )
    assert r.stdout == "daemon/reload\n"
    r = berthd.run(["events", "--since", "1m", "--until", until, "--filter", "type=container"])
    assert r.stdout == ""


def test_events_stream_live(berthd: Engine) -> None:
    import subprocess

    proc = subprocess.Popen(
        [PYTHON, "-m", "berth.cli.main", "events", "--format", "{{json .}}"],
        stdout=subprocess.PIPE,
        env=berthd.env,
    )
    try:
        # the stream is open once the daemon counts a listener
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            doc = json.loads(berthd.run(["info", "--format", "{{json .}}"]).stdout)
            if doc["NEventsListener"] == 1:
                break
            time.sleep(0.05)
        os.kill(berthd.pid, signal.SIGHUP)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        ev = json.loads(line)
        assert ev["Type"] == "daemon" and ev["Action"] == "reload"
        assert ev["Actor"]["ID"] == doc["ID"]
    finally:
        proc.kill()
        proc.wait()


def test_bad_requests_get_docker_errors(berthd: Engine) -> None:
    out = raw(berthd.socket, b"GET /v1.41/nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 404 Not Found\r\n")
    assert out.endswith(b'{"message":"page not found"}\n')
    out = raw(berthd.socket, b"GET /v1.99/version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400 ")
    assert b"client version 1.99 is too new. Maximum supported API version is 1.45" in out
    out = raw(berthd.socket, b"GARBAGE\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400 ") and b'"message":"malformed HTTP request line' in out
    out = raw(
        berthd.socket,
        b"GET /events?since=abc HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    assert out.startswith(b"HTTP/1.1 400 ") and b"'since'" in out
    out = raw(
        berthd.socket,
        b"GET /events?filters=%7Bbad HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    assert out.startswith(b"HTTP/1.1 400 ") and b"invalid filters" in out
    huge = b"GET /_ping HTTP/1.1\r\nX-Big: " + b"a" * 300_000 + b"\r\n\r\n"
    out = raw(berthd.socket, huge)
    assert out.startswith(b"HTTP/1.1 431 ")


def test_cli_errors_and_exit_codes(berthd: Engine) -> None:
    r = berthd.run(["version", "--nope"])
    assert (r.returncode, r.stderr) == (125, "unknown flag: --nope\nSee 'berth version --help'.\n")
    r = berthd.run(["version", "extra"])
    assert r.returncode == 1
    assert r.stderr.startswith('"berth version" accepts no arguments.\n')
    r = berthd.run(["nope"])
    assert r.returncode == 1 and "'nope' is not a berth command" in r.stderr
    env = dict(berthd.env, BERTH_HOST=f"unix://{berthd.base}/none.sock")
    r = berthd.run(["info"], env=env)
    assert r.returncode == 1
    assert f"Cannot connect to the berth daemon at unix://{berthd.base}/none.sock" in r.stderr


def test_second_daemon_on_the_same_root_is_refused(berthd: Engine, engine_factory: object) -> None:
    other = Engine(base=berthd.base + "-2")
    try:
        other.root = berthd.root  # same data root, its own exec root and socket
        import subprocess

        r = subprocess.run(
            other.daemon_argv(), capture_output=True, text=True, timeout=30, env=other.env
        )
        assert r.returncode == 1
        assert f"another berthd (pid {berthd.pid}) is running with data-root {berthd.root}" in (
            r.stderr
        )
        assert ping(berthd.socket)
    finally:
        other.cleanup()


def test_sigterm_stops_cleanly(berthd: Engine) -> None:
    pidfile = os.path.join(berthd.exec_root, "berthd.pid")
    assert open(pidfile).read().strip() == str(berthd.pid)
    assert berthd.stop() == 0
    assert not os.path.exists(berthd.socket)
    assert not os.path.exists(pidfile)
    assert "stopping (containers keep running)" in berthd.log()


def test_daemon_config_file_and_flags(engine_factory: object) -> None:
    make = engine_factory  # type: ignore[assignment]
    e = make(config='{"labels": ["rack=a1"], "insecure-registries": ["10.1.0.0/16"]}')
    e.start("--registry-mirror", "https://mirror.test")
    doc = json.loads(e.run(["info", "--format", "{{json .}}"]).stdout)
    assert doc["Labels"] == ["rack=a1"]
    assert "10.1.0.0/16" in doc["RegistryConfig"]["InsecureRegistryCIDRs"]
    assert doc["RegistryConfig"]["Mirrors"] == ["https://mirror.test"]
    e.stop()
    bad = make(config='{"labels": ["x=1"], "nope": 1}')
    import subprocess

    r = subprocess.run(bad.daemon_argv(), capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "the following directives don't match any configuration option: nope" in r.stderr
    r = subprocess.run(
        bad.daemon_argv("-H", "tcp://0.0.0.0:2375"), capture_output=True, text=True, timeout=30
    )
    assert r.returncode == 1


@pytest.mark.parametrize("via", ["BERTH_HOST", "-H"])
def test_autostart_when_nothing_answers(engine_factory: object, via: str) -> None:
    e = engine_factory()  # type: ignore[operator]
    env = dict(e.env)
    env.pop("BERTH_NO_AUTOSTART")
    args = ["version", "--format", "{{.Server.Version}}"]
    if via == "-H":
        env.pop("BERTH_HOST")
        args = ["-H", e.host, *args]
    r = e.run(args, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "0.1.0\n"
    pid = int(open(os.path.join(e.exec_root, "berthd.pid")).read())
    assert os.getsid(pid) != os.getsid(0)  # detached into its own session
    assert os.getppid() != pid
    assert "berthd 0.1.0 started" in open(os.path.join(e.exec_root, "berthd.log")).read()
    # a second CLI uses the running daemon, it does not start another
    r = e.run(args, env=env)
    assert r.returncode == 0
    assert int(open(os.path.join(e.exec_root, "berthd.pid")).read()) == pid
    e.stop_pidfile()


def test_autostart_failure_names_the_log(engine_factory: object) -> None:
    e = engine_factory(config='{"nope": true}')  # type: ignore[operator]
    env = dict(e.env)
    env.pop("BERTH_NO_AUTOSTART")
    r = e.run(["info"], env=env)
    assert r.returncode == 1
    assert "exited before answering" in r.stderr
    assert os.path.join(e.exec_root, "berthd.log") in r.stderr
    assert "don't match any configuration option: nope" in r.stderr
