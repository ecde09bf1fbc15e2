"""Exec routes (Docker Engine API): run another process in a running container.

=================================================  =======================================
route                                              answer
=================================================  =======================================
POST   /containers/{id}/exec                        201 {"Id"} (body: ExecConfig)
POST   /exec/{id}/start                             body {"Detach", "Tty", "ConsoleSize"}:
                                                    hijacked stream; 200 when detached
GET    /exec/{id}/json                              ExecInspect
POST   /exec/{id}/resize?h=&w=                      200
=================================================  =======================================

An attached start hijacks the connection first and starts the process
after (as Docker does), so an error of starting it -- a program that is not
there -- is written into the stream and the exec's ``ExitCode`` says 126 or
127. The stream is multiplexed (stdcopy frames) without a TTY, raw with one;
its Content-Type says ``multiplexed-stream`` for API >= 1.42 without a TTY.
"""

from __future__ import annotations

from berth.api.response import MULTIPLEXED_STREAM, RAW_STREAM, Hijack, Response, json_response

TYPE_CHECKING = False
if TYPE_CHECKING:
    from berth.api.request import Request
    from berth.api.router import Router
    from berth.api.server import Hijacked
    from berth.engine.containers.execs import ExecRecord, ExecService
    from berth.engine.daemon import Daemon


def exec_service(daemon: Daemon) -> ExecService:
    from berth.api.containers import container_service

    containers = container_service(daemon)  # before daemon.service(): see its note

    def make() -> ExecService:
        from berth.engine.containers.execs import ExecService

        return ExecService(containers)

    svc: ExecService = daemon.service("execs", make)
    return svc


def register(router: Router, daemon: Daemon) -> None:
    def svc() -> ExecService:
        return exec_service(daemon)

    def create(req: Request) -> object:
        return json_response(svc().create(req.params["id"], req.json_object()), 201)

    def start(req: Request) -> object:
        body = req.json_object()
        s = svc()
        size = body.get("ConsoleSize")
        rec = s.prepare_start(
            req.params["id"], console_size=size if isinstance(size, list) else None
        )
        if body.get("Detach"):
            s.run_detached(rec)
            return Response(200)
        multiplexed = not rec.tty and req.version_at_least("1.42")

        def run(conn: Hijacked) -> None:
            pump(s, rec, conn)

        return Hijack(run, MULTIPLEXED_STREAM if multiplexed else RAW_STREAM)

    def inspect(req: Request) -> object:
        return svc().get(req.params["id"]).inspect()

    def resize(req: Request) -> object:
        svc().resize(req.params["id"], req.arg_int("h", 0), req.arg_int("w", 0))
        return Response(200)

    router.add("POST", "/containers/{id}/exec", create)
    router.add("POST", "/exec/{id}/start", start)
    router.add("GET", "/exec/{id}/json", inspect)
    router.add("POST", "/exec/{id}/resize", resize)


def pump(svc: ExecService, rec: ExecRecord, conn: Hijacked) -> None:
    """Start the process on a monitor stream and copy both ways until it ends.

    The client's input goes through the detach-key proxy when the exec has a
    terminal and stdin: the sequence ends the session and leaves the process
    running. When the output ends (the process exited), wait for its exit
    code before closing, so that the client's ``GET /exec/{id}/json`` sees it.
    """
    from berth.api.detachkeys import EscapeProxy, parse_or_default
    from berth.api.hijack import pump as copy
    from berth.api.stdcopy import frame
    from berth.errors import BerthError

    try:
        shim, rest = svc.open_attached(rec)
    except BerthError as e:
        text = f"OCI runtime exec failed: {e.message}\r\n".encode()
        conn.write(text if rec.tty else frame(1, text))
        return
    proxy = None
    if rec.tty and rec.open_stdin:
        proxy = EscapeProxy(parse_or_default(rec.detach_keys))
    try:
        how = copy(conn, shim, rest, stdin=rec.open_stdin, proxy=proxy)
    finally:
        shim.close()
    if how == "ended":
        svc.wait_exit(rec)
    elif how == "detached":
        svc.detached(rec)
