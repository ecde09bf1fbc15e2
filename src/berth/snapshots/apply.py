"""Unpack a layer tar into a snapshot directory, safely, converting OCI whiteouts.

:func:`apply_layer` reads a tar stream (already decompressed) and writes its
entries beneath ``root``:

- Every path is resolved inside ``root``: parent directories are opened with
  ``openat2(root_fd, parent, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)``, so a
  symlink met on the way (``a -> /`` then ``a/etc/passwd``) resolves *inside*
  the snapshot, and the last component is created with ``O_NOFOLLOW|O_EXCL``
  after whatever stood there was removed. Names that climb out (``../x``,
  ``a/../../x``) and hard links whose target climbs out make the whole layer
  fail with :class:`~berth.errors.CorruptContent`; absolute names are taken
  relative to the root, as Docker does.
- OCI whiteouts become overlayfs ones: ``.wh.NAME`` a 0/0 character device
  ``NAME``; ``.wh..wh..opq`` the ``trusted.overlay.opaque=y`` xattr on its
  directory. ``trusted.overlay.*`` xattrs carried by the tar are dropped.
- Ownership, permission bits (setuid/setgid/sticky after chown), xattrs
  (``SCHILY.xattr.*`` PAX records), hard links, symlinks, device nodes, FIFOs
  and mtimes are preserved; directory mtimes are set last.

The caller unpacks into a fresh directory and removes it when this raises
(see :mod:`berth.snapshots.store`), so a bad layer leaves nothing behind.
"""

from __future__ import annotations

import os
import stat

from berth.errors import CorruptContent, KernelError
from berth.kernel import consts as c
from berth.snapshots.tarstream import BLK, CHR, DIR, FIFO, LNK, REG, SYM, Entry, TarReader

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import IO

    from berth.kernel.syscalls import Syscalls

WHITEOUT_PREFIX = ".wh."
WHITEOUT_OPAQUE = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
_RESOLVE = c.RESOLVE_IN_ROOT | c.RESOLVE_NO_MAGICLINKS
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_MAX_DIR_FDS = 512


class ApplyResult:
    __slots__ = ("entries", "size")

    def __init__(self, size: int, entries: int) -> None:
        self.size = size  #: bytes of regular file content
        self.entries = entries


def clean_name(name: str, what: str = "entry") -> str:
    """The entry's path relative to the root ("" is the root itself).

    Absolute names are relative to the root; ``..`` that climbs above the root
    raises CorruptContent.
    """
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise CorruptContent(f"{what} {name!r}: path breaks out of the layer root")
            parts.pop()
        else:
            parts.append(part)
    return "/".join(parts)


class _Dirs:
    """Directory fds beneath the root, opened with openat2 and cached."""

    def __init__(self, root_fd: int, sys: Syscalls) -> None:
        self.root_fd = root_fd
        self.sys = sys
        self.cache: dict[str, int] = {}
        # What this layer made, so that the common case costs fewer syscalls:
        # ``seen`` paths may exist (others cannot: the snapshot starts empty, and a
        # name reached through a symlink is caught by O_EXCL/EEXIST); ``plain``
        # dirs are ours without setgid, so new entries in them get our uid/gid.
        self.seen: set[str] = set()
        self.plain: set[str] = {""}
        self.ids = (os.geteuid(), os.getegid())
        self.umask = _umask()

    def get(self, path: str, create: bool = True) -> int:
        if not path:
            return self.root_fd
        fd = self.cache.get(path)
        if fd is not None:
            return fd
        try:
            fd = self._open(path)
        except KernelError as e:
            if e.errno != 2 or not create:  # ENOENT
                raise
            parent, _, name = path.rpartition("/")
            pfd = self.get(parent)
            try:
                os.mkdir(name, 0o755, dir_fd=pfd)
                self.seen.add(path)
                if parent in self.plain:
                    self.plain.add(path)
            except FileExistsError:
                pass
            fd = self._open(path)
        if len(self.cache) >= _MAX_DIR_FDS:
            self.drop()
        self.cache[path] = fd
        return fd

    def _open(self, path: str) -> int:
        return self.sys.openat2(self.root_fd, path, os.O_PATH | os.O_DIRECTORY, _RESOLVE)

    def open_dir(self, path: str) -> int:
        """A readable fd of a directory (for xattrs, times, modes)."""
        if not path:
            return os.open(".", os.O_RDONLY | os.O_DIRECTORY, dir_fd=self.root_fd)
        return self.sys.openat2(self.root_fd, path, os.O_RDONLY | os.O_DIRECTORY, _RESOLVE)

    def drop(self) -> None:
        for fd in self.cache.values():
            os.close(fd)
        self.cache.clear()


