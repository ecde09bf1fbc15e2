"""Paths and files inside a container's root, by file descriptor (``docker cp``'s ground).

Everything here works from an open directory descriptor of the container's
root (in a view: :mod:`berth.engine.containers.fsview`) and resolves paths
with openat2(2) and ``RESOLVE_IN_ROOT``: ``..`` and absolute symlinks stop
at the root, as if it were ``/``, however the container arranged its files
(and if it swaps a directory for a symlink meanwhile, the result is still
inside the root). Files are then opened relative to their parent's
descriptor with ``O_NOFOLLOW``, never by joining strings.

Docker's path rules (moby's ``ResolvePath``/``StatPath``), kept here:

- a path is absolute in the container; a trailing ``/`` or ``/.`` is
  meaningful (``/etc/.`` is the *content* of /etc);
- every component but the last is followed if it is a symlink; the last is
  not (``cp c:/link`` copies the link itself) unless the path ends in ``/``;
- the stat Docker sends (``X-Docker-Container-Path-Stat``) has ``name`` (the
  last element: ``"."`` for ``/etc/.``, ``"/"`` for the root), ``size``,
  ``mode`` (Go's ``os.FileMode`` bits), ``mtime`` (RFC 3339 with
  nanoseconds) and ``linkTarget`` (a symlink's target fully resolved in the
  container, as an absolute path).
"""

from __future__ import annotations

import errno
import os
import stat

from berth.errors import InvalidArgument, KernelError, NotFound
from berth.kernel import consts as c

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from berth.kernel.syscalls import Syscalls

RESOLVE = c.RESOLVE_IN_ROOT | c.RESOLVE_NO_MAGICLINKS

# Go's os.FileMode type bits
MODE_DIR = 1 << 31
MODE_SYMLINK = 1 << 27
MODE_DEVICE = 1 << 26
MODE_NAMED_PIPE = 1 << 25
MODE_SOCKET = 1 << 24
MODE_SETUID = 1 << 23
MODE_SETGID = 1 << 22
MODE_CHAR_DEVICE = 1 << 21
MODE_STICKY = 1 << 20
MAX_SYMLINKS = 255


def go_file_mode(st_mode: int) -> int:
    """A stat(2) mode as Go's ``os.FileMode`` (what Docker's API carries)."""
    mode = st_mode & 0o777
    kind = stat.S_IFMT(st_mode)
    if kind == stat.S_IFBLK:
        mode |= MODE_DEVICE
    elif kind == stat.S_IFCHR:
        mode |= MODE_DEVICE | MODE_CHAR_DEVICE
    elif kind == stat.S_IFDIR:
        mode |= MODE_DIR
    elif kind == stat.S_IFIFO:
        mode |= MODE_NAMED_PIPE
    elif kind == stat.S_IFLNK:
        mode |= MODE_SYMLINK
    elif kind == stat.S_IFSOCK:
        mode |= MODE_SOCKET
    if st_mode & stat.S_ISGID:
        mode |= MODE_SETGID
    if st_mode & stat.S_ISUID:
        mode |= MODE_SETUID
    if st_mode & stat.S_ISVTX:
        mode |= MODE_STICKY
    return mode


def rfc3339_nano(ns: int) -> str:
    """Go's RFC3339Nano in UTC: fraction without trailing zeros, none when zero."""
    import time

    secs, frac = divmod(ns, 1_000_000_000)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    if frac:
        text += "." + f"{frac:09d}".rstrip("0")
    return text + "Z"


def abs_path(path: str) -> str:
    """Docker's ``PreserveTrailingDotOrSeparator(filepath.Join("/", path), path)``."""
    import posixpath

    cleaned = posixpath.normpath("/" + path)
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    if path.endswith("/.") or path == ".":
        return cleaned.rstrip("/") + "/."
    if path.endswith("/") and not cleaned.endswith("/"):
        return cleaned + "/"
    return cleaned


def split(path: str) -> tuple[str, str]:
    """Go's ``filepath.Split``: (everything up to the last "/", the rest)."""
    i = path.rfind("/")
    return path[: i + 1], path[i + 1 :]


