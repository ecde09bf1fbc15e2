"""OCI hooks with the state on stdin, and the terminal handed over a console socket."""

from __future__ import annotations

import array
import json
import os
import socket
import threading
import time
from pathlib import Path

from support.fixtures_runtime import RuntimeHandle

KINDS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")


def test_all_six_hooks_run_in_order_with_state(runtime: RuntimeHandle, tmp_path: Path) -> None:
    log = tmp_path / "hooks.log"
    log.write_text("")
    log.chmod(0o666)
    hooks = {}
    for kind in KINDS:
        # createContainer/startContainer run inside the container's namespaces;
        # startContainer even after pivot_root, so its program is the container's sh.
        if kind == "startContainer":
            hooks[kind] = [
                {"path": "/bin/sh", "args": ["sh", "-c", f"echo {kind} >> /hooklog/hooks.log"]}
            ]
        else:
            hooks[kind] = [
                {
                    "path": "/bin/sh",
                    "args": ["sh", "-c", f'read s; echo "{kind} $s" >> {log}'],
                    "env": ["A=1"],
                    "timeout": 10,
                }
            ]
    b = runtime.bundle(["true"], hooks=hooks)
    b.update(
        mounts=[
            *b.spec["mounts"],
            {
                "destination": "/hooklog",
                "type": "bind",
                "source": str(tmp_path),
                "options": ["rbind"],
            },
        ]
    )
    r = runtime.run("run", "--bundle", str(b.path), b.path.name)
    assert r.returncode == 0, r.stderr
    lines = log.read_text().splitlines()
    assert [line.split()[0] for line in lines] == list(KINDS)
    states = {line.split()[0]: json.loads(line.split(" ", 1)[1]) for line in lines if "{" in line}
    assert states["prestart"]["status"] == "creating"
    assert states["createContainer"]["status"] == "created"
    assert states["poststart"]["status"] == "running"
    assert states["poststop"]["status"] == "stopped"
    assert states["prestart"]["id"] == b.path.name
    assert states["prestart"]["pid"] == states["poststart"]["pid"] > 0
    assert states["prestart"]["bundle"] == str(b.path)


def test_failing_create_hook_fails_create_and_cleans_up(runtime: RuntimeHandle) -> None:
    hooks = {"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "echo nope >&2; exit 3"]}]}
    r = runtime.container(["true"], hooks=hooks)
    assert r.returncode == 1
    assert "createRuntime hook #0 (/bin/sh) failed with exit status 3: nope" in r.stderr
    assert runtime.ids() == []


def test_hook_timeout(runtime: RuntimeHandle) -> None:
    hooks = {"prestart": [{"path": "/bin/sleep", "args": ["sleep", "5"], "timeout": 1}]}
    t0 = time.monotonic()
    r = runtime.container(["true"], hooks=hooks)
    assert r.returncode == 1
    assert "did not finish within 1s" in r.stderr
    assert time.monotonic() - t0 < 4


def _console_server(path: str, got: dict[str, object]) -> socket.socket:
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)

    def accept() -> None:
        conn, _ = srv.accept()
        fds = array.array("i")
        msg, anc, _, _ = conn.recvmsg(1024, socket.CMSG_SPACE(fds.itemsize))
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(data[: fds.itemsize])
        got["name"] = msg
        master = fds[0]
        out = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        got["output"] = out
        os.close(master)
        conn.close()

    threading.Thread(target=accept, daemon=True).start()
    return srv


def test_terminal_through_console_socket(runtime: RuntimeHandle, tmp_path: Path) -> None:
    sock_path = str(tmp_path / "console.sock")
    got: dict[str, object] = {}
    srv = _console_server(sock_path, got)
    try:
        b = runtime.bundle(
            ["sh", "-c", "tty; stty size; echo $TERM"],
            process={
                "terminal": True,
                "consoleSize": {"height": 33, "width": 111},
                "env": ["PATH=/bin", "TERM=xterm"],
            },
        )
        cid = b.path.name
        r = runtime.run("create", "--bundle", str(b.path), "--console-socket", sock_path, cid)
        assert r.returncode == 0, r.stderr
        runtime.run("start", cid, check=True)
        deadline = time.monotonic() + 10
        while "output" not in got:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        text = bytes(got["output"]).decode()  # type: ignore[arg-type]
        lines = [line.strip() for line in text.splitlines()]
        assert lines[0] in ("/dev/console", "/dev/pts/0")
        assert lines[1] == "33 111"
        assert lines[2] == "xterm"
        runtime.run("delete", "-f", cid, check=True)
    finally:
        srv.close()


def test_terminal_without_console_socket_is_refused_for_create(runtime: RuntimeHandle) -> None:
    b = runtime.bundle(["true"], process={"terminal": True})
    r = runtime.run("create", "--bundle", str(b.path), b.path.name)
    assert r.returncode == 1
    assert "needs --console-socket" in r.stderr
    assert runtime.ids() == []
