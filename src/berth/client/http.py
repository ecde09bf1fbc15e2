"""A small HTTP/1.1 client over a raw socket, for the CLI's hot path.

It imports ``_socket`` (the C module) rather than ``socket``, which pulls in
``enum``, ``selectors`` and more: several milliseconds of a CLI start that
should cost little more than the interpreter's own. One :class:`Connection`
is kept alive for all the requests of one CLI invocation.

Responses come back whole (:meth:`Connection.request`) or as a body reader
(``stream=True``) that decodes chunked transfer encoding incrementally; a
hijacked connection (attach, exec) is handed back as a :class:`RawStream`
once the ``101 UPGRADED`` (or ``200 OK``) head has been read.
"""

from __future__ import annotations

import _socket

from berth.errors import Unavailable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from berth.client.hosts import Host

MAX_HEAD = 256 * 1024


class ConnectError(Unavailable):
    """Nothing accepted the connection (the daemon is not running there)."""

    def __init__(self, message: str, errno: int) -> None:
        super().__init__(message)
        self.errno = errno


class ProtocolError(Unavailable):
    """The peer did not speak HTTP as expected."""


class Response:
    __slots__ = ("_conn", "_reader", "body", "headers", "reason", "status")

    def __init__(self, status: int, reason: str, headers: dict[str, str]) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = b""
        self._reader: Iterator[bytes] | None = None
        self._conn: Connection | None = None

    def iter_body(self) -> Iterator[bytes]:
        """The body as it arrives (for a response requested with ``stream=True``)."""
        if self._reader is None:
            if self.body:
                yield self.body
            return
        reader, self._reader = self._reader, None
        yield from reader

    def close(self) -> None:
        """Stop reading a streamed body; the connection is not reused."""
        if self._reader is not None:
            self._reader = None
            if self._conn is not None:
                self._conn.close()


