"""Daemon-level endpoints: ``/_ping``, ``/version``, ``/info``, ``/events``, ``/system/df``."""

from __future__ import annotations

from berth.api.response import Response, Stream
from berth.engine.events import matches
from berth.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

    from berth.api.request import Request
    from berth.api.router import Router
    from berth.engine.daemon import Daemon

PING_HEADERS = [
    ("Builder-Version", "1"),
    ("Cache-Control", "no-cache, no-store, must-revalidate"),
    ("Pragma", "no-cache"),
    ("Swarm", "inactive"),
]


def parse_timestamp(value: str, name: str) -> int:
    """Docker's ``seconds[.nanoseconds]`` query timestamps -> nanoseconds."""
    sec_s, dot, frac = value.partition(".")
    neg = sec_s.startswith("-")
    digits = sec_s[1:] if neg else sec_s
    if not digits.isdigit() or (dot and not frac.isdigit()) or not digits.isascii():
        raise InvalidArgument(
            f"invalid value for query parameter {name!r}: {value!r} is not a timestamp"
            " (seconds[.nanoseconds] since the epoch)"
        )
    nanos = int((frac + "000000000")[:9]) if dot else 0
    seconds = int(digits)
    total = seconds * 1_000_000_000 + nanos
    return -total if neg else total


def register(router: Router, daemon: Daemon) -> None:
    def ping(req: Request) -> Response:
        body = b"" if req.method == "HEAD" else b"OK"
        return Response(200, body, "text/plain; charset=utf-8", list(PING_HEADERS))

    def version(req: Request) -> object:
        return daemon.version()

    def info(req: Request) -> object:
        return daemon.info()

    def disk_usage(req: Request) -> object:
        return daemon.disk_usage()

    def events(req: Request) -> Stream:
        since_s, until_s = req.arg("since", ""), req.arg("until", "")
        since = parse_timestamp(since_s, "since") if since_s else None
        until = parse_timestamp(until_s, "until") if until_s else None
        if since is not None and until is not None and until < since:
            raise InvalidArgument(
                f"`since` time ({since_s}) cannot be after `until` time ({until_s})"
            )
        f = req.filters()
        sub = daemon.events.subscribe(since, until, (lambda ev: matches(f, ev)) if f else None)

        def stream() -> Iterator[object]:
            try:
                for ev in sub.iter(heartbeat=1.0):
                    yield None if ev is None else ev.to_json()
            finally:
                sub.close()

        return Stream(stream())

    router.add("GET", "/_ping", ping)
    router.add("HEAD", "/_ping", ping)
    router.add("GET", "/version", version)
    router.add("GET", "/info", info)
    router.add("GET", "/events", events)
    router.add("GET", "/system/df", disk_usage)
