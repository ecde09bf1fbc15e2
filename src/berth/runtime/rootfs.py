"""The container's root filesystem: planned as data, then applied in the init.

:func:`plan` turns the spec into a :class:`RootfsPlan` (pure: unit-tested
without root). The container's init process then applies it in its new
mount namespace, in this order (runc's):

1. make ``/`` a slave (or ``linux.rootfsPropagation``) so nothing mounted
   here propagates back to the host, and the rootfs' parent mount private;
2. bind the rootfs onto itself (pivot_root needs a mount point);
3. every entry of ``mounts``, each target resolved inside the rootfs
   (``berth.runtime.paths``), binds remounted with their flags;
4. device nodes and the /dev symlinks;
5. (createContainer hooks) then pivot_root into the rootfs and detach the
   old root;
6. sysctls, read-only paths, masked paths, read-only root, propagation.
"""

from __future__ import annotations

import errno
import os
import stat

from berth.errors import ContainerStartError, InvalidArgument, KernelError
from berth.kernel import consts as c
from berth.runtime import mountopts
from berth.runtime.paths import check_procfs, ensure_in_root, fd_path, open_in_root

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from berth.kernel.mountplan import MountOp
    from berth.kernel.syscalls import Syscalls
    from berth.oci.runtime_spec import Spec

_BIND_REMOUNT_FLAGS = (
    c.MS_RDONLY
    | c.MS_NOSUID
    | c.MS_NODEV
    | c.MS_NOEXEC
    | c.MS_NOATIME
    | c.MS_NODIRATIME
    | c.MS_RELATIME
    | c.MS_STRICTATIME
    | c.MS_NOSYMFOLLOW
)


class ContainerMount:
    """One mount of the plan. ``dest`` is a path inside the container."""

    __slots__ = (
        "attr_clear",
        "attr_set",
        "bind",
        "data",
        "dest",
        "flags",
        "fstype",
        "kind",
        "propagation",
        "source",
        "tmpcopyup",
    )

    def __init__(
        self,
        dest: str,
        source: str | None,
        fstype: str | None,
        flags: int = 0,
        data: str | None = None,
        *,
        bind: bool = False,
        kind: str = "dir",
        propagation: tuple[int, ...] = (),
        attr_set: int = 0,
        attr_clear: int = 0,
        tmpcopyup: bool = False,
    ) -> None:
        self.dest = dest
        self.source = source
        self.fstype = fstype
        self.flags = flags
        self.data = data
        self.bind = bind
        self.kind = kind
        self.propagation = propagation
        self.attr_set = attr_set
        self.attr_clear = attr_clear
        self.tmpcopyup = tmpcopyup

    def __repr__(self) -> str:
        return (
            f"ContainerMount({self.source!r} -> {self.dest!r}, {self.fstype!r}, "
            f"flags={self.flags:#x}, data={self.data!r}, bind={self.bind})"
        )


class DeviceNode:
    __slots__ = ("gid", "major", "minor", "mode", "path", "type", "uid")

    def __init__(
        self, path: str, type: str, major: int, minor: int, mode: int, uid: int = 0, gid: int = 0
    ) -> None:
        self.path = path
        self.type = type
        self.major = major
        self.minor = minor
        self.mode = mode
        self.uid = uid
        self.gid = gid

    def __repr__(self) -> str:
        return f"DeviceNode({self.path} {self.type} {self.major}:{self.minor} {self.mode:o})"


# The nodes every container gets in a fresh /dev (as runc and Docker do).
DEFAULT_DEVICES = (
    DeviceNode("/dev/null", "c", 1, 3, 0o666),
    DeviceNode("/dev/zero", "c", 1, 5, 0o666),
    DeviceNode("/dev/full", "c", 1, 7, 0o666),
    DeviceNode("/dev/random", "c", 1, 8, 0o666),
    DeviceNode("/dev/urandom", "c", 1, 9, 0o666),
    DeviceNode("/dev/tty", "c", 5, 0, 0o666),
)

