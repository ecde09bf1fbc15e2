"""Run a seccomp case in a forked child (a filter cannot be removed again).

:func:`in_child` forks, makes the child non-dumpable (a SIGSYS must not leave
a core file behind), runs ``body`` there and sends its result back through a
pipe; the parent reaps the child and returns what happened. :func:`raw` makes
a system call by number through ctypes and returns ``-errno`` on failure.
"""

from __future__ import annotations

import ast
import ctypes
import os
import resource
from collections.abc import Callable

from berth.kernel.consts import PR_SET_DUMPABLE

_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long
_prctl = _libc.prctl
_prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]


def raw(nr: int, *args: int) -> int:
    """``syscall(nr, args...)``: its result, or ``-errno`` when it returned -1."""
    ctypes.set_errno(0)
    ret = _syscall(ctypes.c_long(nr), *(ctypes.c_ulong(a & (2**64 - 1)) for a in args))
    return -ctypes.get_errno() if ret == -1 else int(ret)


class Outcome:
    """How the child ended: ``value`` (what body returned), ``signal`` or ``exit_code``."""

    def __init__(self, text: str, status: int) -> None:
        self.text = text
        self.signal = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        self.exit_code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None

    @property
    def value(self) -> object:
        assert self.text, f"the child sent nothing (signal {self.signal}, exit {self.exit_code})"
        assert not self.text.startswith("!"), self.text
        return ast.literal_eval(self.text)

    def __repr__(self) -> str:
        return f"Outcome({self.text!r}, signal={self.signal}, exit={self.exit_code})"


def in_child(body: Callable[[], object]) -> Outcome:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.close(r)
            _prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            out = repr(body())
        except BaseException as e:
            out = f"!{type(e).__name__}: {e}"
        try:
            os.write(w, out.encode())
        finally:
            os._exit(0)
    os.close(w)
    chunks = []
    while chunk := os.read(r, 65536):
        chunks.append(chunk)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    return Outcome(b"".join(chunks).decode(), status)