def _umask() -> int:
    """The process's umask, read without changing it (os.umask would race other threads)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o777  # unknown: always chmod


def _remove(name: str, pfd: int, st: os.stat_result, dirs: _Dirs) -> None:
    if stat.S_ISDIR(st.st_mode):
        import shutil

        shutil.rmtree(name, dir_fd=pfd)
        dirs.drop()  # cached fds may point into what was removed (pfd goes too)
        dirs.plain.clear()
    else:
        os.unlink(name, dir_fd=pfd)


def _xattrs(e: Entry) -> list[tuple[str, bytes]]:
    return [(k, v) for k, v in e.xattrs if not k.startswith("trusted.overlay.")]


def apply_layer(fileobj: IO[bytes], root: str, sys: Syscalls, what: str = "layer") -> ApplyResult:
    """Unpack the tar stream ``fileobj`` beneath ``root`` (an existing directory)."""
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    dirs = _Dirs(root_fd, sys)
    size = entries = 0
    dir_times: dict[str, tuple[int, int]] = {}
    try:
        reader = TarReader(fileobj, what)
        for e in reader:
            entries += 1
            size += _apply_one(reader, e, dirs, dir_times, what)
        _set_dir_times(dirs, dir_times)
    except CorruptContent:
        raise
    except (OSError, KernelError, EOFError, ValueError, OverflowError) as e:
        # ValueError: a NUL in a name; OverflowError: ids or device numbers too large
        raise CorruptContent(f"{what}: cannot unpack: {e}") from None
    finally:
        dirs.drop()
        os.close(root_fd)
    return ApplyResult(size, entries)


def _apply_one(
    reader: TarReader,
    m: Entry,
    dirs: _Dirs,
    dir_times: dict[str, tuple[int, int]],
    what: str,
) -> int:
    path = clean_name(m.name, f"{what}: entry")
    kind = m.kind
    if not path:
        if kind == DIR:  # "./" itself: the root's attributes
            fd = dirs.open_dir("")
            try:
                _set_owner_mode_fd(fd, m)
            finally:
                os.close(fd)
            dir_times[""] = _times(m)
        return 0
    parent, _, name = path.rpartition("/")
    if name.startswith(WHITEOUT_PREFIX):
        _whiteout(parent, name, dirs)
        return 0
    pfd = dirs.get(parent)
    mode = m.mode & 0o7777
    st: os.stat_result | None = None
    fresh = path not in dirs.seen
    if kind == REG and fresh:
        try:  # the common case: a new file in a directory of this layer
            fd = os.open(name, _CREATE, mode & 0o777, dir_fd=pfd)
        except FileExistsError:
            fresh = False
    if not fresh:
        try:
            st = os.lstat(name, dir_fd=pfd)
        except FileNotFoundError:
            st = None
        if st is not None and not (kind == DIR and stat.S_ISDIR(st.st_mode)):
            _remove(name, pfd, st, dirs)
            pfd = dirs.get(parent)
            st = None
        if kind == REG:
            fd = os.open(name, _CREATE, mode & 0o777, dir_fd=pfd)
    dirs.seen.add(path)
    if kind == REG:
        try:
            if m.sparse is None:
                for piece in reader.data(m):
                    while piece:
                        piece = piece[os.write(fd, piece) :]
            else:
                _write_sparse(reader, m, fd, what)
            if (m.uid, m.gid) != dirs.ids or parent not in dirs.plain:
                _set_owner_mode_fd(fd, m)
            elif mode & 0o7000 or mode & dirs.umask:
                os.fchmod(fd, mode)
            for key, value in _xattrs(m):
                os.setxattr(fd, key, value)
            os.utime(fd, ns=_times(m))
        finally:
            os.close(fd)
        return m.realsize
    if kind == DIR:
        if st is None:
            try:
                os.mkdir(name, 0o700, dir_fd=pfd)
            except FileExistsError:  # reached through a symlink: keep it if a directory
                if not stat.S_ISDIR(os.lstat(name, dir_fd=pfd).st_mode):
                    raise
        if parent in dirs.plain and not mode & 0o2000:
            dirs.plain.add(path)
        else:
            dirs.plain.discard(path)
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=pfd)
        try:
            _set_owner_mode_fd(fd, m)
            for key, value in _xattrs(m):
                os.setxattr(fd, key, value)
        finally:
            os.close(fd)
        dir_times[path] = _times(m)
        return 0
    if kind == SYM:
        pfd = _make(lambda fd: os.symlink(m.linkname, name, dir_fd=fd), name, parent, dirs)
        if (m.uid, m.gid) != dirs.ids or parent not in dirs.plain:
            os.chown(name, m.uid, m.gid, dir_fd=pfd, follow_symlinks=False)
        os.utime(name, ns=_times(m), dir_fd=pfd, follow_symlinks=False)
        return 0
    if kind == LNK:
        target = clean_name(m.linkname, f"{what}: hard link {m.name!r} ->")
        if not target:
            raise CorruptContent(f"{what}: hard link {m.name!r} points at the layer root")
        tparent, _, tname = target.rpartition("/")

        def link(fd: int) -> None:
            tpfd = dirs.get(tparent, create=False)
            os.link(tname, name, src_dir_fd=tpfd, dst_dir_fd=fd, follow_symlinks=False)

        _make(link, name, parent, dirs)
        return 0
    if kind in (CHR, BLK, FIFO):
        fmt = stat.S_IFCHR if kind == CHR else stat.S_IFBLK if kind == BLK else stat.S_IFIFO
        dev = os.makedev(m.devmajor, m.devminor) if kind != FIFO else 0
        pfd = _make(lambda fd: os.mknod(name, fmt | 0o600, dev, dir_fd=fd), name, parent, dirs)
        os.chown(name, m.uid, m.gid, dir_fd=pfd, follow_symlinks=False)
        os.chmod(name, mode, dir_fd=pfd)
        os.utime(name, ns=_times(m), dir_fd=pfd, follow_symlinks=False)
        return 0
    raise CorruptContent(f"{what}: entry {m.name!r} has an unsupported tar type {kind!r}")


def _write_sparse(reader: TarReader, m: Entry, fd: int, what: str) -> None:
    """Write a sparse file's stored data into its regions; the rest stays a hole."""
    regions = iter(m.sparse or ())
    offset = left = 0
    for piece in reader.data(m):
        while piece:
            if not left:
                region = next(regions, None)
                if region is None:
                    raise CorruptContent(f"{what}: {m.name!r} has more data than its sparse map")
                offset, left = region
                if offset < 0 or offset + left > m.realsize:
                    raise CorruptContent(f"{what}: {m.name!r} has a region past its end")
            n = os.pwrite(fd, piece[:left], offset)
            piece = piece[n:]
            offset += n
            left -= n
    if left or any(length for _, length in regions):
        raise CorruptContent(f"{what}: {m.name!r} has less data than its sparse map")
    os.ftruncate(fd, m.realsize)


