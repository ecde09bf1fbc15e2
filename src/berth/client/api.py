"""The Engine API client the ``berth`` CLI uses (and anyone may)::

    from berth.client.api import Client
    c = Client("unix:///run/berth/berth.sock")
    c.get_json("/version")                              # -> dict
    c.post_json("/containers/create", {"name": "web"}, {"Image": "busybox"})
    for msg in c.stream_json("POST", "/images/create", {"fromImage": "busybox"}): ...
    raw = c.hijack("POST", f"/containers/{cid}/attach", {"stream": 1, "stdin": 1})

Paths are Docker's without the version; the client adds ``/vX.Y``. The
version is the newest berth speaks (``berth.api.versions.API_VERSION``)
until a daemon says it is too new, then the client pings, takes the
daemon's ``API-Version`` and retries (so the usual berth-to-berthd call
costs no extra round trip). ``version=`` pins one instead.

Errors the daemon answers with are raised as :class:`DaemonError`
subclasses of the matching :mod:`berth.errors` class (404 ->
``DaemonNotFound``, a ``NotFound``), carrying Docker's message; the CLI
prints them as ``Error response from daemon: <message>``. When nothing
answers on the socket the client raises :class:`CannotConnect`, or -- with
``autostart=True`` and a socket the CLI may start a daemon on -- starts
berthd (``berth.client.autostart``) and tries again.
"""

from __future__ import annotations