class RawStream:
    """A hijacked connection: the bytes the server already sent, then the socket."""

    def __init__(self, sock: _socket.socket, initial: bytes) -> None:
        self.sock = sock
        self._initial = initial

    def fileno(self) -> int:
        return self.sock.fileno()

    def initial(self) -> bytes:
        """What arrived with the response head (read it before polling the fd)."""
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
            self.sock.shutdown(_socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        self.sock.close()


def connect(host: Host, timeout: float | None = None) -> _socket.socket:
    """A connected socket to ``host``; ConnectError when nothing answers."""
    if host.kind == "unix":
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        addr: Any = host.address
    else:
        infos = _socket.getaddrinfo(host.address, host.port, 0, _socket.SOCK_STREAM)
        family, _, _, _, addr = infos[0]
        sock = _socket.socket(family, _socket.SOCK_STREAM)
    if timeout is not None:
        sock.settimeout(timeout)
    try:
        sock.connect(addr)
    except OSError as e:
        sock.close()
        raise ConnectError(f"cannot connect to {host.url}: {e.strerror}", e.errno or 0)
    if host.kind == "tcp":
        sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
    return sock


class Connection:
    """One keep-alive connection; reconnects when the server closed an idle one."""

    def __init__(self, host: Host, timeout: float | None = None) -> None:
        self.host = host
        self.timeout = timeout
        self.sock: _socket.socket | None = None
        self._buf = bytearray()
        self._reusable = False

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        self._buf.clear()
        self._reusable = False

    def _send(self, data: bytes) -> None:
        """Send on the kept-alive socket, or a fresh one."""
        if self.sock is None or not self._reusable:
            self.close()
            self.sock = connect(self.host, self.timeout)
        self.sock.sendall(data)

    def request(
        self,
        method: str,
        target: str,
        body: bytes = b"",
        headers: list[tuple[str, str]] | None = None,
        stream: bool = False,
        upgrade: bool = False,
    ) -> Response:
        lines = [f"{method} {target} HTTP/1.1", "Host: berth", "User-Agent: berth-cli"]
        if headers:
            lines.extend(f"{k}: {v}" for k, v in headers)
        if body or method in ("POST", "PUT"):
            lines.append(f"Content-Length: {len(body)}")
        if upgrade:
            lines += ["Connection: Upgrade", "Upgrade: tcp"]
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        for attempt in (0, 1):
            reused = self.sock is not None and self._reusable
            try:
                self._send(data)
                resp = self._read_head()
                break
            except (ConnectionResetError, BrokenPipeError, _EmptyResponse):
                self.close()
                if attempt or not reused:
                    raise ProtocolError(f"the daemon at {self.host.url} closed the connection")
        resp._conn = self
        keep = resp.headers.get("connection", "").lower() != "close"
        if resp.status == 101 or (upgrade and resp.status == 200):
            return resp  # (a 200 to an upgrade: an older server's hijacked stream)
        if stream:
            resp._reader = self._body_iter(resp, method, keep)
        else:
            resp.body = b"".join(self._body_iter(resp, method, keep))
        return resp

    def hijack(self, resp: Response) -> RawStream:
        """Take the socket of an upgraded response (it leaves the connection)."""
        assert self.sock is not None
        raw = RawStream(self.sock, bytes(self._buf))
        self.sock = None
        self._buf.clear()
        self._reusable = False
        raw.sock.settimeout(None)
        return raw

    # ------------------------------------------------------------- reading

    def _fill(self) -> bool:
        assert self.sock is not None
        data = self.sock.recv(65536)
        if not data:
            return False
        self._buf += data
        return True

    def _read_head(self) -> Response:
        self._reusable = False
        start = 0
        while True:
            end = self._buf.find(b"\r\n\r\n", start)
            if end >= 0:
                break
            if len(self._buf) > MAX_HEAD:
                raise ProtocolError(f"response head from {self.host.url} too large")
            start = max(0, len(self._buf) - 3)
            if not self._fill():
                if not self._buf:
                    raise _EmptyResponse()
                raise ProtocolError(f"{self.host.url} closed the connection mid-response")
        head = bytes(self._buf[:end]).decode("latin-1")
        del self._buf[: end + 4]
        lines = head.split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise ProtocolError(f"{self.host.url} did not answer with HTTP: {lines[0][:60]!r}")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            key = name.strip().lower()
            value = value.strip()
            headers[key] = headers[key] + ", " + value if key in headers else value
        return Response(int(parts[1]), parts[2] if len(parts) > 2 else "", headers)

    def _body_iter(self, resp: Response, method: str, keep: bool) -> Iterator[bytes]:
        status = resp.status
        h = resp.headers
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            self._reusable = keep
            return
        if h.get("transfer-encoding", "").lower() == "chunked":
            yield from self._chunks()
            self._reusable = keep
            return
        length = h.get("content-length")
        if length is not None:
            left = int(length)
            while left:
                if not self._buf and not self._fill():
                    raise ProtocolError(f"{self.host.url} closed the connection mid-body")
                piece = bytes(self._buf[:left])
                del self._buf[: len(piece)]
                left -= len(piece)
                yield piece
            self._reusable = keep
            return
        # no framing: the body runs until the server closes
        while True:
            if self._buf:
                piece = bytes(self._buf)
                self._buf.clear()
                yield piece
            if not self._fill():
                break
        self.close()

    def _line(self) -> bytes:
        while True:
            i = self._buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self._buf[:i])
                del self._buf[: i + 2]
                return line
            if not self._fill():
                raise ProtocolError(f"{self.host.url} closed the connection mid-body")

    def _chunks(self) -> Iterator[bytes]:
        while True:
            size_line = self._line().split(b";", 1)[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                raise ProtocolError(f"bad chunk size {size_line[:20]!r} from {self.host.url}")
            if size == 0:
                while self._line():
                    pass
                return
            left = size
            while left:
                if not self._buf and not self._fill():
                    raise ProtocolError(f"{self.host.url} closed the connection mid-chunk")
                piece = bytes(self._buf[:left])
                del self._buf[: len(piece)]
                left -= len(piece)
                yield piece
            if self._line():
                raise ProtocolError(f"malformed chunked body from {self.host.url}")


class _EmptyResponse(Exception):
    """The server closed the connection before answering (stale keep-alive)."""