def _make(create: Callable[[int], None], name: str, parent: str, dirs: _Dirs) -> int:
    """Create ``name`` in ``parent`` with ``create(parent_fd)``; replace what stands there
    (reached through a symlink); return the parent's fd (it may have been reopened)."""
    pfd = dirs.get(parent)
    try:
        create(pfd)
    except FileExistsError:
        _remove(name, pfd, os.lstat(name, dir_fd=pfd), dirs)
        pfd = dirs.get(parent)
        create(pfd)
    return pfd


def _whiteout(parent: str, name: str, dirs: _Dirs) -> None:
    pfd = dirs.get(parent)
    if name == WHITEOUT_OPAQUE:
        fd = dirs.open_dir(parent)
        try:
            os.setxattr(fd, OPAQUE_XATTR, b"y")
        finally:
            os.close(fd)
        return
    hidden = name[len(WHITEOUT_PREFIX) :]
    if not hidden or hidden in (".", ".."):
        raise CorruptContent(f"whiteout {name!r} in {parent or '/'!r} names nothing")
    try:
        st: os.stat_result | None = os.lstat(hidden, dir_fd=pfd)
    except FileNotFoundError:
        st = None
    if st is not None:
        _remove(hidden, pfd, st, dirs)
        pfd = dirs.get(parent)
    dirs.seen.add(f"{parent}/{hidden}" if parent else hidden)
    os.mknod(hidden, stat.S_IFCHR | 0o000, os.makedev(0, 0), dir_fd=pfd)


def _set_owner_mode_fd(fd: int, m: Entry) -> None:
    os.fchown(fd, m.uid, m.gid)
    os.fchmod(fd, m.mode & 0o7777)


def _times(m: Entry) -> tuple[int, int]:
    return (m.mtime_ns if m.atime_ns is None else m.atime_ns), m.mtime_ns


def _set_dir_times(dirs: _Dirs, times: dict[str, tuple[int, int]]) -> None:
    dirs.drop()
    for path in sorted(times, key=len, reverse=True):
        try:
            fd = dirs.open_dir(path)
        except KernelError:
            continue  # replaced by a non-directory later in the layer
        try:
            os.utime(fd, ns=times[path])
        finally:
            os.close(fd)
