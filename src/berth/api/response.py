"""What a route handler returns.

- a ``dict``/``list`` (or anything JSON-encodable but ``None``): 200 with
  that JSON document;
- ``None``: 204 No Content (Docker's answer to most POSTs that change state);
- :class:`Response`: a status, headers and a body (bytes) of your choosing;
  :func:`json_response` builds one for a JSON document with another status;
- :class:`Stream`: a chunked response whose body is produced by an iterator,
  written (and flushed) item by item -- pulls, events, logs, stats;
- :class:`Hijack`: the connection is taken over after the response head
  (attach, exec start): see the class.

Errors are raised, not returned: a :class:`berth.errors.BerthError` becomes
its status with Docker's ``{"message": ...}`` body (``berth.api.errors``).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from berth.api.server import Hijacked


class Response:
    __slots__ = ("body", "content_type", "headers", "status")

    def __init__(
        self,
        status: int = 200,
        body: bytes = b"",
        content_type: str | None = None,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers or []


def json_response(doc: object, status: int = 200) -> Response:
    from berth.jsonio import dumps

    return Response(status, (dumps(doc) + "\n").encode(), "application/json")


def text_response(text: str, status: int = 200) -> Response:
    return Response(status, text.encode(), "text/plain; charset=utf-8")


class Stream:
    """A streamed (chunked) body.

    ``items`` yields ``bytes`` (written as they are), JSON-encodable objects
    (written as one JSON document and ``separator`` each: Docker's JSON
    message streams), or ``None`` -- a heartbeat that writes nothing but lets
    the server notice a client that went away or a daemon that stops. A
    producer that may wait long between items should yield ``None`` every
    second or so. The response head is sent before the first item is asked
    for, so a client sees the status at once (``docker events`` waits on it).

    When the iterator raises, the response is cut off (no last chunk), which
    the client sees as an error; producers that should report errors in-band
    (pulls: ``{"error": ...}``) catch them and yield the message themselves.
    The iterator's ``close()`` is called in every case.
    """

    __slots__ = ("content_type", "headers", "items", "separator", "status")

    def __init__(
        self,
        items: Iterable[object],
        content_type: str = "application/json",
        separator: bytes = b"\n",
        status: int = 200,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        self.items = items
        self.content_type = content_type
        self.separator = separator
        self.status = status
        self.headers = headers or []


RAW_STREAM = "application/vnd.docker.raw-stream"
MULTIPLEXED_STREAM = "application/vnd.docker.multiplexed-stream"


class Hijack:
    """Take the connection over: attach and exec.

    When the request asked to upgrade (``Connection: Upgrade``,
    ``Upgrade: tcp``, what docker sends), the server answers
    ``101 UPGRADED`` with ``Connection: Upgrade`` / ``Upgrade: tcp``;
    otherwise ``200 OK`` (older clients). Then it calls ``run(conn)`` with a
    :class:`berth.api.server.Hijacked` -- the raw socket plus whatever the
    client already sent -- and closes the connection when ``run`` returns.
    ``content_type`` tells the client whether the stream is multiplexed
    (:mod:`berth.api.stdcopy` frames; no TTY) or raw (TTY).
    """

    __slots__ = ("content_type", "headers", "run")

    def __init__(
        self,
        run: Callable[[Hijacked], None],
        content_type: str = RAW_STREAM,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        self.run = run
        self.content_type = content_type
        self.headers = headers or []