from berth.api.versions import API_VERSION
from berth.client.http import ConnectError, Connection
from berth.errors import (
    BerthError,
    Conflict,
    InvalidArgument,
    NotFound,
    NotModified,
    Unauthorized,
    Unavailable,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from typing import Any

    from berth.client.hosts import Host
    from berth.client.http import RawStream, Response

    Query = Mapping[str, object] | None


class DaemonError(BerthError):
    """An error the daemon answered with (as opposed to one found locally)."""


class DaemonInvalidArgument(InvalidArgument, DaemonError):
    pass


class DaemonNotFound(NotFound, DaemonError):
    pass


class DaemonConflict(Conflict, DaemonError):
    pass


class DaemonNotModified(NotModified, DaemonError):
    pass


class DaemonUnauthorized(Unauthorized, DaemonError):
    pass


class DaemonUnavailable(Unavailable, DaemonError):
    pass


class CannotConnect(Unavailable):
    """Nothing answers at the host (and no daemon could be started there)."""


_BY_STATUS: dict[int, type[DaemonError]] = {
    400: DaemonInvalidArgument,
    401: DaemonUnauthorized,
    404: DaemonNotFound,
    409: DaemonConflict,
    304: DaemonNotModified,
    503: DaemonUnavailable,
}


def daemon_error(status: int, body: bytes, reason: str = "") -> DaemonError:
    """The error for a non-2xx answer: Docker's ``{"message": ...}`` or the raw text."""
    message = ""
    text = body.decode("utf-8", "replace").strip()
    if text.startswith("{"):
        try:
            from berth.jsonio import loads

            doc = loads(text, "the daemon's error")
            if isinstance(doc, dict) and isinstance(doc.get("message"), str):
                message = doc["message"]
        except InvalidArgument:
            pass
    if not message:
        message = text or f"{status} {reason}".strip()
    cls = _BY_STATUS.get(status, DaemonError)
    err = cls(message)
    err.status = status
    return err


_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def quote(text: str, safe: str = "") -> str:
    """Percent-encode ``text`` (UTF-8) for a URL; ``safe`` chars stay."""
    extra = safe.encode()
    out = []
    for b in text.encode("utf-8"):
        if b in _SAFE or b in extra:
            out.append(chr(b))
        else:
            out.append(f"%{b:02X}")
    return "".join(out)


def encode_query(query: Query) -> str:
    if not query:
        return ""
    parts = []
    for key, value in query.items():
        if value is None:
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            if v is True:
                text = "1"
            elif v is False:
                text = "0"
            else:
                text = str(v)
            parts.append(f"{quote(key)}={quote(text)}")
    return "&".join(parts)


class Client:
    def __init__(
        self,
        host: Host | str | None = None,
        version: str | None = None,
        autostart: bool = False,
        timeout: float | None = None,
    ) -> None:
        from berth.client import hosts

        if host is None:
            host = hosts.resolve()
        elif isinstance(host, str):
            host = hosts.parse(host)
        self.host = host
        self.api_version = version or API_VERSION
        self._pinned = version is not None
        self.autostart = autostart
        self.conn = Connection(host, timeout)
        self.server_headers: dict[str, str] = {}

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------- requests

    def target(self, path: str, query: Query = None) -> str:
        qs = encode_query(query)
        return f"/v{self.api_version}{path}" + (f"?{qs}" if qs else "")

    def request(
        self,
        method: str,
        path: str,
        query: Query = None,
        body: object = None,
        headers: list[tuple[str, str]] | None = None,
        stream: bool = False,
        upgrade: bool = False,
    ) -> Response:
        """Send a request; the response of a 2xx/1xx, else the daemon's error raised.

        ``body``: bytes are sent as they are; anything else but None as JSON.
        """
        data = b""
        hdrs = list(headers or [])
        if isinstance(body, (bytes, bytearray)):
            data = bytes(body)
        elif body is not None:
            from berth.jsonio import dumps

            data = dumps(body).encode()
            hdrs.append(("Content-Type", "application/json"))
        for attempt in range(3):
            resp = self._send(method, path, query, data, hdrs, stream or upgrade, upgrade)
            if resp.status < 300 or resp.status == 101:
                self.server_headers = resp.headers
                return resp
            body_bytes = resp.body if not (stream or upgrade) else _read_all(resp)
            if (
                resp.status == 400
                and not self._pinned
                and attempt == 0
                and b"is too new" in body_bytes
            ):
                self.negotiate()
                continue
            raise daemon_error(resp.status, body_bytes, resp.reason)
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(
        self,
        method: str,
        path: str,
        query: Query,
        data: bytes,
        headers: list[tuple[str, str]],
        stream: bool,
        upgrade: bool,
    ) -> Response:
        try:
            return self.conn.request(
                method, self.target(path, query), data, headers, stream=stream, upgrade=upgrade
            )
        except ConnectError as e:
            if self.autostart and _may_autostart(self.host):
                from berth.client.autostart import ensure_daemon

                ensure_daemon(self.host)
                return self.conn.request(
                    method, self.target(path, query), data, headers, stream=stream, upgrade=upgrade
                )
            raise CannotConnect(
                f"Cannot connect to the berth daemon at {self.host.url}."
                " Is the berth daemon running?"
            ) from e

    def negotiate(self) -> str:
        """Use the daemon's API version when it is older than ours."""
        from berth.api.versions import compare

        resp = self.conn.request("GET", "/_ping")  # unversioned: any daemon answers it
        server = resp.headers.get("api-version", "")
        self.server_headers = resp.headers
        try:
            if server and compare(server, API_VERSION) < 0:
                self.api_version = server
        except ValueError:
            pass
        return self.api_version

    def ping(self) -> dict[str, str]:
        """``GET /_ping``: the daemon's headers (API-Version, OSType, ...)."""
        resp = self.request("GET", "/_ping")
        return resp.headers

    def get_json(self, path: str, query: Query = None) -> Any:
        return self._decode(self.request("GET", path, query))

    def post_json(self, path: str, query: Query = None, body: object = None) -> Any:
        return self._decode(self.request("POST", path, query, body))

    def delete(self, path: str, query: Query = None) -> Any:
        return self._decode(self.request("DELETE", path, query))

    def stream_json(
        self, method: str, path: str, query: Query = None, body: object = None
    ) -> Iterator[Any]:
        """The JSON documents of a streamed answer (events, pulls, stats), one by one."""
        resp = self.request(method, path, query, body, stream=True)
        return json_messages(resp)

    def hijack(self, method: str, path: str, query: Query = None, body: object = None) -> RawStream:
        """Ask to upgrade the connection (attach, exec start) and take it over."""
        resp = self.request(method, path, query, body, upgrade=True)
        return self.conn.hijack(resp)

    def read_json(self, resp: Response) -> Any:
        """The JSON body of a response requested with ``stream`` or ``upgrade``."""
        resp.body = _read_all(resp)
        return self._decode(resp)

    @staticmethod
    def _decode(resp: Response) -> Any:
        if not resp.body.strip():
            return None
        from berth.jsonio import loads

        return loads(resp.body.decode("utf-8", "replace"), "the daemon's answer")


def _read_all(resp: Response) -> bytes:
    return b"".join(resp.iter_body())


def json_messages(resp: Response) -> Iterator[Any]:
    """Decode a stream of JSON documents separated by newlines (Docker's)."""
    from berth.jsonio import loads

    buf = b""
    try:
        for piece in resp.iter_body():
            buf += piece
            while True:
                nl = buf.find(b"\n")
                if nl < 0:
                    break
                line, buf = buf[:nl].strip(), buf[nl + 1 :]
                if line:
                    yield loads(line.decode("utf-8", "replace"), "the daemon's stream")
        if buf.strip():
            yield loads(buf.decode("utf-8", "replace"), "the daemon's stream")
    finally:
        resp.close()


def _may_autostart(host: Host) -> bool:
    import os

    if host.kind != "unix" or host.source == "DOCKER_HOST":
        return False
    return os.environ.get("BERTH_NO_AUTOSTART", "") in ("", "0", "false")
