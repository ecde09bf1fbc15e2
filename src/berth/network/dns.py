"""The embedded DNS resolver of user-defined networks: one thread for every container.

Each container on a user-defined network gets a UDP and a TCP socket bound
to 127.0.0.11:53 *inside its own network namespace* (made by
:func:`berth.network.host.dns_sockets` in a thread that entered it; a socket
keeps the netns it was created in). :class:`DnsServer` serves all of them
from one thread with one selector, so there is no process per container.

A question is answered from ``lookup(key, name)`` (``key`` says which
container asked): a list of IPv4 addresses means "ours" (A records; an AAAA
question gets an empty NOERROR answer), ``None`` means "not ours" and the
query is forwarded, from the host's namespace, to the upstream servers
(the first that answers within :data:`FORWARD_TIMEOUT` wins; SERVFAIL when
none does).
"""

from __future__ import annotations

import os
import socket
import threading
import time

from berth.network import dnsmsg

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    Lookup = Callable[[str, str], "list[str] | None"]

FORWARD_TIMEOUT = 2.0
_TCP_MAX = 65535


class _Pending:
    __slots__ = ("client", "deadline", "key", "query", "reply_to", "tries", "upstream")

    def __init__(
        self,
        key: str,
        query: bytes,
        reply_to: Callable[[bytes], None],
        upstream: socket.socket,
        tries: int,
    ) -> None:
        self.key = key
        self.query = query
        self.reply_to = reply_to
        self.upstream = upstream
        self.tries = tries
        self.deadline = time.monotonic() + FORWARD_TIMEOUT
        self.client = None


