"""berth run in one request (berth.api.run_session), and its fallback to docker's
four requests when the daemon does not answer with a session."""

from __future__ import annotations

import json
import os
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.engine_daemon import Engine


def run(engine: Engine, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    r = engine.run(list(args), timeout=60, env=env or engine.env)
    return r.returncode, r.stdout, r.stderr


def test_session_streams_exit_status_and_warnings(engine: Engine) -> None:
    code, out, err = run(
        engine,
        "run",
        "--rm",
        "--ulimit",
        "nofile=1000000:1000000",  # above the host's hard limit: clamped, with a warning
        "busybox",
        "sh",
        "-c",
        "ulimit -n; echo err >&2; exit 3",
    )
    assert code == 3, err
    assert int(out) < 1000000
    assert err.count("WARNING:") == 1 and "nofile" in err and err.endswith("err\n")
    assert run(engine, "ps", "-a", "-q")[1] == ""


def test_session_start_failure(engine: Engine) -> None:
    code, _, err = run(engine, "run", "--rm", "busybox", "no-such-program")
    assert code == 127 and 'exec: "no-such-program": executable file not found' in err
    assert run(engine, "ps", "-a", "-q")[1] == ""  # --rm: removed by the daemon
    code, _, err = run(engine, "run", "--name", "failed", "busybox", "/etc/passwd")
    assert code == 126 and "permission denied" in err
    info = json.loads(run(engine, "inspect", "failed")[1])[0]
    assert info["State"]["Status"] == "created"
    assert run(engine, "rm", "failed")[0] == 0


def test_session_with_a_tty(engine: Engine) -> None:
    code, out, err = run(
        engine, "run", "--rm", "-t", "busybox", "sh", "-c", "test -t 1 && echo tty; exit 5"
    )
    assert (code, out) == (5, "tty\n"), err  # (\r\n read as text)


def test_session_input_and_next_exit(engine: Engine) -> None:
    r = engine.run(["run", "-i", "--name", "kept", "busybox", "tr", "a-z", "A-Z"], input=b"abc\n")
    assert (r.returncode, r.stdout) == (0, "ABC\n"), r.stderr
    info = json.loads(run(engine, "inspect", "kept")[1])[0]
    assert info["State"]["Status"] == "exited" and info["State"]["ExitCode"] == 0
    assert run(engine, "rm", "kept")[0] == 0


def test_session_outlives_the_end_of_input_and_output(engine: Engine) -> None:
    # the client's input ended (its side of the connection half-closed) and the
    # container closed its output, then ran on: the session ends with its status
    r = engine.run(
        ["run", "-i", "--rm", "busybox", "sh", "-c", "cat; exec >&- 2>&-; sleep 1.5; exit 7"],
        input=b"through\n",
    )
    assert (r.returncode, r.stdout) == (7, "through\n"), r.stderr


class _Proxy:
    """A unix-socket proxy to berthd that turns ``berthRun=1`` into ``berthRun=0``
    (a daemon that does not start a session) and notes the requests it passes."""

    def __init__(self, upstream: str, path: Path) -> None:
        self.upstream = upstream
        self.path = str(path)
        self.requests: list[str] = []
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(16)
        self.threads: list[threading.Thread] = []
        self.sockets: list[socket.socket] = []
        self._spawn(self._accept)

    def _spawn(self, fn: object, *args: object) -> None:
        t = threading.Thread(target=fn, args=args, daemon=True)  # type: ignore[arg-type]
        self.threads.append(t)
        t.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            server.connect(self.upstream)
            self.sockets += [client, server]
            self._spawn(self._copy, client, server, True)
            self._spawn(self._copy, server, client, False)

    def _copy(self, src: socket.socket, dst: socket.socket, requests: bool) -> None:
        try:
            while data := src.recv(65536):
                if requests:
                    data = data.replace(b"berthRun=1", b"berthRun=0")
                    for line in data.split(b"\r\n"):
                        if line.startswith((b"POST ", b"GET ", b"DELETE ")):
                            self.requests.append(line.decode().split()[1].split("?")[0])
                dst.sendall(data)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        self.listener.close()
        for s in self.sockets:
            s.close()
        for t in self.threads:
            t.join(5)
        os.unlink(self.path)


@pytest.fixture
def proxy(engine: Engine, tmp_path: Path) -> Iterator[_Proxy]:
    p = _Proxy(engine.socket, tmp_path / "proxy.sock")
    try:
        yield p
    finally:
        p.close()


def test_a_daemon_without_sessions_gets_dockers_requests(engine: Engine, proxy: _Proxy) -> None:
    env = dict(engine.env, BERTH_HOST=f"unix://{proxy.path}")
    code, out, err = run(
        engine, "run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 4", env=env
    )
    assert (code, out, err) == (4, "out\n", "err\n"), err
    code, _, err = run(engine, "run", "--rm", "busybox", "no-such-program", env=env)
    assert code == 127 and "executable file not found" in err
    assert run(engine, "ps", "-a", "-q")[1] == ""
    paths = [re.sub(r"^/v[0-9.]+/", "", p) for p in proxy.requests]
    assert paths.count("containers/create") == 2
    assert sum(p.endswith("/attach") for p in paths) == 2
    assert sum(p.endswith("/start") for p in paths) == 2
