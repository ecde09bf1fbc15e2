"""The system calls berth makes that the standard library does not offer.

:class:`Syscalls` is the one object the rest of berth receives to touch the
kernel (mounts, namespaces, capabilities, prctl, ...). Tests of logic pass a
recording fake with the same methods; the kernel tests prove this one.
Every failure raises :class:`berth.errors.KernelError`.
"""

from __future__ import annotations

import os

from berth.errors import KernelError
from berth.kernel import consts as c
from berth.kernel import ffi
from berth.kernel.ffi import (
    CDLL,
    Structure,
    byref,
    c_char_p,
    c_int,
    c_long,
    c_size_t,
    c_uint,
    c_uint32,
    c_uint64,
    c_ulong,
    c_void_p,
    sizeof,
)
from berth.kernel.libc import check, fsencode, libc, syscall

_mount = libc.mount
_mount.argtypes = [
    c_char_p,
    c_char_p,
    c_char_p,
    c_ulong,
    c_char_p,
]
_umount2 = libc.umount2
_umount2.argtypes = [c_char_p, c_int]
_unshare = libc.unshare
_unshare.argtypes = [c_int]
_setns = libc.setns
_setns.argtypes = [c_int, c_int]
_sethostname = libc.sethostname
_sethostname.argtypes = [c_char_p, c_size_t]
_setdomainname = libc.setdomainname
_setdomainname.argtypes = [c_char_p, c_size_t]
_prctl = libc.prctl
_prctl.argtypes = [c_int, c_ulong, c_ulong, c_ulong, c_ulong]
_fstatfs = libc.fstatfs
_fstatfs.argtypes = [c_int, c_void_p]
_statfs = libc.statfs
_statfs.argtypes = [c_char_p, c_void_p]
_prlimit = libc.prlimit  # (glibc's prlimit64: 64-bit limits)
_prlimit.argtypes = [c_int, c_int, c_void_p, c_void_p]
_Limits = c_uint64 * 2  # struct rlimit64 {rlim_cur, rlim_max}


class _CapHeader(Structure):
    _fields_ = [("version", c_uint32), ("pid", c_int)]


class _CapData(Structure):
    _fields_ = [
        ("effective", c_uint32),
        ("permitted", c_uint32),
        ("inheritable", c_uint32),
    ]


class _CloneArgs(Structure):
    _fields_ = [
        (name, c_uint64)
        for name in (
            "flags",
            "pidfd",
            "child_tid",
            "parent_tid",
            "exit_signal",
            "stack",
            "stack_size",
            "tls",
            "set_tid",
            "set_tid_size",
            "cgroup",
        )
    ]


_CLONE_INTO_CGROUP = 0x200000000
_SIGCHLD = 17


class _OpenHow(Structure):
    _fields_ = [("flags", c_uint64), ("mode", c_uint64), ("resolve", c_uint64)]


_CAP_V3 = 0x20080522


def _bits(caps: int) -> tuple[int, int]:
    return caps & 0xFFFFFFFF, caps >> 32


_PYLIBC: CDLL | None = None


def _pylibc() -> CDLL:
    """libc's and the interpreter's functions called with the GIL held (fork-like calls)."""
    global _PYLIBC
    if _PYLIBC is None:
        _PYLIBC = CDLL(use_errno=True, pyapi=True)
    return _PYLIBC


