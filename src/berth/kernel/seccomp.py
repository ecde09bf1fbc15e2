"""Load a compiled seccomp filter, and serve its user notifications.

:func:`load` installs a :class:`berth.seccomp.Program` on the calling thread
(all threads with ``SECCOMP_FILTER_FLAG_TSYNC``) with
``seccomp(SECCOMP_SET_MODE_FILTER, flags, &sock_fprog)``. The caller must
have set no_new_privs or hold CAP_SYS_ADMIN; a filter cannot be removed
again, so tests load them in a forked child.

A program with ``SCMP_ACT_NOTIFY`` rules is loaded with
``SECCOMP_FILTER_FLAG_NEW_LISTENER`` and :func:`load` returns the listener
fd. The supervisor reads a notification with :func:`notify_receive` and
answers it with :func:`notify_respond` (an errno, a return value, or
"continue the call").
"""

from __future__ import annotations

from berth.errors import KernelError
from berth.kernel.ffi import (
    Structure,
    addressof,
    byref,
    c_int,
    c_int32,
    c_int64,
    c_long,
    c_uint,
    c_uint32,
    c_uint64,
    c_ulong,
    c_ushort,
    c_void_p,
    create_string_buffer,
    get_errno,
)
from berth.kernel.libc import libc, nr

TYPE_CHECKING = False
if TYPE_CHECKING:
    from berth.seccomp.compiler import Program

SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_TSYNC = 1
SECCOMP_FILTER_FLAG_NEW_LISTENER = 8
SECCOMP_USER_NOTIF_FLAG_CONTINUE = 1

# ioctls on the listener fd: _IOWR('!', 0, struct seccomp_notif) and friends
SECCOMP_IOCTL_NOTIF_RECV = 0xC0502100
SECCOMP_IOCTL_NOTIF_SEND = 0xC0182101
SECCOMP_IOCTL_NOTIF_ID_VALID = 0x40082102

_syscall = libc.syscall
_syscall.restype = c_long
_ioctl = libc.ioctl
_ioctl.argtypes = [c_int, c_ulong, c_void_p]
_ioctl.restype = c_int


class _SockFprog(Structure):
    _fields_ = [("len", c_ushort), ("filter", c_void_p)]


class _SeccompData(Structure):
    _fields_ = [
        ("nr", c_int),
        ("arch", c_uint32),
        ("instruction_pointer", c_uint64),
        ("args", c_uint64 * 6),
    ]


class _Notif(Structure):
    _fields_ = [
        ("id", c_uint64),
        ("pid", c_uint32),
        ("flags", c_uint32),
        ("data", _SeccompData),
    ]


class _NotifResp(Structure):
    _fields_ = [
        ("id", c_uint64),
        ("val", c_int64),
        ("error", c_int32),
        ("flags", c_uint32),
    ]


_HINTS = {
    13: "set no_new_privs first (or hold CAP_SYS_ADMIN)",  # EACCES
    22: "the kernel refused the program or its flags",  # EINVAL
}


def load(program: Program) -> int | None:
    """Install ``program``; return the listener fd when it has notify rules, else None."""
    code = program.bytes
    count = len(program.instructions)
    buf = create_string_buffer(code, len(code))
    fprog = _SockFprog(count, addressof(buf))
    flags = program.flags
    ret = _syscall(nr("seccomp"), SECCOMP_SET_MODE_FILTER, c_uint(flags), byref(fprog))
    if ret < 0:
        errno = get_errno()
        target = f"filter of {count} instructions, flags {flags:#x}"
        raise KernelError("seccomp", target, errno, _HINTS.get(errno, ""))
    if flags & SECCOMP_FILTER_FLAG_NEW_LISTENER:
        return int(ret)
    if ret > 0:  # TSYNC without TSYNC_ESRCH: the id of a thread that could not sync
        raise KernelError("seccomp", f"thread {ret}", 3, "another thread has its own filter")
    return None


class Notification:
    """A system call waiting for the supervisor: ``id``, ``pid``, ``nr``, ``arch``, ``args``."""

    __slots__ = ("arch", "args", "flags", "id", "instruction_pointer", "nr", "pid")

    def __init__(self, raw: _Notif) -> None:
        self.id = int(raw.id)
        self.pid = int(raw.pid)
        self.flags = int(raw.flags)
        self.nr = int(raw.data.nr)
        self.arch = int(raw.data.arch)
        self.instruction_pointer = int(raw.data.instruction_pointer)
        self.args = tuple(int(a) for a in raw.data.args)

    def __repr__(self) -> str:
        return f"Notification(id={self.id}, pid={self.pid}, nr={self.nr}, args={self.args})"


def notify_receive(fd: int) -> Notification:
    """Wait for the next notification on listener ``fd``."""
    raw = _Notif()  # the kernel wants it zeroed
    if _ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, addressof(raw)) < 0:
        raise KernelError("seccomp notify receive", f"fd {fd}", get_errno())
    return Notification(raw)


def notify_respond(fd: int, id: int, *, val: int = 0, error: int = 0, allow: bool = False) -> None:
    """Answer notification ``id``: fail it with ``-error``, return ``val``, or let it run."""
    resp = _NotifResp(
        id, val, -abs(error) if error else 0, SECCOMP_USER_NOTIF_FLAG_CONTINUE if allow else 0
    )
    if _ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, addressof(resp)) < 0:
        raise KernelError("seccomp notify respond", f"id {id}", get_errno())


def notify_id_valid(fd: int, id: int) -> bool:
    """Whether notification ``id`` is still pending (its caller has not gone away)."""
    value = c_uint64(id)
    return bool(_ioctl(fd, SECCOMP_IOCTL_NOTIF_ID_VALID, addressof(value)) == 0)
