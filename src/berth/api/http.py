"""HTTP/1.1 wire format for berthd: request heads, bodies, response heads.

Pure functions over bytes plus a small buffered socket reader, so the
parsing is unit-tested without a server. What is accepted, as Go's
net/http (what dockerd uses) accepts it:

- a request line ``METHOD SP target SP HTTP/1.x``; the target in origin form
  (``/path?query``) or absolute form (``http://host/path``);
- header lines ``Name: value`` ending in CRLF (a bare LF is tolerated);
  obsolete line folding is refused; repeated headers are joined with ``,``;
- bodies framed by ``Content-Length`` or ``Transfer-Encoding: chunked``
  (docker sends chunked bodies for builds, loads and imports); both at once
  is refused (request smuggling);
- limits: the head (request line + headers) may not exceed
  ``max_header`` bytes (431), a body read whole may not exceed its limit (413).

Every refusal is an :class:`berth.api.errors.HTTPError` whose message says
what was wrong, answered with Docker's ``{"message": ...}`` body.
"""

from __future__ import annotations

from berth.api.errors import HTTPError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Protocol

    class RawSocket(Protocol):
        def recv(self, size: int, flags: int = ..., /) -> bytes: ...
        def sendall(self, data: bytes, /) -> None: ...


REASONS = {
    100: "Continue",
    101: "Switching Protocols",
    200: "OK",
    201: "Created",
    204: "No Content",
    304: "Not Modified",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Request Entity Too Large",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    505: "HTTP Version Not Supported",
}

