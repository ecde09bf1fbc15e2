"""``docker run`` in one request: berth's own CLI asks for it, other clients never do.

The docker CLI runs a container in four requests: create, attach (hijacked),
wait (its answer read at the end) and start, each sent once the one before has
been answered, each on a connection of its own. berth's CLI adds
``berthRun=1`` to its create request, with upgrade headers; berthd then
creates the container, takes its exit waiter, answers ``101`` with the
container's ID (``X-Berth-Container``), and starts it on the spot, attached
to it by the start's own connection to the monitor: ~1.6 ms less of a
``berth run --rm busybox true`` here (bench/ab.py), ~0.4 ms more with the
attach on that connection (monitor protocol 3). A daemon that knows nothing
of it (dockerd) ignores the parameter and answers the create as usual: the
CLI goes on as docker does.

The stream that follows is always multiplexed (:mod:`berth.api.stdcopy`;
with a TTY, its output comes as stdout frames); the client's input is raw,
as on an attach. Stream 3 (Docker's "system error" stream) carries this
session's own JSON documents, one per frame:

- ``{"Warnings": [...]}`` first, when the create has any;
- ``{"Started": true}`` once the container runs (the client sizes its TTY then);
- ``{"StatusCode": n}`` last, once the wait condition holds (``berthWait``:
  ``next-exit``, or ``removed`` for ``--rm``);
- ``{"Error": "...", "Start": true}`` when the start failed (the container,
  with ``--rm``, is removed), as the last frame.

Query parameters besides create's ``name``: ``berthStdin``, ``berthStdout``,
``berthStderr`` (1 or 0), ``berthWait`` and ``detachKeys``.
"""

from __future__ import annotations

import select

from berth.api.response import MULTIPLEXED_STREAM, Hijack

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from berth.api.request import Request
    from berth.api.server import Hijacked
    from berth.engine.containers.service import ContainerService

#: the stream of this session's own documents
STATUS_STREAM = 3
_GONE = select.POLLHUP | select.POLLERR | select.POLLNVAL


def status_frame(doc: dict[str, Any]) -> bytes:
    from berth.api.stdcopy import frame
    from berth.jsonio import dumps

    return frame(STATUS_STREAM, dumps(doc).encode())


def run_session(s: ContainerService, req: Request, answer: dict[str, Any]) -> Hijack:
    """Attach to, wait for and start the container ``answer`` (create's) names."""
    from berth.api.detachkeys import EscapeProxy, from_request
    from berth.engine.containers.waiting import ExitWaiter
    from berth.errors import BerthError

    cid = str(answer["Id"])
    row = s.find(cid)
    stdin = req.arg_bool("berthStdin")
    stdout = req.arg_bool("berthStdout")
    stderr = req.arg_bool("berthStderr")
    sequence = from_request(req.arg("detachKeys"))
    waiter = ExitWaiter(s, row, req.arg("berthWait") or "next-exit")
    wanted = (stdin, stdout, stderr) if stdin or stdout or stderr else None
    tty = bool(row.config.get("Tty"))
    proxy = EscapeProxy(sequence) if tty and stdin else None

    def run(conn: Hijacked) -> None:
        from berth.api.hijack import pump

        if answer.get("Warnings"):
            conn.write(status_frame({"Warnings": list(answer["Warnings"])}))
        try:
            # (attached from before the program runs; with --rm removed if it fails)
            attached = s.start(cid, attach=wanted)
        except BerthError as e:
            conn.write(status_frame({"Error": str(e), "Start": True}))
            return
        conn.write(status_frame({"Started": True}))
        how = "ended"
        if attached is not None:
            sock, rest = attached
            try:
                how = pump(conn, sock, rest, stdin=stdin, proxy=proxy, frames=tty)
            finally:
                sock.close()
            if how == "detached":
                s._publish(row, "detach")
        if how != "ended":
            return
        poller = select.poll()
        poller.register(conn.sock.fileno(), 0)  # (a hang-up is told anyway)
        while True:
            doc = waiter.wait(1.0)
            if doc is not None:
                conn.write(status_frame({"StatusCode": doc["StatusCode"]}))
                return
            if any(ev & _GONE for _, ev in poller.poll(0)):
                return  # the client went away (not only its input: that half-closes)

    return Hijack(run, MULTIPLEXED_STREAM, [("X-Berth-Container", cid)])
