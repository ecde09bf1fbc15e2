"""The new mount API (fsopen, fsconfig, fsmount, move_mount) for overlay mounts of any size.

mount(2) takes its options as one page of text (4096 bytes), which holds
some 40 lowerdirs of berth's paths. Since Linux 6.8 overlayfs accepts
``lowerdir+`` once per layer through fsconfig(2), each value a page of its
own, up to the 500 layers overlayfs stacks. :func:`mount_overlay` mounts that
way; :func:`apply` mounts a :class:`~berth.kernel.mountplan.MountOp`, using
this API when its data is too long for mount(2) (or always, for overlay, when
asked), and mount(2) otherwise.
"""

from __future__ import annotations

import ctypes
import os

from berth.errors import KernelError
from berth.kernel.libc import check, fsencode, libc

TYPE_CHECKING = False
if TYPE_CHECKING:
    from berth.kernel.mountplan import MountOp
    from berth.kernel.syscalls import Syscalls

NR_MOVE_MOUNT = 429
NR_FSOPEN = 430
NR_FSCONFIG = 431
NR_FSMOUNT = 432
FSOPEN_CLOEXEC = 1
FSMOUNT_CLOEXEC = 1
FSCONFIG_SET_FLAG = 0
FSCONFIG_SET_STRING = 1
FSCONFIG_CMD_CREATE = 6
MOVE_MOUNT_F_EMPTY_PATH = 0x4
AT_FDCWD = -100
PAGE_LIMIT = 4095  # mount(2) data: one page including the NUL

_syscall = libc.syscall
_syscall.restype = ctypes.c_long

# MS_* flags that map to MOUNT_ATTR_* of fsmount(2)
_ATTRS = {0x1: 0x1, 0x2: 0x2, 0x4: 0x4, 0x8: 0x8, 0x400: 0x10, 0x800: 0x80, 0x100: 0x200000}


def _call(nr: int, what: str, target: str, *args: object) -> int:
    ret = _syscall(nr, *args)
    if ret < 0:
        raise KernelError(what, target, ctypes.get_errno())
    return int(ret)


def _log(fsfd: int) -> str:
    """Messages the filesystem left in the fs context (why fsconfig failed)."""
    lines = []
    while True:
        try:
            msg = os.read(fsfd, 4096)
        except OSError:
            break
        if not msg:
            break
        lines.append(msg.decode(errors="replace").strip())
    return "; ".join(lines)


def split_options(data: str) -> list[tuple[str, str | None]]:
    """``a=b,c`` -> [("a", "b"), ("c", None)]; ``lowerdir=x:y`` becomes ``lowerdir+`` each."""
    out: list[tuple[str, str | None]] = []
    for item in data.split(","):
        if not item:
            continue
        key, sep, value = item.partition("=")
        if key == "lowerdir" and sep:
            out.extend(("lowerdir+", d) for d in value.split(":") if d)
        else:
            out.append((key, value if sep else None))
    return out


def mount_fs(
    fstype: str,
    source: str | None,
    options: list[tuple[str, str | None]],
    target: str,
    flags: int = 0,
) -> None:
    """Create a filesystem with fsconfig ``options`` and attach it at ``target``."""
    fsfd = _call(NR_FSOPEN, "fsopen", fstype, fsencode(fstype), ctypes.c_uint(FSOPEN_CLOEXEC))
    try:
        for key, value in ([("source", source)] if source else []) + options:
            cmd = FSCONFIG_SET_FLAG if value is None else FSCONFIG_SET_STRING
            ret = _syscall(
                NR_FSCONFIG,
                ctypes.c_int(fsfd),
                ctypes.c_uint(cmd),
                fsencode(key),
                fsencode(value),
                ctypes.c_int(0),
            )
            if ret < 0:
                err = ctypes.get_errno()
                raise KernelError(f"fsconfig {key}", f"{fstype} on {target}", err, _log(fsfd))
        ret = _syscall(
            NR_FSCONFIG,
            ctypes.c_int(fsfd),
            ctypes.c_uint(FSCONFIG_CMD_CREATE),
            None,
            None,
            ctypes.c_int(0),
        )
        if ret < 0:
            err = ctypes.get_errno()
            raise KernelError("fsconfig create", f"{fstype} on {target}", err, _log(fsfd))
        attrs = 0
        for ms, attr in _ATTRS.items():
            if flags & ms:
                attrs |= attr
        mfd = _call(
            NR_FSMOUNT,
            "fsmount",
            target,
            ctypes.c_int(fsfd),
            ctypes.c_uint(FSMOUNT_CLOEXEC),
            ctypes.c_uint(attrs),
        )
        try:
            _call(
                NR_MOVE_MOUNT,
                "move_mount",
                target,
                ctypes.c_int(mfd),
                b"",
                ctypes.c_int(AT_FDCWD),
                fsencode(target),
                ctypes.c_uint(MOVE_MOUNT_F_EMPTY_PATH),
            )
        finally:
            os.close(mfd)
    finally:
        os.close(fsfd)


def mount_overlay(
    target: str,
    lowerdirs: list[str],
    upperdir: str | None = None,
    workdir: str | None = None,
    extra: list[tuple[str, str | None]] | None = None,
    flags: int = 0,
) -> None:
    """Mount overlayfs at ``target``; ``lowerdirs`` top first, each passed on its own."""
    options: list[tuple[str, str | None]] = [("lowerdir+", d) for d in lowerdirs]
    if upperdir:
        options += [("upperdir", upperdir), ("workdir", workdir or "")]
    options += extra or []
    mount_fs("overlay", "overlay", options, target, flags)


def apply(op: MountOp, sys: Syscalls) -> None:
    """Mount one planned mount: mount(2) when its data fits a page, else the new API."""
    data = op.data or ""
    if len(fsencode(data) or b"") <= PAGE_LIMIT or op.fstype is None:
        sys.mount(op.source, op.target, op.fstype, op.flags, op.data)
        return
    mount_fs(op.fstype, op.source, split_options(data), op.target, op.flags)


def umount(target: str) -> None:
    check(libc.umount2(fsencode(target), 0), "umount", target)
