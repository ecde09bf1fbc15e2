"""Tar streams out of and into a container's root, by file descriptor.

- :func:`write_tree` -- ``GET /containers/{id}/archive`` and ``export``: a
  PAX tar of one resolved path (:class:`berth.engine.containers.fstree.Target`)
  or of a whole root, walked with descriptors (``openat`` + ``O_NOFOLLOW``,
  never a path string), so symlinks are archived as links and nothing outside
  the tree is ever read, even if the container swaps files meanwhile. Entry
  names follow Docker: ``etc/``, ``etc/passwd`` for /etc; ``./``, ``./passwd``
  for /etc/.; ``/``, ``/bin/`` for the root; no root entry for export.
  Hard links within the tree are kept; sockets skipped; the one xattr Docker
  archives (``security.capability``) is kept; mtimes are whole seconds.
- :func:`extract` -- ``PUT /containers/{id}/archive``: entries are created
  beneath a directory of the container (its path in the container), each
  parent opened with openat2(RESOLVE_IN_ROOT) from the container's root (so
  a symlink inside resolves inside the container, as Docker's chrooted
  untar does), the last name created with ``O_EXCL|O_NOFOLLOW`` after what
  stood there was removed. Names that climb out of the target directory
  (``../x``) or hard links pointing out of it fail the upload. Docker's
  ``noOverwriteDirNonDir`` is honoured; ``chown`` forces an owner (``cp -a``).
"""

from __future__ import annotations

import errno
import os
import stat
import tarfile

from berth.engine.containers.fstree import RESOLVE, rel
from berth.errors import Conflict, CorruptContent, InvalidArgument, KernelError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import IO

    from berth.kernel.syscalls import Syscalls

_CHUNK = 1 << 20
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_CAPS = "security.capability"


class _Exact:
    """``size`` bytes of a file: zero-padded if it shrank, cut if it grew (a live file)."""

    def __init__(self, fd: int, size: int) -> None:
        self.fd = fd
        self.left = size

    def read(self, n: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        want = self.left if n < 0 else min(n, self.left)
        data = os.read(self.fd, want)
        if not data:
            data = b"\0" * want
        self.left -= len(data)
        return data


class _Walker:
    def __init__(self, tf: tarfile.TarFile) -> None:
        self.tf = tf
        self.links: dict[tuple[int, int], str] = {}

    def info(self, name: str, st: os.stat_result) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.uid, info.gid = st.st_uid, st.st_gid
        info.uname = info.gname = ""
        info.mode = stat.S_IMODE(st.st_mode)
        info.mtime = int(st.st_mtime)
        return info

    def entry(self, dirfd: int, name: str, arcname: str, st: os.stat_result) -> None:
        """Archive ``name`` in ``dirfd`` (lstat ``st``) as ``arcname``; walk directories."""
        mode = st.st_mode
        if stat.S_ISDIR(mode):
            fd = os.open(name, _DIR, dir_fd=dirfd)
            try:
                self.directory(fd, arcname, os.fstat(fd))
            finally:
                os.close(fd)
            return
        info = self.info(arcname, st)
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in self.links:
            info.type = tarfile.LNKTYPE
            info.linkname = self.links[key]
            self.tf.addfile(info)
            return
        if stat.S_ISREG(mode):
            fd = os.open(
                name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dirfd
            )
            try:
                fst = os.fstat(fd)
                if not stat.S_ISREG(fst.st_mode):
                    return  # swapped meanwhile: skip rather than read something else
                info.size = fst.st_size
                caps = _caps(fd)
                if caps:
                    info.pax_headers = caps
                if st.st_nlink > 1:
                    self.links[key] = arcname
                self.tf.addfile(info, _Exact(fd, info.size))
            finally:
                os.close(fd)
        elif stat.S_ISLNK(mode):
            info.type = tarfile.SYMTYPE
            info.linkname = os.readlink(name, dir_fd=dirfd)
            self.tf.addfile(info)
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode):
            if stat.S_ISFIFO(mode):
                info.type = tarfile.FIFOTYPE
            else:
                info.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
                info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
            if st.st_nlink > 1:
                self.links[key] = arcname
            self.tf.addfile(info)
        # sockets are not archived (as Docker)

    def directory(self, fd: int, arcname: str | None, st: os.stat_result) -> None:
        """A directory entry (unless ``arcname`` is None) and its content."""
        if arcname is not None:
            info = self.info(arcname if arcname.endswith("/") else arcname + "/", st)
            info.type = tarfile.DIRTYPE
            self.tf.addfile(info)
        prefix = "" if arcname is None else arcname.rstrip("/") + "/"
        for name in sorted(os.listdir(fd)):
            try:
                child = os.lstat(name, dir_fd=fd)
            except FileNotFoundError:
                continue  # removed meanwhile
            self.entry(fd, name, prefix + name, child)


