"""Typed messages between the runtime and the container's init, over pipes.

Each message is one JSON object on one line: ``{"type": ..., ...}``. The
init side sends what it has done or needs (``pid``, ``map-ids``,
``hooks``, ``created``, ``error``); the runtime answers (``go``). An
``error`` message carries the error class name and text, so the runtime
re-raises the same :mod:`berth.errors` class the init hit. All descriptors
are close-on-exec: when the init execs the container's program, the
runtime reads end-of-file, which means "started".

Message flow of ``create`` (runtime <-> stage 1 / init)::

    runtime                      stage 1 (joins/unshares)       init (pid 1)
      fork ------------------------>
      (v1 cgroup dirs) -- cgroup --------------------------------->  (fast path)
      (cgroup limits) -- limits ---------------------------------->
                    <- map-ids --   (new user namespace)
      (write maps)  -- go -------->
                    <- pid ------   fork ----------------------->
                                                                  mounts...
                                                                  (waits for cgroup, joins)
                                                                  /sys/fs/cgroup
                                                                  (waits for limits)
                                                                  device nodes
                    <- hooks ------------------------------------ (before pivot)
      (createRuntime hooks) -- go -------------------------------->
                    <- created ---------------------------------- (waits for start,
                                                                   but not in ``run``
                                                                   without a terminal)

``limits`` says that the cgroup's limits are written: the runtime writes them
while stage 1 and the init start, and the init waits for it before it makes
device nodes or opens a device (the devices controller must be in force),
or mounts the container's cgroup at /sys/fs/cgroup. On the fast path (one
clone3, no cgroup namespace) the runtime makes the v1 cgroup directories
after the fork as well and says ``cgroup`` (before ``limits``); the init
joins them then, before it mounts /sys/fs/cgroup or makes device nodes.
It may arrive before any other message the other side expects: ``expect``
notes it (``limits_ready``) and reads on.
"""

from __future__ import annotations

import os

from berth import errors, jsonio

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class Channel:
    """One end of a bidirectional message channel made of two pipes."""

    __slots__ = ("_buf", "limits_ready", "rfd", "wfd")

    def __init__(self, rfd: int, wfd: int) -> None:
        self.rfd = rfd
        self.wfd = wfd
        self._buf = b""
        self.limits_ready = False  # the runtime's "limits" was received

    @staticmethod
    def pair() -> tuple[Channel, Channel]:
        """(parent end, child end); every fd is close-on-exec."""
        r1, w1 = os.pipe2(os.O_CLOEXEC)
        r2, w2 = os.pipe2(os.O_CLOEXEC)
        return Channel(r1, w2), Channel(r2, w1)

    def send(self, type_: str, **fields: Any) -> None:
        fields["type"] = type_
        data = (jsonio.dumps(fields) + "\n").encode()
        while data:
            n = os.write(self.wfd, data)
            data = data[n:]

    def recv(self) -> dict[str, Any] | None:
        """The next message, or None at end-of-file (the peer exec'd or died)."""
        while b"\n" not in self._buf:
            chunk = os.read(self.rfd, 65536)
            if not chunk:
                return None
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        msg: dict[str, Any] = jsonio.loads(line, "sync message")
        return msg

    def expect(self, type_: str) -> dict[str, Any]:
        """Receive one message of ``type_``; raise what an ``error`` message carries.
        A ``limits`` on the way is noted (``limits_ready``) and passed over."""
        while True:
            msg = self.recv()
            if msg is None:
                raise errors.ContainerStartError(
                    f"the container's init exited before sending {type_!r}"
                )
            kind = msg.get("type")
            if kind == "limits" and type_ != "limits":
                self.limits_ready = True
                continue
            if kind == "error":
                raise_error(msg)
            if kind != type_:
                raise errors.ContainerStartError(
                    f"container init: expected {type_!r}, got {kind!r}"
                )
            return msg

    def wait_limits(self) -> None:
        """Return once the runtime has said "limits" (see the module docstring)."""
        if not self.limits_ready:
            self.expect("limits")
            self.limits_ready = True

    def send_error(self, exc: BaseException) -> None:
        if isinstance(exc, errors.KernelError):
            self.send("error", kind="KernelError", message=exc.message, errno=exc.errno)
        elif isinstance(exc, errors.BerthError):
            self.send("error", kind=type(exc).__name__, message=exc.message)
        else:
            self.send("error", kind="ContainerStartError", message=f"{type(exc).__name__}: {exc}")

    def close(self) -> None:
        for fd in (self.rfd, self.wfd):
            try:
                os.close(fd)
            except OSError:
                pass


def raise_error(msg: dict[str, Any]) -> None:
    kind = msg.get("kind", "ContainerStartError")
    text = msg.get("message", "unknown error in the container's init")
    cls = getattr(errors, kind, None)
    if kind == "KernelError":
        err = errors.ContainerStartError(text)
        err.errno = msg.get("errno", 0)  # type: ignore[attr-defined]
        raise err
    if isinstance(cls, type) and issubclass(cls, errors.BerthError):
        raise cls(text)
    raise errors.ContainerStartError(text)
