"""The container's terminal: a pty from the container's own devpts.

The init opens ``/dev/ptmx`` inside the container (so the pty belongs to
the container's devpts instance), unlocks it, opens the peer with
TIOCGPTPEER (no path lookup), binds the peer over ``/dev/console`` and
sends the master end to whoever holds the other side: the ``--console-socket``
(a unix socket path; the runc protocol: one SCM_RIGHTS message carrying the
fd) or, for ``run`` in the foreground, a socket the runtime itself made.
The init then makes the peer its controlling terminal and its stdio.
"""

from __future__ import annotations

import os

from berth.errors import InvalidArgument
from berth.kernel import consts as c
from berth.runtime.paths import ensure_in_root, fd_path, open_in_root

TYPE_CHECKING = False
if TYPE_CHECKING:
    from berth.kernel.syscalls import Syscalls

TIOCSPTLCK = 0x40045431
TIOCGPTPEER = 0x5441
TIOCSCTTY = 0x540E
TIOCSWINSZ = 0x5414
TIOCGWINSZ = 0x5413


def open_pty(k: Syscalls, rootfd: int, rows: int = 0, cols: int = 0) -> tuple[int, int]:
    """(master, peer) of a new pty of the container's devpts."""
    import fcntl
    import struct

    try:
        master = open_in_root(k, rootfd, "/dev/ptmx", os.O_RDWR | os.O_NOCTTY)
    except Exception:
        raise InvalidArgument(
            "process.terminal: the container has no /dev/ptmx (mount a devpts at /dev/pts)"
        ) from None
    fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
    peer = fcntl.ioctl(master, TIOCGPTPEER, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    if rows and cols:
        fcntl.ioctl(peer, TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    return master, peer


def bind_console(k: Syscalls, rootfd: int, peer: int) -> None:
    """Bind the pty peer over the container's /dev/console."""
    fd = ensure_in_root(k, rootfd, "/dev/console", kind="file")
    try:
        k.mount(fd_path(peer), fd_path(fd), None, c.MS_BIND)
    finally:
        os.close(fd)


def send_fd(sock_fd: int, fd: int, name: str = "/dev/ptmx") -> None:
    import _socket

    s = _socket.socket(fileno=sock_fd)
    try:
        s.sendmsg(
            [name.encode()],
            [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fd.to_bytes(4, "little"))],
        )
    finally:
        s.detach()


def send_to_console_socket(path: str, fd: int) -> None:
    """Connect to a --console-socket and hand it the pty master."""
    import _socket

    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        try:
            s.connect(path)
        except OSError as e:
            raise InvalidArgument(
                f"--console-socket {path}: cannot connect: {os.strerror(e.errno or 0)}"
            ) from None
        send_fd(s.fileno(), fd)
    finally:
        s.close()


def recv_fd(sock_fd: int) -> int:
    """Receive one fd sent with SCM_RIGHTS (the runtime's own console socket)."""
    import _socket

    s = _socket.socket(fileno=sock_fd)
    try:
        _msg, anc, _flags, _addr = s.recvmsg(4096, _socket.CMSG_SPACE(4))
    finally:
        s.detach()
    for level, kind, data in anc:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            return int.from_bytes(data[:4], "little")
    raise InvalidArgument("console: no terminal descriptor was received")


def make_controlling(peer: int) -> None:
    """Make the pty peer this session's controlling terminal and our stdio."""
    import fcntl

    fcntl.ioctl(peer, TIOCSCTTY, 0)
    for target in (0, 1, 2):
        os.dup2(peer, target)
    if peer > 2:
        os.close(peer)
