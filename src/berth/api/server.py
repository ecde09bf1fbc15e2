"""berthd's HTTP/1.1 server: unix sockets (and loopback TCP), one thread per connection.

Why threads: a request on a warm connection costs one ``recv`` wake-up and
one ``sendall`` in the thread that owns the connection -- no hand-off
between an event loop and workers -- and a handler may block (a pull, a
container wait, an attach) without stalling anyone else. Idle connections
cost a parked thread each; clients that hold connections (docker-py pools,
``logs -f``, ``events``, attach) are few compared with containers, which hold
none. ``bench/cli_latency.py`` measures the per-request cost.

The server knows HTTP, not Docker: a ``handle(head, body)`` callable (the
:class:`berth.api.app.App`) returns a :class:`~berth.api.response.Response`,
:class:`~berth.api.response.Stream` or :class:`~berth.api.response.Hijack`,
and the server writes it:

- keep-alive: HTTP/1.1 connections stay open until the client closes them,
  sends ``Connection: close``, stays idle ``idle_timeout`` seconds, or the
  daemon stops; a body the handler did not read is drained first;
- ``Expect: 100-continue`` is answered before the body is read;
- streams are chunked (``Transfer-Encoding``) and flushed item by item;
- hijack answers ``101 UPGRADED`` (or ``200 OK``) and hands the socket over.

:meth:`Server.stop` stops accepting, closes idle connections, ends streams at
their next heartbeat and waits (bounded) for requests in flight.
"""

from __future__ import annotations

import logging
import os
import selectors
import socket
import threading
import time

from berth.api.errors import HTTPError, error_body
from berth.api.http import (
    LAST_CHUNK,
    Body,
    Reader,
    body_framing,
    chunk,
    http_date,
    parse_head,
    response_head,
)
from berth.api.response import Hijack, Response, Stream
from berth.errors import InvalidArgument, KernelError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from berth.api.http import RequestHead

    Handle = Callable[[RequestHead, Body], Response | Stream | Hijack]

log = logging.getLogger("berth.api")

_IDLE, _BUSY, _STREAM, _HIJACKED = "idle", "busy", "stream", "hijacked"


class Limits:
    """Bounds on what one client may make the server hold."""

    def __init__(
        self,
        max_header: int = 256 * 1024,
        idle_timeout: float = 300.0,
        drain_limit: int = 4 * 1024 * 1024,
    ) -> None:
        self.max_header = max_header
        self.idle_timeout = idle_timeout
        self.drain_limit = drain_limit