def _caps(fd: int) -> dict[str, str]:
    try:
        value = os.getxattr(fd, _CAPS)
    except OSError:
        return {}
    return {"SCHILY.xattr." + _CAPS: value.decode("utf-8", "surrogateescape")}


def _open_tar(out: IO[bytes]) -> tarfile.TarFile:
    return tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT, bufsize=_CHUNK)


def write_tree(out: IO[bytes], parent: int, name: str, arcname: str) -> None:
    """Archive ``name`` in directory ``parent`` ("" for ``parent`` itself) as ``arcname``.

    ``arcname`` "/" makes Docker's names for the root (``/``, ``/bin/``, ...).
    """
    with _open_tar(out) as tf:
        w = _Walker(tf)
        if name:
            w.entry(parent, name, arcname, os.lstat(name, dir_fd=parent))
            return
        fd = os.open(".", _DIR, dir_fd=parent)
        try:
            if arcname == "/":
                info = w.info("/", os.fstat(fd))
                info.type = tarfile.DIRTYPE
                tf.addfile(info)
                _root_children(w, fd)
            else:
                w.directory(fd, arcname, os.fstat(fd))
        finally:
            os.close(fd)


def _root_children(w: _Walker, fd: int) -> None:
    for name in sorted(os.listdir(fd)):
        try:
            child = os.lstat(name, dir_fd=fd)
        except FileNotFoundError:
            continue
        w.entry(fd, name, "/" + name, child)


def write_root(out: IO[bytes], rootfd: int) -> None:
    """The whole tree under ``rootfd`` without a root entry (``docker export``)."""
    with _open_tar(out) as tf:
        fd = os.open(".", _DIR, dir_fd=rootfd)
        try:
            _Walker(tf).directory(fd, None, os.fstat(fd))
        finally:
            os.close(fd)


# -- extraction -----------------------------------------------------------------------------


