"""Helpers for network kernel tests: run code inside a netns, serve and fetch there.

Everything a helper starts is a child process of the test, stopped and
reaped by the helper's context manager.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator

BUSYBOX = "/bin/busybox"


def enter(path: str) -> None:
    """Make the calling (single-threaded, forked) process join the netns at ``path``."""
    from berth.kernel import consts as c
    from berth.kernel.syscalls import SYSCALLS

    fd = os.open(path, os.O_RDONLY)
    try:
        SYSCALLS.setns(fd, c.CLONE_NEWNET, what=path)
    finally:
        os.close(fd)


def in_netns(path: str, fn: Callable[[], object], timeout: float = 10.0) -> str:
    """Run ``fn`` in a forked child inside the netns; return repr of its result
    (or ``"!Error: ..."``)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        os.close(r)
        try:
            signal.alarm(int(timeout) + 1)
            enter(path)
            out = repr(fn())
        except BaseException as e:
            out = f"!{type(e).__name__}: {e}"
        os.write(w, out.encode())
        os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return data.decode()


@contextlib.contextmanager
def tcp_server(netns_path: str | None, port: int, reply: bytes = b"hello") -> Iterator[int]:
    """A child process (in the netns, or here when None) that answers every TCP
    connection on ``port`` with ``reply`` + what the peer address was; yields its pid."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        os.close(r)
        try:
            if netns_path:
                enter(netns_path)
            srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            srv.bind(("0.0.0.0", port))
            srv.listen(64)
            os.write(w, b"ok")
            os.close(w)
            while True:
                conn, addr = srv.accept()
                with conn:
                    conn.settimeout(2)
                    try:
                        conn.sendall(reply + b" " + addr[0].encode())
                    except OSError:
                        pass
        except BaseException as e:
            try:
                os.write(w, f"!{e}".encode())
            except OSError:
                pass
        os._exit(0)
    os.close(w)
    ready = os.read(r, 512)
    os.close(r)
    try:
        if ready != b"ok":
            raise RuntimeError(f"test server did not start: {ready!r}")
        yield pid
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


@contextlib.contextmanager
def host_dummy(name: str, address: str) -> Iterator[None]:
    """A dummy interface with ``address`` on the host (removed afterwards)."""
    subprocess.run(["ip", "link", "add", name, "type", "dummy"], check=True)
    try:
        subprocess.run(["ip", "addr", "add", address, "dev", name], check=True)
        subprocess.run(["ip", "link", "set", name, "up"], check=True)
        yield
    finally:
        subprocess.run(["ip", "link", "del", name], check=False)


def fetch(host: str, port: int, timeout: float = 3.0) -> str:
    """Connect, read what the server says, return it ("" on refusal/timeout)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            data = b""
            while chunk := s.recv(4096):
                data += chunk
            return data.decode()
    except OSError as e:
        return f"!{type(e).__name__}: {e}"


def fetch_from(netns_path: str, host: str, port: int, timeout: float = 3.0) -> str:
    out = in_netns(netns_path, lambda: fetch(host, port, timeout), timeout + 2)
    return eval(out) if not out.startswith("!") else out  # repr of a str


def resolve_in(
    netns_path: str, name: str, server: str = "127.0.0.11", qtype: int = 1, timeout: float = 3
) -> str:
    """Ask the embedded DNS inside the netns; return repr of (rcode, [addresses])."""

    def ask() -> tuple[int, list[str]]:
        from berth.network import dnsmsg

        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(timeout)
        s.sendto(dnsmsg.query(name, qtype, ident=4242), (server, 53))
        msg = dnsmsg.parse(s.recv(4096))
        s.close()
        return msg.rcode, [".".join(str(b) for b in a.rdata) for a in msg.answers if a.rtype == 1]

    return in_netns(netns_path, ask)


def wait_for(cond: Callable[[], bool], timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return cond()
