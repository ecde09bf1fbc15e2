"""Named network namespaces: a file that keeps a netns alive, and ways into it.

A network namespace belongs to a *thread*, so berth never switches the
namespace of a thread that does other work. Each operation runs a short
thread that

- :func:`create`: ``unshare(CLONE_NEWNET)``, brings ``lo`` up, bind-mounts
  ``/proc/thread-self/ns/net`` onto ``path`` (an empty file it creates), then
  calls ``inside()`` there and returns its result;
- :func:`run_in`: ``setns()`` into the namespace at ``path`` and calls ``fn()``;
- :func:`create_unpinned`: as :func:`create`, but the namespace is held by a
  descriptor instead of a file; :func:`pin` gives it its file later (a netns
  made ahead of the container that takes it: berth.network.host).

What ``inside``/``fn`` open there (a netlink socket, a DNS socket) stays in
that namespace after the thread ends, so the caller configures the inside
from its own thread through those sockets.

:func:`remove` detaches the bind mount and unlinks the file. The namespace
itself goes away when nothing else (a container process, a socket) holds it.
"""

from __future__ import annotations

import os

from berth.kernel import consts as c
from berth.kernel.syscalls import SYSCALLS, Syscalls

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TypeVar

    T = TypeVar("T")


def _in_thread(fn: Callable[[], T]) -> T:
    import threading

    box: list[object] = []
    err: list[BaseException] = []

    def run() -> None:
        try:
            box.append(fn())
        except BaseException as e:
            err.append(e)

    t = threading.Thread(target=run, name="berth-netns")
    t.start()
    t.join()
    if err:
        raise err[0]
    return box[0]  # type: ignore[return-value]


def _lo_up() -> None:
    from berth.kernel.netlink import RtNetlink

    with RtNetlink() as nl:
        nl.set_link(1, up=True)  # lo is always index 1 in a new netns


def create(
    path: str, inside: Callable[[], T] | None = None, *, sys: Syscalls = SYSCALLS
) -> T | None:
    """Create a netns pinned at ``path`` (lo up); return ``inside()`` run in it.

    On any failure nothing is left: the mount is undone and the file removed.
    """
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDONLY | os.O_CLOEXEC, 0o444)
    os.close(fd)

    def body() -> T | None:
        sys.unshare(c.CLONE_NEWNET)
        _lo_up()
        sys.mount("/proc/thread-self/ns/net", path, None, c.MS_BIND)
        try:
            return inside() if inside is not None else None
        except BaseException:
            sys.umount(path, c.MNT_DETACH)
            raise

    try:
        return _in_thread(body)
    except BaseException:
        os.unlink(path)
        raise


def create_unpinned(inside: Callable[[], T], *, sys: Syscalls = SYSCALLS) -> tuple[int, T]:
    """Create a netns (lo up) held by the returned descriptor, and ``inside()`` run in
    it. Nothing names it: it ends with the descriptor (and what ``inside`` opened)."""

    def body() -> tuple[int, T]:
        sys.unshare(c.CLONE_NEWNET)
        _lo_up()
        fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            return fd, inside()
        except BaseException:
            os.close(fd)
            raise

    return _in_thread(body)


def pin(fd: int, path: str, *, sys: Syscalls = SYSCALLS) -> None:
    """Pin the netns of descriptor ``fd`` at ``path`` (a new file), as :func:`create` does."""
    made = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDONLY | os.O_CLOEXEC, 0o444)
    os.close(made)
    try:
        sys.mount(f"/proc/self/fd/{fd}", path, None, c.MS_BIND)
    except BaseException:
        os.unlink(path)
        raise


def run_in(path: str, fn: Callable[[], T], *, sys: Syscalls = SYSCALLS) -> T:
    """Call ``fn()`` in a thread that has joined the netns pinned at ``path``."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)

    def body() -> T:
        try:
            sys.setns(fd, c.CLONE_NEWNET, what=path)
        finally:
            os.close(fd)
        return fn()

    return _in_thread(body)


def open_fd(path: str) -> int:
    """An fd of the netns at ``path`` (for IFLA_NET_NS_FD); the caller closes it."""
    return os.open(path, os.O_RDONLY | os.O_CLOEXEC)


def remove(path: str, *, sys: Syscalls = SYSCALLS) -> bool:
    """Unpin and unlink the netns file at ``path``; False when it was not there."""
    from berth.errors import KernelError

    try:
        sys.umount(path, c.MNT_DETACH)
    except KernelError as e:
        if e.errno not in (2, 22):  # ENOENT: no file; EINVAL: not a mount point
            raise
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True


def is_pinned(path: str) -> bool:
    """True when ``path`` is a bind-mounted netns (its inode is on nsfs)."""
    try:
        return SYSCALLS.statfs_type(path) == NSFS_MAGIC
    except Exception:
        return False


NSFS_MAGIC = 0x6E736673
