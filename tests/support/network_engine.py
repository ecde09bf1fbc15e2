"""Helpers for the network tests that go through a whole engine (berthd + the CLI).

- :func:`host_ip` -- the host's own address (the source of its default route);
- :func:`free_port` -- a TCP port nothing listens on now;
- :func:`http_get` -- a GET from the test process ("" when refused or timed out);
- :class:`Traces` -- what an engine's networking leaves on the host for its
  containers: ``bv*`` veths, netns files, published-port elements in its nft table.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Callable

from support.engine_daemon import Engine


def host_ip() -> str:
    """The address this host uses to reach the outside (eth0's: 192.0.2.2 here)."""
    out = subprocess.run(
        ["ip", "-4", "-o", "route", "get", "192.0.2.123"], capture_output=True, text=True
    ).stdout
    words = out.split()
    if "src" in words:
        return words[words.index("src") + 1]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("192.0.2.123", 9))
        return str(s.getsockname()[0])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return int(s.getsockname()[1])


def http_get(host: str, port: int, path: str = "/", timeout: float = 3.0) -> str:
    """The body of ``GET path`` ("" on any failure)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
            data = b""
            while chunk := s.recv(65536):
                data += chunk
    except OSError:
        return ""
    head, _, body = data.partition(b"\r\n\r\n")
    return body.decode() if head.startswith(b"HTTP/1.") and b" 200 " in head[:16] else ""


def wait_for(cond: Callable[[], object], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return bool(cond())


def berth(engine: Engine, *args: str, timeout: float = 60) -> tuple[int, str, str]:
    r = engine.run(list(args), timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def ok(engine: Engine, *args: str) -> str:
    code, out, err = berth(engine, *args)
    assert code == 0, f"berth {' '.join(args)}: exit {code}: {err}"
    return out


def inspect(engine: Engine, ref: str) -> dict[str, object]:
    doc: dict[str, object] = json.loads(ok(engine, "inspect", ref))[0]
    return doc


class Traces:
    """What an engine's container networking holds on the host right now."""

    def __init__(self, engine: Engine) -> None:
        from berth.engine.config import DEFAULT_ROOT
        from berth.network.manager import engine_names

        self.engine = engine
        self.bridge, self.table = engine_names(engine.root, DEFAULT_ROOT)

    def bridges(self) -> set[str]:
        """This engine's bridges: the default one and ``br-<id12>`` of its networks."""
        ids = ok(self.engine, "network", "ls", "-q", "--no-trunc").split()
        return {self.bridge} | {f"br-{i[:12]}" for i in ids}

    def veths(self) -> set[str]:
        """Host ends of container veths (``bv*``) on any of this engine's bridges."""
        bridges = self.bridges()
        out = set()
        for name in os.listdir("/sys/class/net"):
            if not name.startswith("bv"):
                continue
            try:
                master = os.path.basename(os.readlink(f"/sys/class/net/{name}/master"))
            except OSError:
                continue
            if master in bridges:
                out.add(name)
        return out

    def netns(self) -> set[str]:
        try:
            return set(os.listdir(os.path.join(self.engine.exec_root, "netns")))
        except FileNotFoundError:
            return set()

    def published(self) -> list[tuple[str, int, str, int]]:
        """The published-port map elements: (proto, host port, container ip, container port)."""
        out = []
        for name in ("pub_any", "pub_addr"):
            text = subprocess.run(
                ["nft", "-j", "list", "map", "ip", self.table, name],
                capture_output=True,
                text=True,
            ).stdout
            for item in json.loads(text or '{"nftables": []}')["nftables"]:
                for key, value in (item.get("map") or {}).get("elem") or []:
                    k = key["concat"][-2:]
                    v = value["concat"]
                    out.append((str(k[0]), int(k[1]), str(v[0]), int(v[1])))
        return sorted(out)