class Extractor:
    """Create tar entries beneath ``dest`` (a directory's path in the container)."""

    def __init__(
        self,
        k: Syscalls,
        rootfd: int,
        dest: str,
        *,
        no_overwrite_dir_non_dir: bool = False,
        chown: tuple[int, int] | None = None,
        keep_owner: bool = True,
        rename: Callable[[str], str] | None = None,
    ) -> None:
        self.k = k
        self.rootfd = rootfd
        self.dest = rel(dest)
        self.strict = no_overwrite_dir_non_dir
        self.chown = chown
        self.keep_owner = keep_owner  # False: the extracting user owns what is made (the CLI)
        self.rename = rename  # entry and hard link names -> the names to make
        self.dir_times: list[tuple[str, int]] = []
        self.entries = 0

    def _path(self, relpath: str) -> str:
        if not relpath:
            return self.dest
        return relpath if self.dest == "." else f"{self.dest}/{relpath}"

    def _shown(self, relpath: str) -> str:
        return "/" + self._path(relpath).lstrip(".").lstrip("/")

    def _open_dir(self, relpath: str, create: bool = True) -> int:
        """An O_PATH descriptor of a directory beneath dest, made (0755) when missing."""
        try:
            return self.k.openat2(
                self.rootfd, self._path(relpath), os.O_PATH | os.O_DIRECTORY, RESOLVE
            )
        except KernelError as e:
            if e.errno != errno.ENOENT or not create or not relpath:
                raise
        parent, _, name = relpath.rpartition("/")
        pfd = self._open_dir(parent)
        try:
            try:
                os.mkdir(name, 0o755, dir_fd=pfd)
            except FileExistsError:
                pass
        finally:
            os.close(pfd)
        return self._open_dir(relpath, create=False)

    def run(self, fileobj: IO[bytes]) -> int:
        from berth.snapshots.apply import clean_name

        try:
            tf = tarfile.open(fileobj=fileobj, mode="r|", bufsize=_CHUNK)
        except tarfile.ReadError as e:
            raise CorruptContent(f"the archive: not a tar archive ({e})") from None
        with tf:
            while True:
                try:
                    member = tf.next()
                except tarfile.TarError as e:
                    raise CorruptContent(f"the archive: broken tar archive ({e})") from None
                if member is None:
                    break
                self.entries += 1
                if self.rename is not None:
                    member.name = self.rename(member.name)
                    if member.islnk():
                        member.linkname = self.rename(member.linkname)
                try:
                    path = clean_name(member.name, "the archive: entry")
                except CorruptContent:
                    raise CorruptContent(
                        f"the archive: entry {member.name!r} breaks out of the destination"
                    ) from None
                self._one(tf, member, path)
        self._set_dir_times()
        return self.entries

    def _one(self, tf: tarfile.TarFile, m: tarfile.TarInfo, path: str) -> None:
        if not path:  # the archive's "." / "/": the destination itself
            if not m.isdir() and self.strict:
                raise Conflict(f'cannot overwrite directory "{self._shown("")}" with non-directory')
            return
        parent, _, name = path.rpartition("/")
        pfd_path = self._open_dir(parent)
        try:
            pfd = os.open(".", _DIR, dir_fd=pfd_path)
        finally:
            os.close(pfd_path)
        try:
            self._create(tf, m, pfd, name, path)
        finally:
            os.close(pfd)

    def _create(
        self, tf: tarfile.TarFile, m: tarfile.TarInfo, pfd: int, name: str, path: str
    ) -> None:
        try:
            st: os.stat_result | None = os.lstat(name, dir_fd=pfd)
        except FileNotFoundError:
            st = None
        if st is not None:
            is_dir = stat.S_ISDIR(st.st_mode)
            if self.strict and is_dir and not m.isdir():
                raise Conflict(
                    f'cannot overwrite directory "{self._shown(path)}" with non-directory'
                    f' "{self._shown(path)}"'
                )
            if self.strict and not is_dir and m.isdir():
                raise Conflict(
                    f'cannot overwrite non-directory "{self._shown(path)}" with directory'
                    f' "{self._shown(path)}"'
                )
            if not (is_dir and m.isdir()):
                if is_dir:
                    import shutil

                    shutil.rmtree(name, dir_fd=pfd)
                else:
                    os.unlink(name, dir_fd=pfd)
                st = None
        uid, gid = self.chown or ((m.uid, m.gid) if self.keep_owner else (-1, -1))
        mode = m.mode & 0o7777
        mtime = int(m.mtime * 1_000_000_000)
        if m.isdir():
            if st is None:
                os.mkdir(name, 0o700, dir_fd=pfd)
            fd = os.open(name, _DIR, dir_fd=pfd)
            try:
                os.fchown(fd, uid, gid)
                os.fchmod(fd, mode)
                _set_xattrs(fd, m)
            finally:
                os.close(fd)
            self.dir_times.append((path, mtime))
        elif m.isreg():
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            fd = os.open(name, flags, 0o600, dir_fd=pfd)
            try:
                src = tf.extractfile(m)
                left = m.size
                while src is not None and left > 0:
                    chunk = src.read(min(_CHUNK, left))
                    if not chunk:
                        raise CorruptContent(f"the archive: truncated in {m.name!r}")
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(fd, view) :]
                    left -= len(chunk)
                os.fchown(fd, uid, gid)
                os.fchmod(fd, mode)
                _set_xattrs(fd, m)
                os.utime(fd, ns=(mtime, mtime))
            finally:
                os.close(fd)
        elif m.issym():
            os.symlink(m.linkname, name, dir_fd=pfd)
            os.chown(name, uid, gid, dir_fd=pfd, follow_symlinks=False)
            os.utime(name, ns=(mtime, mtime), dir_fd=pfd, follow_symlinks=False)
        elif m.islnk():
            from berth.snapshots.apply import clean_name

            target = clean_name(m.linkname, f"the archive: hard link {m.name!r} ->")
            if not target:
                raise CorruptContent(f"the archive: hard link {m.name!r} points at the target")
            tparent, _, tname = target.rpartition("/")
            tfd_path = self._open_dir(tparent, create=False)
            try:
                os.link(tname, name, src_dir_fd=tfd_path, dst_dir_fd=pfd, follow_symlinks=False)
            finally:
                os.close(tfd_path)
        elif m.ischr() or m.isblk() or m.isfifo():
            kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK if m.isblk() else stat.S_IFIFO
            dev = os.makedev(m.devmajor, m.devminor) if not m.isfifo() else 0
            os.mknod(name, kind | 0o600, dev, dir_fd=pfd)
            from berth.engine.containers.fstree import set_attrs_at

            set_attrs_at(pfd, name, uid, gid, mode, mtime)
        else:
            raise InvalidArgument(f"the archive: entry {m.name!r} has an unsupported type")

    def _set_dir_times(self) -> None:
        for path, mtime in reversed(self.dir_times):
            try:
                fd = self.k.openat2(
                    self.rootfd, self._path(path), os.O_RDONLY | os.O_DIRECTORY, RESOLVE
                )
            except KernelError:
                continue
            try:
                os.utime(fd, ns=(mtime, mtime))
            finally:
                os.close(fd)


def _set_xattrs(fd: int, m: tarfile.TarInfo) -> None:
    for key, value in m.pax_headers.items():
        if not key.startswith("SCHILY.xattr."):
            continue
        name = key[len("SCHILY.xattr.") :]
        if name.startswith("trusted.overlay."):
            continue
        raw = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value
        try:
            os.setxattr(fd, name, raw)
        except OSError:
            pass  # as Docker: xattrs the filesystem refuses are skipped