def base_name(path: str) -> str:
    """Go's ``filepath.Base``."""
    trimmed = path.rstrip("/")
    if not trimmed:
        return "/" if path else "."
    return trimmed.rsplit("/", 1)[-1]


def rel(path: str) -> str:
    """A container path as openat2 wants it beneath the root ("." for the root)."""
    parts = [p for p in path.split("/") if p and p != "."]
    return "/".join(parts) or "."


def open_dir(k: Syscalls, rootfd: int, path: str) -> int:
    """An O_PATH descriptor of the directory ``path`` (symlinks followed inside the root)."""
    return k.openat2(rootfd, rel(path), os.O_PATH | os.O_DIRECTORY, RESOLVE)


def open_path(k: Syscalls, rootfd: int, path: str) -> int:
    """An O_PATH descriptor of ``path``, every symlink followed inside the root."""
    return k.openat2(rootfd, rel(path), os.O_PATH, RESOLVE)


class Target:
    """A resolved path: its parent directory (descriptor) and its last name.

    ``name`` is "" when the path names the directory ``parent`` itself
    (``/``, ``/etc/``, ``/etc/.``). ``st`` is its lstat.
    """

    __slots__ = ("abs", "name", "parent", "st")

    def __init__(self, abs_: str, parent: int, name: str, st: os.stat_result) -> None:
        self.abs = abs_
        self.parent = parent
        self.name = name
        self.st = st

    def close(self) -> None:
        os.close(self.parent)

    def __enter__(self) -> Target:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def not_found(path: str, container: str) -> NotFound:
    return NotFound(f"Could not find the file {path} in container {container}")


def resolve(k: Syscalls, rootfd: int, path: str, container: str) -> Target:
    """Resolve ``path`` the way Docker's ResolvePath does (the last element not followed)."""
    full = abs_path(path)
    dir_part, last = split(full)
    try:
        parent = open_dir(k, rootfd, dir_part)
    except KernelError as e:
        if e.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
            raise not_found(path, container) from None
        raise
    try:
        if last in ("", "."):
            st = os.stat(parent)
            name = ""
        else:
            st = os.lstat(last, dir_fd=parent)
            name = last
    except FileNotFoundError:
        os.close(parent)
        raise not_found(path, container) from None
    except BaseException:
        os.close(parent)
        raise
    return Target(full, parent, name, st)


def follow(k: Syscalls, rootfd: int, path: str) -> str:
    """``path`` with every symlink followed inside the root, as an absolute container path.

    The last elements may not exist (a dangling link): they are kept as
    they are, as Docker's FollowSymlinkInScope does.
    """
    done: list[str] = []
    todo = [p for p in path.split("/") if p and p != "."]
    todo.reverse()
    hops = 0
    while todo:
        part = todo.pop()
        if part == "..":
            if done:
                done.pop()
            continue
        here = "/" + "/".join(done)
        try:
            pfd = open_dir(k, rootfd, here)
        except KernelError:
            done.append(part)
            continue
        try:
            st = os.lstat(part, dir_fd=pfd)
            link = os.readlink(part, dir_fd=pfd) if stat.S_ISLNK(st.st_mode) else None
        except OSError:
            link = None
        finally:
            os.close(pfd)
        if link is None:
            done.append(part)
            continue
        hops += 1
        if hops > MAX_SYMLINKS:
            raise InvalidArgument(f"{path}: too many links")
        if link.startswith("/"):
            done = []
        todo.extend(reversed([p for p in link.split("/") if p and p != "."]))
    return "/" + "/".join(done)


def path_stat(k: Syscalls, rootfd: int, target: Target) -> dict[str, Any]:
    """Docker's ContainerPathStat of a resolved path."""
    st = target.st
    link = ""
    if stat.S_ISLNK(st.st_mode):
        link = follow(k, rootfd, target.abs)
    return {
        "name": base_name(target.abs),
        "size": st.st_size,
        "mode": go_file_mode(st.st_mode),
        "mtime": rfc3339_nano(st.st_mtime_ns),
        "linkTarget": link,
    }