class DnsServer:
    """Serves the embedded DNS sockets of every container from one thread."""

    def __init__(self, lookup: Lookup, upstreams: list[tuple[str, int]] | None = None) -> None:
        import selectors

        self.lookup = lookup
        self.upstreams = list(upstreams or [])
        self._sel = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._socks: dict[str, tuple[socket.socket, socket.socket]] = {}
        self._pending: dict[int, _Pending] = {}
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._sel.register(self._wake_r, 1, ("wake", None))
        self._stop = False
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="berth-dns", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop = True
        self._wake()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        with self._lock:
            for key in list(self._socks):
                self._drop(key)
            for p in list(self._pending.values()):
                self._finish(p)
        self._sel.close()
        os.close(self._wake_r)
        os.close(self._wake_w)

    def add(self, key: str, udp: socket.socket, tcp: socket.socket) -> None:
        """Serve a container's sockets (the server owns and closes them from now on)."""
        with self._lock:
            if key in self._socks:
                self._drop(key)
            self._socks[key] = (udp, tcp)
            self._sel.register(udp, 1, ("udp", key))
            self._sel.register(tcp, 1, ("accept", key))
        self._wake()

    def remove(self, key: str) -> None:
        with self._lock:
            self._drop(key)
        self._wake()

    def keys(self) -> set[str]:
        with self._lock:
            return set(self._socks)

    def _drop(self, key: str) -> None:
        socks = self._socks.pop(key, None)
        for s in socks or ():
            try:
                self._sel.unregister(s)
            except (KeyError, ValueError):
                pass
            s.close()

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except BlockingIOError:
            pass

    # -- the loop -------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop:
            events = self._sel.select(self._timeout())
            for sel_key, _mask in events:
                kind, key = sel_key.data
                try:
                    if kind == "wake":
                        while True:
                            try:
                                if not os.read(self._wake_r, 512):
                                    break
                            except BlockingIOError:
                                break
                    elif kind == "udp":
                        self._on_udp(sel_key.fileobj, key)  # type: ignore[arg-type]
                    elif kind == "accept":
                        self._on_accept(sel_key.fileobj, key)  # type: ignore[arg-type]
                    elif kind == "tcp":
                        self._on_tcp(sel_key.fileobj, key)  # type: ignore[arg-type]
                    elif kind == "upstream":
                        self._on_upstream(sel_key.fileobj)  # type: ignore[arg-type]
                except OSError:
                    continue
            self._expire()

    def _timeout(self) -> float | None:
        with self._lock:
            if not self._pending:
                return None
            soonest = min(p.deadline for p in self._pending.values())
        return max(0.0, soonest - time.monotonic())

    def _on_udp(self, sock: socket.socket, key: str) -> None:
        while True:
            try:
                data, addr = sock.recvfrom(4096)
            except (BlockingIOError, InterruptedError):
                return

            def reply(out: bytes, sock: socket.socket = sock, addr: Any = addr) -> None:
                try:
                    sock.sendto(out, addr)
                except OSError:
                    pass

            self.handle(key, data, reply)

    def _on_accept(self, sock: socket.socket, key: str) -> None:
        try:
            conn, _ = sock.accept()
        except (BlockingIOError, InterruptedError):
            return
        conn.setblocking(False)
        with self._lock:
            self._sel.register(conn, 1, ("tcp", (key, bytearray())))

    def _on_tcp(self, conn: socket.socket, state: tuple[str, bytearray]) -> None:
        key, buf = state
        try:
            chunk = conn.recv(_TCP_MAX)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._close_conn(conn)
            return
        buf += chunk
        if len(buf) < 2 or len(buf) < 2 + int.from_bytes(buf[:2], "big"):
            return
        size = int.from_bytes(buf[:2], "big")
        data = bytes(buf[2 : 2 + size])
        del buf[: 2 + size]
        with self._lock:
            self._sel.unregister(conn)

        def reply(out: bytes, conn: socket.socket = conn) -> None:
            try:
                conn.setblocking(True)
                conn.settimeout(FORWARD_TIMEOUT)
                conn.sendall(len(out).to_bytes(2, "big") + out)
            except OSError:
                pass
            conn.close()

        self.handle(key, data, reply)

    def _close_conn(self, conn: socket.socket) -> None:
        with self._lock:
            try:
                self._sel.unregister(conn)
            except (KeyError, ValueError):
                pass
        conn.close()

    # -- answering ----------------------------------------------------------------
    def handle(self, key: str, data: bytes, reply: Callable[[bytes], None]) -> None:
        """Answer one query from the container ``key`` (locally or by forwarding)."""
        try:
            msg = dnsmsg.parse(data)
        except dnsmsg.DnsError:
            if len(data) >= 12:
                bad = dnsmsg.Message(int.from_bytes(data[:2], "big"), 0)
                reply(dnsmsg.reply(bad, [], dnsmsg.RCODE_FORMERR))
            return
        if msg.is_response or len(msg.questions) != 1:
            reply(dnsmsg.reply(msg, [], dnsmsg.RCODE_FORMERR))
            return
        q = msg.questions[0]
        name = q.qname.rstrip(".").lower()
        if q.qclass == dnsmsg.CLASS_IN and q.qtype in (dnsmsg.TYPE_A, dnsmsg.TYPE_AAAA):
            found = self.lookup(key, name)
            if found is not None:
                answers = dnsmsg.a_records(q.qname, found) if q.qtype == dnsmsg.TYPE_A else []
                reply(dnsmsg.reply(msg, answers))
                return
        self._forward(key, data, msg, reply, 0)

    def _forward(
        self,
        key: str,
        data: bytes,
        msg: dnsmsg.Message,
        reply: Callable[[bytes], None],
        attempt: int,
    ) -> None:
        if attempt >= len(self.upstreams):
            reply(dnsmsg.reply(msg, [], dnsmsg.RCODE_SERVFAIL))
            return
        host, port = self.upstreams[attempt]
        up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        try:
            up.setblocking(False)
            up.connect((host, port))
            up.send(data)
        except OSError:
            up.close()
            self._forward(key, data, msg, reply, attempt + 1)
            return
        pending = _Pending(key, data, reply, up, attempt)
        with self._lock:
            self._pending[up.fileno()] = pending
            self._sel.register(up, 1, ("upstream", None))
        self._wake()

    def _on_upstream(self, up: socket.socket) -> None:
        with self._lock:
            pending = self._pending.get(up.fileno())
        if pending is None:
            return
        try:
            data = up.recv(65535)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        self._finish(pending)
        if data:
            pending.reply_to(data)
        else:
            self._retry(pending)

    def _retry(self, pending: _Pending) -> None:
        try:
            msg = dnsmsg.parse(pending.query)
        except dnsmsg.DnsError:
            return
        self._forward(pending.key, pending.query, msg, pending.reply_to, pending.tries + 1)

    def _finish(self, pending: _Pending) -> None:
        with self._lock:
            self._pending.pop(pending.upstream.fileno(), None)
            try:
                self._sel.unregister(pending.upstream)
            except (KeyError, ValueError):
                pass
        pending.upstream.close()

    def _expire(self) -> None:
        now = time.monotonic()
        with self._lock:
            late = [p for p in self._pending.values() if p.deadline <= now]
        for p in late:
            self._finish(p)
            self._retry(p)
