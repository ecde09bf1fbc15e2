"""Fixtures of the network area (registered in tests/conftest.py).

- ``host_sysctls``: records the network sysctls berth may change
  (:data:`support.hoststate.SYSCTLS`) and writes them back at teardown.
- ``dns_upstream``: a fake upstream DNS server on 127.0.0.1 (a thread of the
  test) that answers every A question with 203.0.113.7; yields its port.
- ``network_manager``: a started :class:`~berth.network.manager.NetworkManager`
  on a temporary database and exec root, with its own nft table
  (``berthtest``) and default bridge (``bt0``), forwarding its DNS to
  ``dns_upstream``; at teardown every container's network, every bridge and
  the table are removed (:meth:`NetworkManager.uninstall`).
- ``outside_netns``: a namespace that plays "the internet": reached from the
  host by a veth (host 198.51.100.1/24, outside 198.51.100.2/24) with no
  route back to container subnets, so only masqueraded traffic gets answers.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.hoststate import SYSCTLS

TABLE = "berthtest"
BRIDGE = "bt0"
UPSTREAM_ANSWER = "203.0.113.7"


@pytest.fixture
def host_sysctls() -> Iterator[dict[str, str]]:
    saved = {}
    for name in SYSCTLS:
        try:
            with open(f"/proc/sys/{name}") as f:
                saved[name] = f.read().strip()
        except OSError:
            continue
    yield saved
    for name, value in saved.items():
        with open(f"/proc/sys/{name}") as f:
            if f.read().strip() == value:
                continue
        with open(f"/proc/sys/{name}", "w") as f:
            f.write(value)


@pytest.fixture
def dns_upstream() -> Iterator[int]:
    from berth.network import dnsmsg

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                data, addr = sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            msg = dnsmsg.parse(data)
            q = msg.questions[0]
            answers = dnsmsg.a_records(q.qname, [UPSTREAM_ANSWER]) if q.qtype == 1 else []
            sock.sendto(dnsmsg.reply(msg, answers), addr)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield sock.getsockname()[1]
    stop.set()
    t.join()
    sock.close()


@pytest.fixture
def network_manager(
    tmp_path: Path, host_sysctls: dict[str, str], dns_upstream: int
) -> Iterator[object]:
    from berth.network.manager import NetworkManager
    from berth.store.db import Database

    db = Database(str(tmp_path / "berth.db"))
    nm = NetworkManager(
        db,
        str(tmp_path / "run"),
        table=TABLE,
        default_bridge=BRIDGE,
        dns_upstreams=[("127.0.0.1", dns_upstream)],
    )
    try:
        nm.start(set())
        yield nm
    finally:
        try:
            nm.uninstall()
        finally:
            nm.close()
            db.close()


@pytest.fixture
def outside_netns(tmp_path: Path) -> Iterator[str]:
    from berth.kernel import netns

    path = str(tmp_path / "outside")
    netns.create(path)
    try:
        subprocess.run(
            [
                "ip",
                "link",
                "add",
                "bto-host",
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                path,
            ],
            check=True,
        )
        subprocess.run(["ip", "addr", "add", "198.51.100.1/24", "dev", "bto-host"], check=True)
        subprocess.run(["ip", "link", "set", "bto-host", "up"], check=True)
        for cmd in (
            ["ip", "addr", "add", "198.51.100.2/24", "dev", "eth0"],
            ["ip", "link", "set", "eth0", "up"],
        ):
            subprocess.run(["nsenter", f"--net={path}", *cmd], check=True)
        yield path
    finally:
        subprocess.run(["ip", "link", "del", "bto-host"], check=False, capture_output=True)
        netns.remove(path)
        if os.path.exists(path):
            os.unlink(path)
