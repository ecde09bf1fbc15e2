"""libc and raw system calls, loaded once per process (through berth.kernel.ffi:
the ``ctypes`` package itself is not imported on the container start path).

Only ``berth.kernel`` imports this module. A failing call raises
:class:`berth.errors.KernelError` carrying errno, the call and its target.
"""

from __future__ import annotations

import os

from berth.errors import KernelError
from berth.kernel.ffi import CDLL, c_long, get_errno

libc = CDLL(use_errno=True)
_syscall = libc.syscall
_syscall.restype = c_long

_MACHINE = os.uname().machine

# Numbers of the calls glibc 2.36 has no wrapper for (or wraps differently).
# Calls numbered 424 and above are the same on every architecture.
_NR: dict[str, dict[str, int]] = {
    "x86_64": {"pivot_root": 155, "capget": 125, "capset": 126, "seccomp": 317},
    "aarch64": {"pivot_root": 41, "capget": 90, "capset": 91, "seccomp": 277},
}
_COMMON = {
    "pidfd_send_signal": 424,
    "open_tree": 428,
    "move_mount": 429,
    "pidfd_open": 434,
    "clone3": 435,
    "close_range": 436,
    "openat2": 437,
    "mount_setattr": 442,
}


def nr(name: str) -> int:
    """The system call number of ``name`` on this machine."""
    table = _NR.get(_MACHINE)
    if table is None:
        raise KernelError("syscall", name, 38, f"berth does not know {_MACHINE}")
    return table.get(name) or _COMMON[name]


def check(ret: int, op: str, target: str = "", hint: str = "") -> int:
    """Raise KernelError when a libc call returned -1."""
    if ret < 0:
        raise KernelError(op, target, get_errno(), hint)
    return ret


def syscall(name: str, *args: object, target: str = "") -> int:
    """Call a raw system call by name; raise KernelError on failure."""
    ret = _syscall(nr(name), *args)
    if ret < 0:
        raise KernelError(name, target, get_errno())
    return int(ret)


def fsencode(path: str | bytes | None) -> bytes | None:
    if path is None:
        return None
    return path if isinstance(path, bytes) else os.fsencode(path)


def malloc_trim() -> None:
    """Give the C heap's free pages back to the kernel (long-lived processes)."""
    try:
        libc.malloc_trim(0)
    except AttributeError:
        pass
