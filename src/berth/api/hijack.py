"""Copy a hijacked client connection to and from a monitor stream (attach, exec).

:func:`pump` moves the process's output (from the monitor) to the client
and, with ``stdin``, the client's input to the monitor -- through a
detach-key proxy when one is given -- until one of three things happens:

- ``"ended"``: the monitor closed the stream (the process exited, its
  output drained);
- ``"detached"``: the client typed the detach sequence;
- ``"gone"``: the client closed its connection. A client that only ended
  its input (half-close: ``docker run -i`` after EOF on stdin) still gets
  the output: its EOF is passed on as the end of the process's stdin, and
  the pump goes on until the process's output ends or the client goes.
  The two are told apart by the socket's hang-up (both directions shut),
  so a pump never outlives its client waiting for output that may not come.

The caller closes the monitor's socket; the server closes the client's.
"""

from __future__ import annotations

import select
import socket

TYPE_CHECKING = False
if TYPE_CHECKING:
    from berth.api.detachkeys import EscapeProxy
    from berth.api.server import Hijacked

_HANGUP = select.POLLHUP | select.POLLERR | select.POLLNVAL


def pump(
    conn: Hijacked,
    shim: socket.socket,
    rest: bytes,
    *,
    stdin: bool,
    proxy: EscapeProxy | None = None,
    frames: bool = False,
) -> str:
    """Copy both ways; returns ``"ended"``, ``"detached"`` or ``"gone"`` (see above).
    ``frames``: the monitor's stream is raw (a TTY's), the client's multiplexed: its
    output goes to the client as stdout frames (berth.api.run_session)."""
    if frames:
        from berth.api.stdcopy import frame

        def out(data: bytes) -> None:
            conn.write(frame(1, data))
    else:
        out = conn.write

    def forward(data: bytes) -> bool:
        """Client input to the process; False when it completed the detach sequence."""
        if proxy is None:
            shim.sendall(data)
            return True
        data, detached = proxy.feed(data)
        if data:
            shim.sendall(data)
        return not detached

    try:
        if rest:
            out(rest)
        pending = conn.initial()
        if stdin and pending and not forward(pending):
            return "detached"
        poller = select.poll()
        poller.register(shim, select.POLLIN)
        client = conn.sock.fileno()
        poller.register(client, select.POLLIN if stdin else 0)
        reading = stdin
        while True:
            for fd, events in poller.poll(1000):
                if fd == client:
                    if reading and events & select.POLLIN:
                        data = conn.sock.recv(65536)
                        if data:
                            if not forward(data):
                                return "detached"
                            continue
                        reading = False  # the client's input ended: so does the process's
                        poller.modify(client, 0)
                        if proxy is not None and proxy.held:
                            shim.sendall(proxy.flush())
                        try:
                            shim.shutdown(socket.SHUT_WR)
                        except OSError:
                            pass
                    if events & _HANGUP:
                        return "gone"
                else:
                    data = shim.recv(65536)
                    if not data:
                        return "ended"
                    out(data)
    except OSError:
        return "gone"
