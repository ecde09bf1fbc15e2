"""The Engine API application: versions, routing, errors, Docker's headers.

:class:`App` is what the HTTP server calls for every request. It strips the
``/vX.Y`` prefix (refusing versions outside the supported range), finds the
route, builds the :class:`~berth.api.request.Request`, calls the handler and
turns what it returns (or raises) into a response with the headers every
Docker response carries (``Api-Version``, ``Docker-Experimental``,
``Ostype``, ``Server``).

Routes come from the modules in :data:`ROUTE_MODULES`; each has
``register(router, daemon)`` (see ``berth.api``). :func:`start_server` is
what ``berthd`` runs: it builds the app and listens on the configured hosts.
"""

from __future__ import annotations

import logging

from berth.api.errors import error_body, message_of, status_of
from berth.api.http import parse_query
from berth.api.request import Request
from berth.api.response import Hijack, Response, Stream, json_response
from berth.api.router import Router, split_version
from berth.api.versions import API_VERSION, BERTH_VERSION

TYPE_CHECKING = False
if TYPE_CHECKING:
    from berth.api.http import Body, RequestHead
    from berth.api.server import Server
    from berth.engine.daemon import Daemon

log = logging.getLogger("berth.api")

# One module per area; each defines register(router, daemon).
ROUTE_MODULES: tuple[str, ...] = (
    "berth.api.system",
    "berth.api.images",
    "berth.api.containers",
    "berth.api.exec",
    "berth.api.container_ops",
    "berth.api.networks",
    "berth.api.volumes",
    "berth.api.container_fs",
    "berth.api.build",
)

NOT_FOUND = b'{"message":"page not found"}\n'


def build_router(daemon: Daemon, modules: tuple[str, ...] = ROUTE_MODULES) -> Router:
    import importlib

    router = Router()
    for name in modules:
        importlib.import_module(name).register(router, daemon)
    return router


class App:
    def __init__(self, router: Router, experimental: bool = False) -> None:
        self.router = router
        self.standard_headers = [
            ("Api-Version", API_VERSION),
            ("Docker-Experimental", "true" if experimental else "false"),
            ("Ostype", "linux"),
            ("Server", f"berth/{BERTH_VERSION} (linux)"),
        ]

    def __call__(self, head: RequestHead, body: Body) -> Response | Stream | Hijack:
        try:
            version, path = split_version(head.path)
            found = self.router.match(head.method, path)
            if found is None:
                return Response(404, NOT_FOUND, "application/json", list(self.standard_headers))
            handler, params = found
            if log.isEnabledFor(logging.DEBUG):
                log.debug("Calling %s %s", head.method, head.path)
            req = Request(
                head, path, version or API_VERSION, params, parse_query(head.query_string), body
            )
            result = handler(req)
        except Exception as e:
            return self.error(e, head)
        return self.wrap(result)

    def wrap(self, result: object) -> Response | Stream | Hijack:
        if result is None:
            resp = Response(204)
        elif isinstance(result, Response):
            resp = result
        elif isinstance(result, (Stream, Hijack)):
            result.headers = self.standard_headers + result.headers
            return result
        else:
            resp = json_response(result)
        resp.headers = self.standard_headers + resp.headers
        return resp

    def error(self, exc: BaseException, head: RequestHead) -> Response:
        status = status_of(exc)
        message = message_of(exc)
        if status >= 500:
            log.error("%s %s: %s", head.method, head.path, message, exc_info=exc)
        elif log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s: %d %s", head.method, head.path, status, message)
        if status == 304:
            return Response(304, b"", None, list(self.standard_headers))
        return Response(
            status, error_body(message), "application/json", list(self.standard_headers)
        )


def start_server(daemon: Daemon) -> Server:
    """Build the app and listen on every configured host (berthd's server)."""
    from berth.api.server import Limits, Server
    from berth.engine.config import parse_listen_host
    from berth.engine.daemon import stale_socket

    app = App(build_router(daemon), daemon.config.experimental)
    server = Server(app, Limits())
    try:
        for host in daemon.config.socket_hosts:
            kind, where, port = parse_listen_host(host)
            if kind == "unix":
                import os

                os.makedirs(os.path.dirname(where), exist_ok=True)
                if stale_socket(where):
                    os.unlink(where)
                server.listen_unix(where)
            else:
                server.listen_tcp(where, port)
    except BaseException:
        server.stop(0)
        raise
    return server
