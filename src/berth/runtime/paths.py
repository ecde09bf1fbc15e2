"""Paths inside a container's root that cannot escape it.

A container image controls its own files, including symlinks such as
``/proc -> /`` or ``/etc -> ../../../../etc``. Every path the runtime opens
or creates inside a rootfs is therefore resolved by the kernel with
openat2(2) and ``RESOLVE_IN_ROOT``: ``..`` and absolute symlinks stop at the
rootfs, as if it were ``/``; magic links (``/proc/self/...``) are refused.
The result is an O_PATH file descriptor, and mounts are made onto
``/proc/self/fd/N`` of that descriptor, so a symlink swapped in after the
check cannot redirect them (CVE-2021-30465, CVE-2024-21626).
"""

from __future__ import annotations

import errno
import os
import posixpath

from berth.errors import InvalidArgument, KernelError
from berth.kernel import consts as c

TYPE_CHECKING = False
if TYPE_CHECKING:
    from berth.kernel.syscalls import Syscalls

RESOLVE = c.RESOLVE_IN_ROOT | c.RESOLVE_NO_MAGICLINKS


def fd_path(fd: int) -> str:
    """The magic path of an open file descriptor, for mount(2) and friends."""
    return f"/proc/self/fd/{fd}"


def components(path: str) -> list[str]:
    """Normalise a container path into its components (``..`` kept for the kernel)."""
    return [p for p in path.split("/") if p and p != "."]


def open_in_root(k: Syscalls, rootfd: int, path: str, flags: int = os.O_PATH) -> int:
    """Open ``path`` inside the root, following symlinks only within it."""
    rel = "/".join(components(path)) or "."
    return k.openat2(rootfd, rel, flags, RESOLVE)


def ensure_in_root(
    k: Syscalls, rootfd: int, path: str, *, kind: str = "dir", mode: int = 0o755, _depth: int = 0
) -> int:
    """Open ``path`` inside the root, creating it (and its parents) if missing.

    ``kind`` is what the last component must be when it is created: ``dir``
    or ``file``. A dangling symlink on the way is followed the way the kernel
    would inside the root (absolute targets start at the root, ``..`` stops
    there) and its target is created. Returns an O_PATH descriptor.
    """
    if _depth > 40:
        raise InvalidArgument(f"{path}: too many levels of symbolic links in the container")
    try:
        return open_in_root(k, rootfd, path)
    except KernelError as e:
        if e.errno != errno.ENOENT:
            raise
    parts = components(path)
    if ".." in parts:
        parts = components(posixpath.normpath("/" + "/".join(parts)))
    # Find the longest prefix that exists (keeping it open: the first parent), then
    # create the rest one by one.
    have = len(parts) - 1
    parent = -1
    while have > 0:
        try:
            parent = open_in_root(k, rootfd, "/".join(parts[:have]), os.O_PATH | os.O_DIRECTORY)
            break
        except KernelError as e:
            if e.errno != errno.ENOENT:
                raise
            have -= 1
    for i in range(have, len(parts)):
        if parent < 0:
            parent = open_in_root(k, rootfd, "/".join(parts[:i]), os.O_PATH | os.O_DIRECTORY)
        try:
            last = i == len(parts) - 1
            try:
                if last and kind == "file":
                    fd = os.open(
                        parts[i],
                        os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC,
                        0o644,
                        dir_fd=parent,
                    )
                    os.close(fd)
                else:
                    os.mkdir(parts[i], mode, dir_fd=parent)
            except FileExistsError:
                target = _readlink(parts[i], parent)
                if target is not None:  # a dangling symlink: create where it points
                    base = "/" + "/".join(parts[:i])
                    joined = target if target.startswith("/") else f"{base}/{target}"
                    rest = "/".join(parts[i + 1 :])
                    new = posixpath.normpath("/" + joined + ("/" + rest if rest else ""))
                    return ensure_in_root(k, rootfd, new, kind=kind, mode=mode, _depth=_depth + 1)
            except OSError as e:
                if e.errno == errno.ELOOP:  # O_NOFOLLOW met a symlink where the file goes
                    target = _readlink(parts[i], parent)
                    if target is not None:
                        base = "/" + "/".join(parts[:i])
                        joined = target if target.startswith("/") else f"{base}/{target}"
                        new = posixpath.normpath("/" + joined)
                        return ensure_in_root(k, rootfd, new, kind=kind, _depth=_depth + 1)
                raise KernelError("create", "/" + "/".join(parts[: i + 1]), e.errno or 0) from None
        finally:
            os.close(parent)
            parent = -1
    return open_in_root(k, rootfd, "/".join(parts))


def _readlink(name: str, dirfd: int) -> str | None:
    try:
        return os.readlink(name, dir_fd=dirfd)
    except OSError:
        return None


def is_dir_fd(fd: int) -> bool:
    import stat

    return stat.S_ISDIR(os.fstat(fd).st_mode)


def check_procfs(k: Syscalls, fd: int, what: str) -> None:
    """Refuse to write through ``fd`` unless it is on a real procfs."""
    if k.fstatfs_type(fd) != c.PROC_SUPER_MAGIC:
        raise InvalidArgument(
            f"{what} is not on procfs: refusing to write to it (is /proc a real proc mount?)"
        )


def write_proc(k: Syscalls, path: str, value: str) -> None:
    """Write a /proc or /proc/sys file after checking that it is on procfs."""
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    try:
        check_procfs(k, fd, path)
        os.write(fd, value.encode())
    except OSError as e:
        raise KernelError("write", f"{path} ({value!r})", e.errno or 0) from None
    finally:
        os.close(fd)
