"""The monitor's control protocol, and the client berthd uses.

Transport: a unix stream socket, ``<exec-root>/shim.sock``. Each request is
one JSON object on one line, ``{"op": ..., ...}``; the monitor answers with
one line, ``{"ok": true, ...}`` or ``{"ok": false, "kind": <berth.errors
class>, "message": ...}``. Two requests turn the connection into a stream
after their answer:

- ``events``: one JSON line per event, for as long as the connection lives
  (``{"event": "exit", "id", "pid", "exit_code", "oom_killed", "finished_at"}``;
  ``{"event": "exec_exit", "id", "exec_id", "pid", "exit_code"}`` when an
  exec'd process ends -- sent before its attached stream closes);
- ``attach`` (and ``exec`` with ``attach``): raw bytes both ways -- the
  container's output (Docker's stdcopy frames without a TTY, raw bytes with
  one) from the monitor, the container's input from the client; the monitor
  closes the connection when the container (the exec'd process) has exited
  and its output is drained.

Requests (schema version 3: version 2 added ``plan_first`` to ``start``,
version 3 its ``attach``. A monitor outlives the berthd that started it, so
it may be older than its client: berthd asks ``ping`` once per monitor
process, see :meth:`ShimClient.version`, before it uses what a version added):

=============  ==============================================================
op             fields -> answer
=============  ==============================================================
``ping``       -> ``pid``, ``version``
``start``      ``id bundle runtime_root log_path tty open_stdin stdin_once
               console_size unmount auto_remove`` -> ``pid started_at``
               (``auto_remove``: no exit.json at its exit); with ``hold``
               the monitor creates the container, then reads one more line
               before its program runs: ``{"op": "go"}``, or anything else
               (``{"op": "abort"}``, end of file, 30 s of nothing) to delete
               it and answer an error (see :meth:`ShimClient.start`); with
               ``plan_first`` too, it reads the bundle's config first (the
               rootfs and the files it binds need not be there yet), then
               a line ``{"op": "ready"}`` before it creates the container
               (anything else: an error answer, nothing made); with
               ``attach`` (``{"stdin", "stdout", "stderr"}``) the connection
               then carries the container's streams, as ``attach`` does
``list``       -> ``containers``: [{``id pid started_at``}]
``attach``     ``id stdin stdout stderr`` (waits for a start of that id when
               it is not running yet, up to ``wait`` seconds) -> stream
``exec``       ``id exec_id runtime_root process`` (an OCI process object)
               ``attach stdin stdout stderr`` -> ``pid``; with ``attach`` the
               connection then carries the process's streams as ``attach``
               does (stdin EOF closes its stdin when it has no terminal);
               without, its stdio is /dev/null (or a pty nobody reads)
``resize``     ``id height width`` (``exec_id``: that exec's terminal)
``close_stdin`` ``id``
``events``     -> stream
``shutdown``   (tests) -> the monitor exits when no container runs
=============  ==============================================================
"""

from __future__ import annotations

import os
import time

from berth import errors, jsonio

TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket
    from collections.abc import Callable, Iterator
    from typing import Any

PROTOCOL_VERSION = 3
SOCKET_NAME = "shim.sock"
PID_NAME = "shim.pid"


def encode(doc: dict[str, Any]) -> bytes:
    return (jsonio.dumps(doc) + "\n").encode()


def raise_for(answer: dict[str, Any]) -> dict[str, Any]:
    if answer.get("ok"):
        return answer
    kind = str(answer.get("kind", "BerthError"))
    cls = getattr(errors, kind, None)
    message = str(answer.get("message", "the container monitor failed"))
    if isinstance(cls, type) and issubclass(cls, errors.BerthError) and kind != "KernelError":
        raise cls(message)
    raise errors.ContainerStartError(message)