DEV_SYMLINKS = (
    ("/proc/self/fd", "/dev/fd"),
    ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"),
    ("/proc/self/fd/2", "/dev/stderr"),
)


class RootfsPlan:
    __slots__ = (
        "cgroup_at",
        "devices",
        "masked_paths",
        "mounts",
        "propagation",
        "readonly",
        "readonly_paths",
        "root_propagation",
        "rootfs",
        "symlinks",
        "sysctl",
        "userns",
    )

    def __init__(self, rootfs: str) -> None:
        self.rootfs = rootfs
        self.root_propagation = c.MS_SLAVE | c.MS_REC
        self.propagation = 0  # applied to / at the end when the spec asks
        self.mounts: list[ContainerMount] = []
        self.cgroup_at = -1  # index in mounts of the first one of the container's cgroup
        self.devices: list[DeviceNode] = []
        self.symlinks: list[tuple[str, str]] = []
        self.readonly = False
        self.masked_paths: tuple[str, ...] = ()
        self.readonly_paths: tuple[str, ...] = ()
        self.sysctl: dict[str, str] = {}
        self.userns = False


def _device_mode(type_: str) -> int:
    return {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}[type_]


def plan(
    spec: Spec,
    rootfs: str,
    bundle: str,
    *,
    cgroup_mounts: list[MountOp] | None = None,
    userns: bool = False,
) -> RootfsPlan:
    """Compute the rootfs plan. ``cgroup_mounts`` expand mounts of type cgroup."""
    p = RootfsPlan(rootfs)
    p.userns = userns
    linux = spec.linux
    if linux is not None:
        if linux.rootfs_propagation:
            prop = mountopts.PROPAGATION[linux.rootfs_propagation]
            p.root_propagation = prop
            p.propagation = prop
        p.masked_paths = linux.masked_paths
        p.readonly_paths = linux.readonly_paths
        p.sysctl = dict(linux.sysctl or {})
    p.readonly = bool(spec.root and spec.root.readonly)
    fresh_dev = False
    for i, m in enumerate(spec.mounts):
        opts = mountopts.parse(m.options)
        dest = os.path.normpath(m.destination)
        if m.type == "cgroup" or m.type == "cgroup2":
            if cgroup_mounts and p.cgroup_at < 0:
                p.cgroup_at = len(p.mounts)
            for op in cgroup_mounts or ():
                p.mounts.append(
                    ContainerMount(
                        op.target,
                        op.source,
                        op.fstype,
                        op.flags,
                        op.data,
                        bind=bool(op.flags & c.MS_BIND),
                        kind=op.kind,  # (a "symlink": source is its text)
                        propagation=(op.propagation,) if op.propagation else (),
                    )
                )
            continue
        is_bind = opts.is_bind or m.type == "bind"
        if is_bind:
            source = m.source or ""
            if not os.path.isabs(source):
                source = os.path.join(bundle, source)
            try:
                st = os.stat(source)
            except OSError as e:
                raise InvalidArgument(
                    f"mounts[{i}].source: cannot bind {source}: {os.strerror(e.errno or 0)}"
                ) from None
            kind = "dir" if stat.S_ISDIR(st.st_mode) else "file"
            flags = opts.flags | c.MS_BIND
            p.mounts.append(
                ContainerMount(
                    dest,
                    source,
                    None,
                    flags,
                    opts.data_string,
                    bind=True,
                    kind=kind,
                    propagation=tuple(opts.propagation),
                    attr_set=opts.attr_set,
                    attr_clear=opts.attr_clear,
                )
            )
            continue
        if dest == "/dev" and m.type == "tmpfs":
            fresh_dev = True
        p.mounts.append(
            ContainerMount(
                dest,
                m.source or m.type,
                m.type,
                opts.flags,
                opts.data_string,
                propagation=tuple(opts.propagation),
                attr_set=opts.attr_set,
                attr_clear=opts.attr_clear,
                tmpcopyup="tmpcopyup" in opts.extensions,
            )
        )
    if fresh_dev:
        p.devices.extend(DEFAULT_DEVICES)
        p.symlinks.extend(DEV_SYMLINKS)
        if any(m.dest == "/dev/pts" for m in p.mounts):
            p.symlinks.append(("pts/ptmx", "/dev/ptmx"))
        if os.path.exists("/proc/kcore"):
            p.symlinks.append(("/proc/kcore", "/dev/core"))
    if linux is not None:
        for d in linux.devices:
            mode = d.file_mode if d.file_mode is not None else 0o666
            p.devices = [x for x in p.devices if x.path != d.path]
            p.devices.append(
                DeviceNode(d.path, d.type, d.major or 0, d.minor or 0, mode, d.uid or 0, d.gid or 0)
            )
    return p


