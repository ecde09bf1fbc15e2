"""C calls without the ``ctypes`` package: the few types berth needs, from ``_ctypes``.

``import ctypes`` costs ~4 ms here (its module body builds some thirty types
and imports ``struct``, ``types`` and ``ctypes._endian``): more than the
runtime's own work in a container start. berth calls a handful of libc
functions with a handful of C types, and ``_ctypes`` -- the C half of
``ctypes``, which does all the real work -- gives those directly. The
objects made here *are* ctypes objects (same metaclasses, same calling
code), so they mix freely with the ``ctypes`` module's where a module off
the hot path imports that.

::

    from berth.kernel.ffi import CDLL, c_long, byref

    libc = CDLL(use_errno=True)         # the process's own symbols (libc, libpython)
    libc.syscall.restype = c_long       # attributes are function pointers, cached
    libc.mount(b"none", b"/mnt", b"tmpfs", 0, None)

Like ``ctypes.CDLL``, a function's result is a C ``int`` unless ``restype``
says otherwise, and Python ints, bytes and None pass as ``int``, ``char *``
and ``NULL``.
"""

from __future__ import annotations

import _ctypes
from _ctypes import (
    FUNCFLAG_CDECL,
    FUNCFLAG_PYTHONAPI,
    FUNCFLAG_USE_ERRNO,
    Array,
    CFuncPtr,
    Structure,
    _SimpleCData,
    addressof,
    byref,
    get_errno,
    set_errno,
    sizeof,
)

__all__ = [
    "CDLL",
    "Array",
    "Structure",
    "addressof",
    "byref",
    "c_char",
    "c_char_p",
    "c_int",
    "c_int32",
    "c_int64",
    "c_long",
    "c_size_t",
    "c_uint",
    "c_uint32",
    "c_uint64",
    "c_ulong",
    "c_ushort",
    "c_void_p",
    "create_string_buffer",
    "get_errno",
    "set_errno",
    "sizeof",
]


TYPE_CHECKING = False
if TYPE_CHECKING:  # the checker sees ctypes' classes: these behave the same
    from ctypes import (
        c_char,
        c_char_p,
        c_int,
        c_int32,
        c_int64,
        c_long,
        c_size_t,
        c_uint,
        c_uint32,
        c_uint64,
        c_ulong,
        c_ushort,
        c_void_p,
    )
else:
    # The type codes of ctypes' own classes (Linux on x86_64 and aarch64: LP64).
    class c_char(_SimpleCData):
        _type_ = "c"

    class c_char_p(_SimpleCData):
        _type_ = "z"

    class c_void_p(_SimpleCData):
        _type_ = "P"

    class c_ushort(_SimpleCData):
        _type_ = "H"

    class c_int(_SimpleCData):
        _type_ = "i"

    class c_uint(_SimpleCData):
        _type_ = "I"

    class c_long(_SimpleCData):
        _type_ = "l"

    class c_ulong(_SimpleCData):
        _type_ = "L"

    c_int32 = c_int
    c_uint32 = c_uint
    c_int64 = c_long
    c_uint64 = c_ulong
    c_size_t = c_ulong


def create_string_buffer(init: bytes | int, size: int | None = None) -> Array[c_char]:
    """A mutable ``char`` array: ``size`` zero bytes, or a copy of ``init`` (NUL-terminated
    unless ``size`` says exactly how long), as ``ctypes.create_string_buffer``."""
    if isinstance(init, int):
        return (c_char * init)()
    buf = (c_char * (len(init) + 1 if size is None else size))()
    buf.raw = init if size is None else init[:size]
    return buf


class _CFunc(CFuncPtr):
    _flags_ = FUNCFLAG_CDECL
    _restype_ = c_int


class _CFuncErrno(CFuncPtr):
    _flags_ = FUNCFLAG_CDECL | FUNCFLAG_USE_ERRNO
    _restype_ = c_int


class _PyFunc(CFuncPtr):
    _flags_ = FUNCFLAG_CDECL | FUNCFLAG_PYTHONAPI
    _restype_ = c_int


class _PyFuncErrno(CFuncPtr):
    _flags_ = FUNCFLAG_CDECL | FUNCFLAG_PYTHONAPI | FUNCFLAG_USE_ERRNO
    _restype_ = c_int


class CDLL:
    """The symbols of this process (``dlopen(NULL)``: the interpreter and libc), as
    ``ctypes.CDLL(None)``; with ``pyapi`` the calls keep the GIL (``ctypes.PyDLL``)."""

    def __init__(self, *, use_errno: bool = False, pyapi: bool = False) -> None:
        self._handle: int = _ctypes.dlopen(None, 0)  # type: ignore[arg-type]
        self._func: type[CFuncPtr]
        if pyapi:
            self._func = _PyFuncErrno if use_errno else _PyFunc
        else:
            self._func = _CFuncErrno if use_errno else _CFunc

    def __getattr__(self, name: str) -> CFuncPtr:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            address = _ctypes.dlsym(self._handle, name)
        except OSError:
            raise AttributeError(f"undefined symbol: {name}") from None
        func = self._func(address)
        setattr(self, name, func)
        return func