_TOKEN = frozenset(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


_HEX = frozenset(b"0123456789abcdefABCDEF")


class RequestHead:
    """The request line and headers. Header names are lower-cased."""

    __slots__ = ("headers", "http_version", "method", "path", "query_string", "target")

    def __init__(
        self,
        method: str,
        target: str,
        http_version: str,
        headers: dict[str, str],
    ) -> None:
        self.method = method
        self.target = target
        self.http_version = http_version
        self.headers = headers
        raw_path, _, self.query_string = target.partition("?")
        self.path = unquote(raw_path) if "%" in raw_path else raw_path

    @property
    def keep_alive(self) -> bool:
        conn = self.headers.get("connection", "").lower()
        if self.http_version == "HTTP/1.0":
            return "keep-alive" in conn
        return "close" not in conn

    @property
    def wants_upgrade(self) -> bool:
        """Docker's hijack request: ``Connection: Upgrade`` + ``Upgrade: tcp``."""
        conn = self.headers.get("connection", "").lower()
        return "upgrade" in conn and self.headers.get("upgrade", "").lower() == "tcp"


def parse_head(data: bytes) -> RequestHead:
    """Parse a request head (without the blank line that ends it)."""
    try:
        text = data.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes anything
        raise HTTPError(400, "malformed HTTP request: undecodable head")
    lines = text.split("\n")
    request_line = lines[0].removesuffix("\r")
    parts = request_line.split(" ")
    if len(parts) != 3:
        raise HTTPError(400, f"malformed HTTP request line {_show(request_line)}")
    method, target, version = parts
    if not method or not all(c in _TOKEN for c in method.encode("latin-1")):
        raise HTTPError(400, f"malformed HTTP request line {_show(request_line)}: bad method")
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        if version.startswith("HTTP/"):
            raise HTTPError(505, f"unsupported HTTP version {_show(version)}")
        raise HTTPError(400, f"malformed HTTP request line {_show(request_line)}")
    if not target.startswith("/"):
        scheme, sep, rest = target.partition("://")
        if sep and scheme.lower() in ("http", "https"):
            slash = rest.find("/")
            target = rest[slash:] if slash >= 0 else "/"
        else:
            raise HTTPError(400, f"malformed HTTP request target {_show(target)}")
    headers: dict[str, str] = {}
    for raw in lines[1:]:
        line = raw.removesuffix("\r")
        if not line:
            continue
        if line[0] in " \t":
            raise HTTPError(400, "malformed HTTP header: line folding is not supported")
        name, colon, value = line.partition(":")
        if not colon or not name or not all(c in _TOKEN for c in name.encode("latin-1")):
            raise HTTPError(400, f"malformed HTTP header line {_show(line)}")
        key = name.lower()
        value = value.strip(" \t")
        if key in headers:
            headers[key] = headers[key] + "," + value
        else:
            headers[key] = value
    return RequestHead(method, target, version, headers)


def _show(text: str) -> str:
    return repr(text[:80] + ("..." if len(text) > 80 else ""))


def unquote(text: str) -> str:
    """Percent-decode ``text`` (UTF-8); a bad escape is a 400."""
    if "%" not in text:
        return text
    out = bytearray()
    i = 0
    raw = text.encode("utf-8")
    n = len(raw)
    while i < n:
        b = raw[i]
        if b == 0x25:  # %
            pair = raw[i + 1 : i + 3]
            if len(pair) != 2 or not all(c in _HEX for c in pair):
                raise HTTPError(400, f"malformed percent-encoding in {_show(text)}")
            out.append(int(pair, 16))
            i += 3
        else:
            out.append(b)
            i += 1
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        return out.decode("latin-1")


def parse_query(qs: str) -> dict[str, list[str]]:
    """``a=1&b=x+y&a=2`` -> ``{"a": ["1", "2"], "b": ["x y"]}``."""
    out: dict[str, list[str]] = {}
    if not qs:
        return out
    for part in qs.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        key = unquote(key.replace("+", " "))
        value = unquote(value.replace("+", " "))
        out.setdefault(key, []).append(value)
    return out


def body_framing(head: RequestHead) -> tuple[str, int]:
    """How the body is framed: ("none", 0), ("length", n) or ("chunked", 0)."""
    te = head.headers.get("transfer-encoding")
    cl = head.headers.get("content-length")
    if te is not None:
        if cl is not None:
            raise HTTPError(400, "request has both Transfer-Encoding and Content-Length")
        codings = [c.strip().lower() for c in te.split(",") if c.strip()]
        if codings != ["chunked"]:
            raise HTTPError(501, f"unsupported Transfer-Encoding {_show(te)}")
        return "chunked", 0
    if cl is not None:
        if not cl.isdigit() or not cl.isascii() or len(cl) > 18:
            raise HTTPError(400, f"bad Content-Length {_show(cl)}")
        n = int(cl)
        return ("length", n) if n else ("none", 0)
    return "none", 0


class Reader:
    """Buffered reads from a socket: request heads, exact byte counts, lines."""

    __slots__ = ("buf", "eof", "sock")

    def __init__(self, sock: RawSocket, initial: bytes = b"") -> None:
        self.sock = sock
        self.buf = bytearray(initial)
        self.eof = False

    def _fill(self) -> bool:
        if self.eof:
            return False
        data = self.sock.recv(65536)
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def read_head(self, limit: int) -> bytes | None:
        """The next request head, or None at a clean end of the connection.

        Leading blank lines are skipped (RFC 9112 allows one after a body).
        """
        start = 0
        while True:
            while self.buf[:2] == b"\r\n" or self.buf[:1] == b"\n":
                del self.buf[: 2 if self.buf[:1] == b"\r" else 1]
            end = self.buf.find(b"\n\r\n", start)
            sep = 3
            if end < 0:
                end = self.buf.find(b"\n\n", start)
                sep = 2
            if end >= 0:
                if end > limit:
                    raise HTTPError(431, f"request head larger than {limit} bytes")
                head = bytes(self.buf[:end])
                del self.buf[: end + sep]
                return head
            if len(self.buf) > limit:
                raise HTTPError(431, f"request head larger than {limit} bytes")
            start = max(0, len(self.buf) - 3)
            if not self._fill():
                if self.buf.strip():
                    raise HTTPError(400, "connection closed in the middle of a request head")
                return None

    def read_some(self, n: int) -> bytes:
        """Up to ``n`` bytes (at least 1 unless at EOF)."""
        if not self.buf and not self._fill():
            return b""
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self._fill():
                raise HTTPError(400, "connection closed in the middle of a request body")
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_line(self, limit: int = 4096) -> bytes:
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[: i + 1]
                return line.removesuffix(b"\r")
            if len(self.buf) > limit:
                raise HTTPError(400, "line too long in a chunked request body")
            if not self._fill():
                raise HTTPError(400, "connection closed in the middle of a request body")

    def take(self) -> bytes:
        """Everything buffered (for a hijacked connection)."""
        out = bytes(self.buf)
        self.buf.clear()
        return out


class Body:
    """A request body, read incrementally with :meth:`read` or whole with :meth:`read_all`."""

    __slots__ = ("_chunk_left", "_done", "_left", "framing", "reader")

    def __init__(self, reader: Reader, framing: str, length: int) -> None:
        self.reader = reader
        self.framing = framing
        self._left = length
        self._chunk_left = 0
        self._done = framing == "none"

    @property
    def done(self) -> bool:
        return self._done

    def read(self, n: int = 65536) -> bytes:
        """Up to ``n`` bytes of the body; b"" at its end."""
        if self._done:
            return b""
        if self.framing == "length":
            data = self.reader.read_some(min(n, self._left))
            if not data:
                raise HTTPError(400, "connection closed in the middle of a request body")
            self._left -= len(data)
            if not self._left:
                self._done = True
            return data
        # chunked
        if not self._chunk_left:
            line = self.reader.read_line()
            size_text = line.split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise HTTPError(400, f"malformed chunk size {size_text[:20]!r} in request body")
            if size < 0:
                raise HTTPError(400, "malformed chunk size in request body")
            if size == 0:
                while self.reader.read_line():  # trailers, then the empty line
                    pass
                self._done = True
                return b""
            self._chunk_left = size
        data = self.reader.read_some(min(n, self._chunk_left))
        if not data:
            raise HTTPError(400, "connection closed in the middle of a request body")
        self._chunk_left -= len(data)
        if not self._chunk_left and self.reader.read_line() != b"":
            raise HTTPError(400, "malformed chunked request body: missing CRLF after a chunk")
        return data

    def read_all(self, limit: int) -> bytes:
        """The whole body; more than ``limit`` bytes is a 413."""
        if self.framing == "length" and self._left > limit:
            raise HTTPError(413, f"request body of {self._left} bytes exceeds the limit of {limit}")
        parts = []
        total = 0
        while True:
            data = self.read(65536)
            if not data:
                break
            total += len(data)
            if total > limit:
                raise HTTPError(413, f"request body exceeds the limit of {limit} bytes")
            parts.append(data)
        return b"".join(parts)

    def drain(self, limit: int) -> bool:
        """Discard what is left (up to ``limit`` bytes); False when it could not."""
        total = 0
        try:
            while not self._done:
                total += len(self.read(65536))
                if total > limit:
                    return False
        except (HTTPError, OSError):
            return False
        return True


def response_head(status: int, headers: list[tuple[str, str]], reason: str = "") -> bytes:
    lines = [f"HTTP/1.1 {status} {reason or REASONS.get(status, 'Status')}"]
    lines.extend(f"{k}: {v}" for k, v in headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def chunk(data: bytes) -> bytes:
    """One chunk of a chunked response body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


LAST_CHUNK = b"0\r\n\r\n"

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_date_cache: list[object] = [-1, ""]


def http_date(now: float) -> str:
    """RFC 7231 date, as Go writes it: ``Sun, 29 Nov 2026 10:21:58 GMT``."""
    import time

    sec = int(now)
    if _date_cache[0] == sec:
        return str(_date_cache[1])
    t = time.gmtime(sec)
    text = (
        f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    )
    _date_cache[0], _date_cache[1] = sec, text
    return text