# -- applying the plan (in the container's init, in its own mount namespace) ------------------


def prepare(
    k: Syscalls,
    p: RootfsPlan,
    before_devices: Callable[[], None] | None = None,
    before_cgroup: Callable[[], None] | None = None,
) -> None:
    """Steps 1-4: everything up to pivot_root. ``before_cgroup`` is called before the
    mounts of the container's cgroup (/sys/fs/cgroup), ``before_devices`` between the
    mounts and the device nodes (after ``before_cgroup``, if no such mount came)."""
    k.mount(None, "/", None, p.root_propagation)
    if not p.root_propagation & c.MS_REC or p.root_propagation & c.MS_SHARED:
        # (a recursive slave, private or unbindable / leaves no mount shared)
        _make_parent_private(k, p.rootfs)
    k.mount(p.rootfs, p.rootfs, None, c.MS_BIND | c.MS_REC)
    rootfd = os.open(p.rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for i, m in enumerate(p.mounts):
            if i == p.cgroup_at and before_cgroup is not None:
                before_cgroup()
                before_cgroup = None
            try:
                _mount_one(k, rootfd, m)
            except KernelError as e:
                raise ContainerStartError(
                    f"mounting {m.source or m.fstype} at {m.dest} in the container: {e}"
                ) from None
        if before_cgroup is not None:
            before_cgroup()
        if before_devices is not None:
            before_devices()
        _devices(k, rootfd, p)
    finally:
        os.close(rootfd)


def pivot(k: Syscalls, rootfs: str) -> None:
    """Step 5: make the rootfs ``/`` and detach the old root (no put_old dir needed)."""
    old = os.open("/", os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    new = os.open(rootfs, os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fchdir(new)
        try:
            k.pivot_root(".", ".")
        except KernelError as e:
            if e.errno != errno.EINVAL:
                raise
            # pivot_root cannot work where / is not a mount (ramfs/initramfs): move and chroot.
            k.mount(rootfs, "/", None, c.MS_MOVE)
            os.chroot(".")
            os.chdir("/")
            return
        os.fchdir(old)
        k.mount(None, ".", None, c.MS_SLAVE | c.MS_REC)
        k.umount(".", c.MNT_DETACH)
        os.chdir("/")
    finally:
        os.close(old)
        os.close(new)


def finalize(k: Syscalls, p: RootfsPlan) -> None:
    """Step 6, after pivot_root: sysctls, read-only and masked paths, read-only root."""
    if p.sysctl:
        fd = os.open("/proc", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            check_procfs(k, fd, "/proc")
        finally:
            os.close(fd)
    for key, value in p.sysctl.items():
        _write_sysctl(k, key, value)
    for path in p.readonly_paths:
        _readonly_path(k, path)
    for path in p.masked_paths:
        _mask_path(k, path)
    if p.readonly:
        _remount_readonly(k, "/")
    if p.propagation:
        k.mount(None, "/", None, p.propagation)


def _make_parent_private(k: Syscalls, rootfs: str) -> None:
    """pivot_root refuses a new root whose parent mount is shared."""
    with open("/proc/self/mountinfo") as f:
        text = f.read()
    best = "/"
    for line in text.splitlines():
        point = _unescape(line.split(" ", 5)[4])
        if (rootfs == point or rootfs.startswith(point.rstrip("/") + "/")) and len(point) > len(
            best
        ):
            best = point
    k.mount(None, best, None, c.MS_PRIVATE)


def _unescape(s: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal."""
    if "\\" not in s:
        return s
    out, i = [], 0
    while i < len(s):
        if s[i] == "\\" and i + 3 < len(s) + 0 and s[i + 1 : i + 4].isdigit():
            out.append(chr(int(s[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def _mount_one(k: Syscalls, rootfd: int, m: ContainerMount) -> None:
    if m.dest == "/":
        raise InvalidArgument("mounts: a mount over the container's / is not allowed")
    if m.kind == "symlink":  # (source: the link's text)
        parent = ensure_in_root(k, rootfd, os.path.dirname(m.dest))
        try:
            os.symlink(m.source or "", os.path.basename(m.dest), dir_fd=parent)
        except FileExistsError:
            pass
        finally:
            os.close(parent)
        return
    if m.flags & c.MS_REMOUNT:  # changes the mount already at dest
        top = open_in_root(k, rootfd, m.dest)
        try:
            k.mount(m.source, fd_path(top), m.fstype, m.flags, m.data)
        finally:
            os.close(top)
        return
    fd = ensure_in_root(k, rootfd, m.dest, kind=m.kind)
    try:
        if m.bind:
            k.mount(m.source, fd_path(fd), None, m.flags & (c.MS_BIND | c.MS_REC))
        elif m.tmpcopyup:
            _tmpcopyup(k, rootfd, fd, m)
        else:
            k.mount(m.source, fd_path(fd), m.fstype, m.flags, m.data)
    finally:
        os.close(fd)
    rest = m.flags & _BIND_REMOUNT_FLAGS
    if not (m.propagation or m.attr_set or m.attr_clear or (m.bind and rest)):
        return
    # Reopen: the new mount now sits on top of the path.
    top = open_in_root(k, rootfd, m.dest)
    try:
        if m.bind and rest:
            _remount_bind(k, fd_path(top), rest, m.dest)
        for prop in m.propagation:
            k.mount(None, fd_path(top), None, prop)
        if m.attr_set or m.attr_clear:
            k.mount_setattr(top, m.attr_set, m.attr_clear, recursive=True)
    finally:
        os.close(top)


def _remount_bind(k: Syscalls, target: str, flags: int, what: str) -> None:
    try:
        k.mount(None, target, None, c.MS_BIND | c.MS_REMOUNT | flags)
    except KernelError as e:
        if e.errno != errno.EPERM:
            raise
        # Flags locked by the source mount (in user namespaces) must be kept.
        locked = _statvfs_flags(target)
        k.mount(None, target, None, c.MS_BIND | c.MS_REMOUNT | flags | locked)


def _statvfs_flags(path: str) -> int:
    st = os.statvfs(path)
    # ST_* values equal the MS_* ones for these bits.
    keep = c.MS_RDONLY | c.MS_NOSUID | c.MS_NODEV | c.MS_NOEXEC | c.MS_NOATIME | c.MS_NODIRATIME
    return st.f_flag & keep | (st.f_flag & c.MS_RELATIME)


def _tmpcopyup(k: Syscalls, rootfd: int, fd: int, m: ContainerMount) -> None:
    """Mount a tmpfs at ``fd`` holding a copy of what was there (podman's tmpcopyup)."""
    old = os.open(fd_path(fd), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        k.mount(m.source, fd_path(fd), m.fstype, m.flags, m.data)
        new = open_in_root(k, rootfd, m.dest, os.O_RDONLY | os.O_DIRECTORY)
        try:
            _copy_tree(old, new)
        finally:
            os.close(new)
    finally:
        os.close(old)


def _copy_tree(src: int, dst: int) -> None:
    for name in os.listdir(src):
        st = os.stat(name, dir_fd=src, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            os.mkdir(name, stat.S_IMODE(st.st_mode), dir_fd=dst)
            s = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=src)
            d = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dst)
            try:
                _copy_tree(s, d)
            finally:
                os.close(s)
                os.close(d)
        elif stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(name, dir_fd=src), name, dir_fd=dst)
        elif stat.S_ISREG(st.st_mode):
            s = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=src)
            d = os.open(
                name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IMODE(st.st_mode), dir_fd=dst
            )
            try:
                while chunk := os.read(s, 1 << 20):
                    os.write(d, chunk)
            finally:
                os.close(s)
                os.close(d)
        else:
            continue
        os.chown(name, st.st_uid, st.st_gid, dir_fd=dst, follow_symlinks=False)


class _Dirs:
    """The directory of the last device node or link made, kept open for the next one
    in the same directory (a fresh /dev holds them all)."""

    __slots__ = ("fd", "path")

    def __init__(self) -> None:
        self.path = ""
        self.fd = -1

    def get(self, k: Syscalls, rootfd: int, path: str) -> int:
        if self.fd >= 0 and path == self.path:
            return self.fd
        self.close()
        parent = ensure_in_root(k, rootfd, path)
        try:
            self.fd = os.open(fd_path(parent), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        finally:
            os.close(parent)
        self.path = path
        return self.fd

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
        self.fd = -1


def _devices(k: Syscalls, rootfd: int, p: RootfsPlan) -> None:
    dirs = _Dirs()
    try:
        for d in p.devices:
            parent_path, name = os.path.split(d.path)
            dirfd = dirs.get(k, rootfd, parent_path)
            try:
                os.unlink(name, dir_fd=dirfd)
            except FileNotFoundError:
                pass
            if p.userns and d.type != "p":
                # mknod is not allowed in a user namespace: bind the host's node.
                fd = os.open(name, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644, dir_fd=dirfd)
                os.close(fd)
                target = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dirfd)
                try:
                    k.mount(d.path, fd_path(target), None, c.MS_BIND)
                finally:
                    os.close(target)
                continue
            dev = os.makedev(d.major, d.minor) if d.type != "p" else 0
            try:
                os.mknod(name, _device_mode(d.type) | (d.mode & 0o7777), dev, dir_fd=dirfd)
            except OSError as e:
                raise KernelError("mknod", d.path, e.errno or 0) from None
            os.chmod(name, d.mode & 0o7777, dir_fd=dirfd)
            if d.uid or d.gid:
                os.chown(name, d.uid, d.gid, dir_fd=dirfd, follow_symlinks=False)
        for link_target, link in p.symlinks:
            parent_path, name = os.path.split(link)
            dirfd = dirs.get(k, rootfd, parent_path)
            try:
                os.symlink(link_target, name, dir_fd=dirfd)
            except FileExistsError:
                pass
    finally:
        dirs.close()


def _write_sysctl(k: Syscalls, key: str, value: str) -> None:
    path = "/proc/sys/" + key.replace(".", "/")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError as e:
        raise KernelError("sysctl", f"{key}={value}", e.errno or 0) from None
    try:
        check_procfs(k, fd, path)
        os.write(fd, value.encode())
    except OSError as e:
        raise KernelError("sysctl", f"{key}={value}", e.errno or 0) from None
    finally:
        os.close(fd)


def _readonly_path(k: Syscalls, path: str) -> None:
    try:
        k.mount(path, path, None, c.MS_BIND | c.MS_REC)
    except KernelError as e:
        if e.errno == errno.ENOENT:
            return
        raise
    _remount_readonly(k, path)


def _remount_readonly(k: Syscalls, path: str) -> None:
    try:
        k.mount(None, path, None, c.MS_BIND | c.MS_REMOUNT | c.MS_RDONLY)
    except KernelError as e:
        if e.errno != errno.EPERM:
            raise
        k.mount(None, path, None, c.MS_BIND | c.MS_REMOUNT | c.MS_RDONLY | _statvfs_flags(path))


def _mask_path(k: Syscalls, path: str) -> None:
    try:
        st = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        k.mount("tmpfs", path, "tmpfs", c.MS_RDONLY)
    else:
        k.mount("/dev/null", path, None, c.MS_BIND)
