"""berthd asks the monitor's protocol version once per monitor process.

A monitor outlives the berthd that started it, so the one that runs may be
older than berthd: what a version added (``plan_first``: version 2) is used
only when the monitor says it has it.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.engine.monitor.protocol import PID_NAME, SOCKET_NAME, ShimClient, encode


class FakeMonitor:
    """Answers ``ping`` on the monitor's socket as a monitor of ``version`` with ``pid``."""

    def __init__(self, exec_root: Path) -> None:
        self.exec_root = exec_root
        self.pid, self.version, self.pings = 0, 1, 0
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(exec_root / SOCKET_NAME))
        self.sock.listen(8)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def become(self, pid: int, version: int) -> None:
        self.pid, self.version = pid, version
        (self.exec_root / PID_NAME).write_text(str(pid))

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                assert b'"ping"' in conn.recv(4096)
                self.pings += 1
                conn.sendall(encode({"ok": True, "pid": self.pid, "version": self.version}))


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeMonitor]:
    m = FakeMonitor(tmp_path)
    try:
        yield m
    finally:
        m.sock.shutdown(socket.SHUT_RDWR)  # (wakes its accept)
        m.sock.close()
        m.thread.join(5)


def test_the_version_is_asked_once_per_monitor_process(fake: FakeMonitor, tmp_path: Path) -> None:
    client = ShimClient(str(tmp_path / "root"), str(tmp_path))
    fake.become(4242, 1)  # an older monitor, still running
    assert client.version() == 1
    assert client.version() == 1
    assert fake.pings == 1
    fake.become(4343, 2)  # a new one (its pid file says so)
    assert client.version() == 2
    assert client.version() == 2
    assert fake.pings == 2