class Syscalls:
    """Real system calls. Paths may be str or bytes."""

    # -- mounts ---------------------------------------------------------------
    def mount(
        self,
        source: str | None,
        target: str,
        fstype: str | None = None,
        flags: int = 0,
        data: str | None = None,
    ) -> None:
        ret = _mount(fsencode(source), fsencode(target), fsencode(fstype), flags, fsencode(data))
        if ret < 0:
            what = f"{source or fstype or 'none'} on {target}"
            if fstype:
                what += f" (type {fstype}"
                what += f", options {data})" if data else ")"
            check(ret, "mount", what)

    def umount(self, target: str, flags: int = 0) -> None:
        check(_umount2(fsencode(target), flags), "umount", target)

    def pivot_root(self, new_root: str, put_old: str) -> None:
        syscall("pivot_root", fsencode(new_root), fsencode(put_old), target=new_root)

    def mount_setattr(self, fd: int, attr_set: int, attr_clr: int, recursive: bool = True) -> None:
        """mount_setattr(2) on the mount an O_PATH fd refers to (AT_EMPTY_PATH)."""
        attr = (c_uint64 * 4)(attr_set, attr_clr, 0, 0)
        flags = 0x1000 | (0x8000 if recursive else 0)  # AT_EMPTY_PATH | AT_RECURSIVE
        syscall(
            "mount_setattr",
            c_int(fd),
            b"",
            c_uint(flags),
            byref(attr),
            c_size_t(32),
            target=f"fd {fd}",
        )

    # -- namespaces -----------------------------------------------------------
    def unshare(self, flags: int) -> None:
        check(_unshare(flags), "unshare", hex(flags))

    def setns(self, fd: int, nstype: int = 0, what: str = "") -> None:
        check(_setns(fd, nstype), "setns", what or f"fd {fd}")

    def sethostname(self, name: str) -> None:
        raw = name.encode()
        check(_sethostname(raw, len(raw)), "sethostname", name)

    def setdomainname(self, name: str) -> None:
        raw = name.encode()
        check(_setdomainname(raw, len(raw)), "setdomainname", name)

    # -- process attributes ---------------------------------------------------
    def prctl(self, option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
        return check(_prctl(option, arg2, arg3, arg4, arg5), "prctl", str(option))

    def set_no_new_privs(self) -> None:
        self.prctl(c.PR_SET_NO_NEW_PRIVS, 1)

    def set_dumpable(self, on: bool) -> None:
        self.prctl(c.PR_SET_DUMPABLE, int(on))

    def set_keepcaps(self, on: bool) -> None:
        self.prctl(c.PR_SET_KEEPCAPS, int(on))

    def set_child_subreaper(self) -> None:
        self.prctl(c.PR_SET_CHILD_SUBREAPER, 1)

    def set_pdeathsig(self, sig: int) -> None:
        self.prctl(c.PR_SET_PDEATHSIG, sig)

    def set_name(self, name: str) -> None:
        buf = ffi.create_string_buffer(name.encode()[:15])
        check(_prctl(c.PR_SET_NAME, ffi.addressof(buf), 0, 0, 0), "prctl(PR_SET_NAME)", name)

    # -- capabilities ---------------------------------------------------------
    def cap_bound_drop(self, cap: int) -> None:
        check(_prctl(c.PR_CAPBSET_DROP, cap, 0, 0, 0), "prctl(PR_CAPBSET_DROP)", str(cap))

    def cap_bound_read(self, cap: int) -> bool:
        return bool(check(_prctl(c.PR_CAPBSET_READ, cap, 0, 0, 0), "PR_CAPBSET_READ", str(cap)))

    def capset(self, effective: int, permitted: int, inheritable: int) -> None:
        """Set the three capability sets of this thread (bit masks)."""
        header = _CapHeader(_CAP_V3, 0)
        data = (_CapData * 2)()
        for i in range(2):
            data[i].effective = _bits(effective)[i]
            data[i].permitted = _bits(permitted)[i]
            data[i].inheritable = _bits(inheritable)[i]
        syscall("capset", byref(header), byref(data), target="capabilities")

    def setrlimit(self, resource: int, soft: int, hard: int, what: str = "") -> None:
        """Set this process's limits of ``resource`` (RLIM_INFINITY is 2**64 - 1)."""
        check(_prlimit(0, resource, _Limits(soft, hard), None), "setrlimit", what)

    def ambient_clear(self) -> None:
        self.prctl(c.PR_CAP_AMBIENT, c.PR_CAP_AMBIENT_CLEAR_ALL)

    def ambient_raise(self, cap: int) -> None:
        self.prctl(c.PR_CAP_AMBIENT, c.PR_CAP_AMBIENT_RAISE, cap)

    # -- files ----------------------------------------------------------------
    def openat2(self, dirfd: int, path: str, flags: int, resolve: int, mode: int = 0) -> int:
        """openat2(2): open ``path`` relative to ``dirfd`` under ``resolve`` rules."""
        how = _OpenHow(flags | os.O_CLOEXEC, mode, resolve)
        return syscall(
            "openat2",
            c_int(dirfd),
            fsencode(path),
            byref(how),
            c_size_t(sizeof(how)),
            target=path,
        )

    def close_range(self, first: int, last: int = 0xFFFFFFFF, cloexec: bool = False) -> None:
        flags = 4 if cloexec else 0  # CLOSE_RANGE_CLOEXEC
        syscall("close_range", c_uint(first), c_uint(last), c_uint(flags))

    def fstatfs_type(self, fd: int) -> int:
        """The filesystem magic number (statfs f_type) of an open file."""
        buf = ffi.create_string_buffer(128)
        check(_fstatfs(fd, buf), "fstatfs", f"fd {fd}")
        return int.from_bytes(buf.raw[:8], "little", signed=True)

    def statfs_type(self, path: str) -> int:
        buf = ffi.create_string_buffer(128)
        check(_statfs(fsencode(path), buf), "statfs", path)
        return int.from_bytes(buf.raw[:8], "little", signed=True)

    def personality(self, persona: int) -> None:
        _personality = libc.personality
        _personality.argtypes = [c_ulong]
        check(_personality(persona), "personality", hex(persona))

    # -- processes ------------------------------------------------------------
    def clone(self, flags: int = 0, cgroup_fd: int | None = None) -> int:
        """fork() through clone3: ``flags`` may hold CLONE_NEW* namespaces, and with
        ``cgroup_fd`` the child is born in that cgroup2 directory (CLONE_INTO_CGROUP).

        Being born in the cgroup spares moving the child afterwards, which costs
        an RCU grace period (~10 ms here); new namespaces spare a second fork.
        The interpreter's fork hooks run exactly as os.fork runs them, and the
        call does not release the GIL.
        """
        api = raw_api = _pylibc()
        raw = raw_api.syscall
        raw.restype = c_long
        if cgroup_fd is not None:
            flags |= _CLONE_INTO_CGROUP
        args = _CloneArgs(flags=flags, exit_signal=_SIGCHLD, cgroup=cgroup_fd or 0)
        api.PyOS_BeforeFork()
        pid = raw(c_long(435), byref(args), c_size_t(sizeof(args)))
        if pid == 0:
            api.PyOS_AfterFork_Child()
            return 0
        errno = ffi.get_errno() if pid < 0 else 0
        api.PyOS_AfterFork_Parent()
        if pid < 0:
            raise KernelError("clone3", hex(flags), errno)
        return int(pid)

    def pidfd_open(self, pid: int) -> int:
        return syscall("pidfd_open", c_int(pid), c_uint(0), target=f"pid {pid}")

    def pidfd_send_signal(self, pidfd: int, sig: int) -> None:
        syscall("pidfd_send_signal", c_int(pidfd), c_int(sig), None, c_uint(0))


#: The instance berth uses; tests substitute a fake where logic is tested.
SYSCALLS = Syscalls()