class Hijacked:
    """A connection taken over by a handler (attach, exec).

    ``read`` first returns what the client sent after its request (already
    buffered by the server), then reads the socket. ``sock`` is the raw
    socket for handlers that want to ``poll``/``splice`` it; use
    :meth:`initial` to get the buffered bytes first in that case.
    """

    def __init__(self, sock: socket.socket, initial: bytes) -> None:
        self.sock = sock
        self._initial = initial

    def fileno(self) -> int:
        return self.sock.fileno()

    def initial(self) -> bytes:
        data, self._initial = self._initial, b""
        return data

    def read(self, n: int = 65536) -> bytes:
        if self._initial:
            data, self._initial = self._initial[:n], self._initial[n:]
            return data
        return self.sock.recv(n)

    def write(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close_write(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def peer_closed(sock: socket.socket) -> bool:
    """True when the client has closed its end (checked without blocking)."""
    import select

    p = select.poll()
    p.register(sock, select.POLLIN | select.POLLRDHUP)
    events = p.poll(0)
    if not events:
        return False
    if events[0][1] & (select.POLLRDHUP | select.POLLHUP | select.POLLERR):
        return True
    # readable: data the client sent (ignored) or the end of the connection
    try:
        data = sock.recv(1, socket.MSG_PEEK)
    except OSError:
        return True
    return data == b""


class Server:
    def __init__(self, handle: Handle, limits: Limits | None = None) -> None:
        self.handle = handle
        self.limits = limits or Limits()
        self.stopping = threading.Event()
        self._listeners: list[tuple[socket.socket, str]] = []
        self._conns: dict[socket.socket, str] = {}
        self._threads: set[threading.Thread] = set()
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self._served = threading.Event()
        self._serving = False
        self._stopped = False

    # ---------------------------------------------------------------- listen

    def listen_unix(self, path: str, mode: int = 0o660) -> None:
        """Listen on a unix socket at ``path`` (which must not exist)."""
        if len(os.fsencode(path)) > 107:
            raise InvalidArgument(
                f"unix socket path {path} is longer than the kernel's limit of 107 bytes;"
                " choose a shorter path"
            )
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(path)
            os.chmod(path, mode)
            sock.listen(128)
        except OSError as e:
            sock.close()
            raise KernelError("listen on", f"unix://{path}", e.errno or 0)
        sock.setblocking(False)
        self._listeners.append((sock, path))

    def listen_tcp(self, host: str, port: int) -> tuple[str, int]:
        """Listen on TCP; returns the bound address (port 0 picks one)."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(128)
        except OSError as e:
            sock.close()
            raise KernelError("listen on", f"tcp://{host}:{port}", e.errno or 0)
        sock.setblocking(False)
        self._listeners.append((sock, ""))
        addr = sock.getsockname()
        return str(addr[0]), int(addr[1])

    # ----------------------------------------------------------------- serve

    def serve(self) -> None:
        """Accept connections until :meth:`stop` (call from one thread)."""
        self._serving = True
        sel = selectors.DefaultSelector()
        try:
            for sock, _ in self._listeners:
                sel.register(sock, selectors.EVENT_READ)
            sel.register(self._wake_r, selectors.EVENT_READ)
            while not self.stopping.is_set():
                for key, _ in sel.select():
                    if key.fileobj == self._wake_r:
                        continue
                    self._accept(key.fileobj)  # type: ignore[arg-type]
        finally:
            sel.close()
            self._close_listeners()
            self._served.set()

    def _close_listeners(self) -> None:
        for sock, path in self._listeners:
            sock.close()
            if path:
                try:
                    os.unlink(path)
                except OSError:
                    pass
        self._listeners.clear()

    def _accept(self, lsock: socket.socket) -> None:
        try:
            conn, _ = lsock.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:  # EMFILE and friends: say so, keep serving
            log.warning("accept failed: %s", e)
            time.sleep(0.05)
            return
        conn.setblocking(True)
        t = threading.Thread(target=self._serve_conn, args=(conn,), daemon=True, name="conn")
        with self._lock:
            self._conns[conn] = _IDLE
            self._threads.add(t)
        t.start()

    def stop(self, grace: float = 5.0) -> None:
        """Stop accepting; close idle connections; wait up to ``grace`` for the rest."""
        if self._stopped:
            return
        self._stopped = True
        self.stopping.set()
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass
        if self._serving:
            self._served.wait(grace)
        else:
            self._close_listeners()
        with self._lock:
            for sock, state in self._conns.items():
                if state in (_IDLE, _HIJACKED):
                    _shutdown(sock)
            threads = list(self._threads)
        deadline = time.monotonic() + grace
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            for sock in self._conns:
                _shutdown(sock)
        os.close(self._wake_r)
        os.close(self._wake_w)

    @property
    def connections(self) -> int:
        with self._lock:
            return len(self._conns)

    # ------------------------------------------------------------ connection

    def _set_state(self, sock: socket.socket, state: str) -> bool:
        """Record the state; False when the server is stopping (for idle)."""
        with self._lock:
            if state == _IDLE and self.stopping.is_set():
                return False
            self._conns[sock] = state
            return True

    def _serve_conn(self, sock: socket.socket) -> None:
        reader = Reader(sock)
        try:
            while self._set_state(sock, _IDLE):
                sock.settimeout(self.limits.idle_timeout)
                try:
                    raw = reader.read_head(self.limits.max_header)
                except HTTPError as e:
                    self._send_error(sock, e.status, e.message)
                    return
                if raw is None:
                    return
                self._set_state(sock, _BUSY)
                try:
                    head = parse_head(raw)
                    framing, length = body_framing(head)
                except HTTPError as e:
                    self._send_error(sock, e.status, e.message)
                    return
                if head.headers.get("expect", "").lower() == "100-continue" and framing != "none":
                    sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                body = Body(reader, framing, length)
                result = self.handle(head, body)
                keep = head.keep_alive and not self.stopping.is_set()
                if isinstance(result, Hijack):
                    self._set_state(sock, _HIJACKED)
                    self._hijack(sock, reader, head, result)
                    return
                if isinstance(result, Stream):
                    self._set_state(sock, _STREAM)
                    keep = self._write_stream(sock, head, result) and keep
                else:
                    keep = self._write_response(sock, head, result, keep) and keep
                if keep and not body.done:
                    keep = body.drain(self.limits.drain_limit)
                if not keep:
                    return
        except (OSError, HTTPError):
            pass  # the client went away or broke the protocol mid-body
        except Exception:
            log.exception("connection handler failed")
        finally:
            with self._lock:
                self._conns.pop(sock, None)
                self._threads.discard(threading.current_thread())
            sock.close()

    def _send_error(self, sock: socket.socket, status: int, message: str) -> None:
        body = error_body(message)
        headers = [
            ("Content-Type", "application/json"),
            ("Date", http_date(time.time())),
            ("Content-Length", str(len(body))),
            ("Connection", "close"),
        ]
        try:
            sock.sendall(response_head(status, headers) + body)
            _linger(sock)
        except OSError:
            pass

    def _write_response(
        self, sock: socket.socket, head: RequestHead, resp: Response, keep: bool
    ) -> bool:
        headers = list(resp.headers)
        if resp.content_type:
            headers.append(("Content-Type", resp.content_type))
        headers.append(("Date", http_date(time.time())))
        body = resp.body
        if resp.status not in (204, 304) and not 100 <= resp.status < 200:
            headers.append(("Content-Length", str(len(body))))
        else:
            body = b""
        if not keep:
            headers.append(("Connection", "close"))
        elif head.http_version == "HTTP/1.0":
            headers.append(("Connection", "keep-alive"))
        if head.method == "HEAD":
            body = b""
        data = response_head(resp.status, headers)
        if len(body) < 65536:
            sock.sendall(data + body)
        else:
            sock.sendall(data)
            sock.sendall(body)
        return True

    def _write_stream(self, sock: socket.socket, head: RequestHead, stream: Stream) -> bool:
        """Write a streamed body; False when the connection cannot be reused."""
        from berth.jsonio import dumps

        chunked = head.http_version == "HTTP/1.1"
        headers = [*stream.headers, ("Content-Type", stream.content_type)]
        headers.append(("Date", http_date(time.time())))
        if chunked:
            headers.append(("Transfer-Encoding", "chunked"))
        else:
            headers.append(("Connection", "close"))
        sock.sendall(response_head(stream.status, headers))
        if head.method == "HEAD":
            return chunked and _close_iter(stream.items, sock)
        items = iter(stream.items)
        sep = stream.separator
        complete = False
        try:
            for item in items:
                if item is None:
                    if self.stopping.is_set():
                        break
                    if peer_closed(sock):
                        return False
                    continue
                data = item if isinstance(item, bytes) else dumps(item).encode() + sep
                if data:
                    sock.sendall(chunk(data) if chunked else data)
            complete = True
        except OSError:
            return False
        except Exception:
            log.exception("stream %s %s failed", head.method, head.path)
            return False
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()
        if chunked:
            sock.sendall(LAST_CHUNK)
        return chunked and complete

    def _hijack(self, sock: socket.socket, reader: Reader, head: RequestHead, hj: Hijack) -> None:
        extra = [("Content-Type", hj.content_type)]
        if head.wants_upgrade:
            status, reason = 101, "UPGRADED"
            extra += [("Connection", "Upgrade"), ("Upgrade", "tcp")]
        else:
            status, reason = 200, "OK"
        headers = extra + hj.headers
        sock.sendall(response_head(status, headers, reason))
        sock.settimeout(None)
        try:
            hj.run(Hijacked(sock, reader.take()))
        except OSError:
            pass
        except Exception:
            log.exception("hijacked %s %s failed", head.method, head.path)


def _close_iter(items: object, sock: socket.socket) -> bool:
    close = getattr(items, "close", None)
    if close is not None:
        close()
    sock.sendall(LAST_CHUNK)
    return True


def _linger(sock: socket.socket, limit: int = 4 * 1024 * 1024, timeout: float = 0.5) -> None:
    """Close our side, then read what the client still sends (briefly), so that
    closing with unread input does not reset the connection before the client
    has read our error response."""
    sock.shutdown(socket.SHUT_WR)
    sock.settimeout(timeout)
    deadline = time.monotonic() + timeout
    total = 0
    while total < limit and time.monotonic() < deadline:
        data = sock.recv(65536)
        if not data:
            break
        total += len(data)


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