class LineReader:
    """Reads JSON lines from a socket, keeping what follows the last line."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def line(self) -> dict[str, Any] | None:
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        doc: dict[str, Any] = jsonio.loads(line, "monitor message")
        return doc


class ShimClient:
    """berthd's side: starts the monitor when it is not running, sends requests."""

    def __init__(self, root: str, exec_root: str, python: str | None = None) -> None:
        import threading

        self.root = root
        self.exec_root = exec_root
        self.path = os.path.join(exec_root, SOCKET_NAME)
        self.python = python
        self._spawning = threading.Lock()  # one spawn at a time (concurrent starts, attaches)
        self._version: tuple[int, int] | None = None  # (monitor pid, its protocol version)

    def _connect(self) -> socket.socket:
        import socket

        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(self.path)
        except OSError:
            s.close()
            raise
        return s

    def version(self) -> int:
        """The protocol version of the monitor that runs now: asked (``ping``) once per
        monitor process, which its pid file tells."""
        try:
            with open(os.path.join(self.exec_root, PID_NAME)) as f:
                pid = int(f.read())
        except (OSError, ValueError):
            pid = 0
        known = self._version
        if known is None or not pid or known[0] != pid:
            answer = self.request("ping")
            known = self._version = (int(answer.get("pid") or 0), int(answer.get("version") or 1))
        return known[1]

    def running(self) -> bool:
        try:
            s = self._connect()
        except OSError:
            return False
        s.close()
        return True

    def ensure(self, timeout: float = 10.0) -> None:
        """Start the monitor if it does not answer; wait until it does."""
        if self.running():
            return
        from berth.engine.monitor.spawn import spawn

        with self._spawning:
            if self.running():
                return  # another thread started it meanwhile
            spawn(self.root, self.exec_root, self.python)
            deadline = time.monotonic() + timeout
            while not self.running():
                if time.monotonic() > deadline:
                    log = os.path.join(self.exec_root, "shim.log")
                    raise errors.Unavailable(
                        f"the container monitor did not start within {timeout:.0f}s; see {log}"
                    )
                time.sleep(0.005)

    def request(self, op: str, **fields: Any) -> dict[str, Any]:
        fields["op"] = op
        s = self._connect()
        try:
            s.sendall(encode(fields))
            answer = LineReader(s).line()
        finally:
            s.close()
        if answer is None:
            raise errors.Unavailable(f"the container monitor closed the connection during {op}")
        return raise_for(answer)

    def start(
        self,
        ready: Callable[[], None] | None = None,
        prepare: Callable[[], None] | None = None,
        *,
        stream_to: list[tuple[socket.socket, bytes]] | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """The ``start`` request. With ``ready``, the monitor creates the container
        and holds it before its program runs (``"hold": true``) while ``ready()``
        runs here; then it is told ``go`` -- or ``abort`` when ``ready`` raised: the
        container is deleted, and what ``ready`` raised is raised.

        With ``prepare`` too, the request goes first (``"plan_first": true``): the
        monitor reads the bundle while ``prepare()`` runs here (mounting the rootfs,
        writing the files the config binds), and creates the container once told
        ``ready`` -- or is told ``abort`` when ``prepare`` raised.

        With ``stream_to`` (and ``attach={"stdin", "stdout", "stderr"}`` in the
        fields: protocol 3), the connection goes on as an attach stream once the
        container runs: (the socket, the bytes read past the answer) are appended."""
        if ready is None and stream_to is None:
            return self.request("start", **fields)
        fields["op"] = "start"
        if ready is not None:
            fields["hold"] = True
            if prepare is not None:
                fields["plan_first"] = True
        s = self._connect()
        kept = False
        try:
            s.sendall(encode(fields))
            if ready is not None:
                try:
                    if prepare is not None:
                        prepare()
                        try:
                            s.sendall(encode({"op": "ready"}))
                        except OSError:
                            pass  # the monitor answered already (its planning failed)
                    ready()
                except BaseException:
                    try:
                        s.sendall(encode({"op": "abort"}))
                        LineReader(s).line()  # the container is gone once this answer comes
                    except OSError:
                        pass
                    raise
                try:
                    s.sendall(encode({"op": "go"}))
                except OSError:
                    pass  # the monitor answered already (its create failed): read why
            reader = LineReader(s)
            answer = reader.line()
            if stream_to is not None and answer is not None and answer.get("ok"):
                stream_to.append((s, reader.buf))
                kept = True
        finally:
            if not kept:
                s.close()
        if answer is None:
            raise errors.Unavailable("the container monitor closed the connection during start")
        return raise_for(answer)

    def stream(self, op: str, **fields: Any) -> tuple[socket.socket, bytes]:
        """Send a streaming request; return the socket (and bytes read past the answer)."""
        _, s, rest = self.open_stream(op, **fields)
        return s, rest

    def open_stream(self, op: str, **fields: Any) -> tuple[dict[str, Any], socket.socket, bytes]:
        """Like :meth:`stream`, with the monitor's answer first."""
        fields["op"] = op
        s = self._connect()
        try:
            s.sendall(encode(fields))
            reader = LineReader(s)
            answer = reader.line()
            if answer is None:
                raise errors.Unavailable(f"the container monitor closed the connection during {op}")
            raise_for(answer)
        except BaseException:
            s.close()
            raise
        return answer, s, reader.buf

    def events(self) -> Iterator[dict[str, Any]]:
        s, rest = self.stream("events")
        reader = LineReader(s)
        reader.buf = rest
        try:
            while True:
                doc = reader.line()
                if doc is None:
                    return
                yield doc
        finally:
            s.close()