def fd_container_path(fd: int, root: str) -> str:
    """The container path of an open file, from the kernel's name for it."""
    real = os.readlink(f"/proc/self/fd/{fd}")
    root = root.rstrip("/")
    if real == root:
        return "/"
    if real.startswith(root + "/"):
        return real[len(root) :]
    return real


def copy_tree(src: int, dst: int) -> None:
    """Copy the content of directory ``src`` into directory ``dst`` (both descriptors).

    Modes, owners, times, symlinks, hard links (within the copy), devices,
    FIFOs and ``user.``/``security.`` xattrs are kept; sockets are skipped.
    ``dst`` itself takes ``src``'s owner and mode (Docker's copyOwnership).
    """
    links: dict[tuple[int, int], tuple[int, str]] = {}
    _copy_dir(src, dst, links)
    st = os.fstat(src)
    os.fchown(dst, st.st_uid, st.st_gid)
    os.fchmod(dst, stat.S_IMODE(st.st_mode))


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _copy_dir(src: int, dst: int, links: dict[tuple[int, int], tuple[int, str]]) -> None:
    for name in sorted(os.listdir(src)):
        st = os.lstat(name, dir_fd=src)
        mode = st.st_mode
        if stat.S_ISDIR(mode):
            os.mkdir(name, 0o700, dir_fd=dst)
            s = os.open(name, _DIR_FLAGS, dir_fd=src)
            d = os.open(name, _DIR_FLAGS, dir_fd=dst)
            try:
                _copy_dir(s, d, links)
                _attrs_fd(s, d, st)
            finally:
                os.close(s)
                os.close(d)
            continue
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in links:
            first_dir, first_name = links[key]
            try:
                os.link(first_name, name, src_dir_fd=first_dir, dst_dir_fd=dst)
                continue
            except OSError:
                pass
        if stat.S_ISREG(mode):
            s = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src)
            d = os.open(
                name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600, dir_fd=dst
            )
            try:
                _copy_bytes(s, d)
                _attrs_fd(s, d, st)
            finally:
                os.close(s)
                os.close(d)
            if st.st_nlink > 1:
                links[key] = (dst, name)
        elif stat.S_ISLNK(mode):
            os.symlink(os.readlink(name, dir_fd=src), name, dir_fd=dst)
            os.chown(name, st.st_uid, st.st_gid, dir_fd=dst, follow_symlinks=False)
            os.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=dst, follow_symlinks=False)
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode):
            os.mknod(name, stat.S_IFMT(mode) | 0o600, st.st_rdev, dir_fd=dst)
            set_attrs_at(dst, name, st.st_uid, st.st_gid, stat.S_IMODE(mode), st.st_mtime_ns)


def _copy_bytes(s: int, d: int) -> None:
    try:
        while os.copy_file_range(s, d, 1 << 30):
            pass
        return
    except OSError:
        pass
    while chunk := os.read(s, 1 << 20):
        view = memoryview(chunk)
        while view:
            view = view[os.write(d, view) :]


def _attrs_fd(s: int, d: int, st: os.stat_result) -> None:
    for key in _xattr_names(s):
        try:
            os.setxattr(d, key, os.getxattr(s, key))
        except OSError:
            pass
    os.fchown(d, st.st_uid, st.st_gid)
    os.fchmod(d, stat.S_IMODE(st.st_mode))
    os.utime(d, ns=(st.st_atime_ns, st.st_mtime_ns))


def _xattr_names(fd: int) -> list[str]:
    try:
        names = os.listxattr(fd)
    except OSError:
        return []
    return [n for n in names if n.startswith(("user.", "security."))]


def set_attrs_at(dirfd: int, name: str, uid: int, gid: int, mode: int, mtime_ns: int) -> None:
    """Owner, mode and mtime of a non-symlink ``name`` in ``dirfd``, without following it."""
    fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dirfd)
    try:
        path = f"/proc/self/fd/{fd}"
        os.chown(path, uid, gid)
        os.chmod(path, mode)
        os.utime(path, ns=(mtime_ns, mtime_ns))
    finally:
        os.close(fd)
