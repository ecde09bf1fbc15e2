"""OCI mount options -> mount(2) flags, propagation and filesystem data.

The option vocabulary is fstab's plus the runtime-spec's extensions
(config.md "Mounts", runc's behaviour): ``bind``/``rbind``, propagation
(``rprivate``, ``shared``, ...), recursive attributes (``rro``, ``rnosuid``,
... applied with mount_setattr(2) and AT_RECURSIVE), and berth/podman
extensions (``tmpcopyup``). Anything not recognised goes into the
filesystem-specific data string unchanged (``mode=755``, ``size=64m``).
"""

from __future__ import annotations

from berth.kernel import consts as c

_MS_POSIXACL = 1 << 16
_MS_I_VERSION = 1 << 23

# option -> (clear?, flag)
FLAGS: dict[str, tuple[bool, int]] = {
    "acl": (False, _MS_POSIXACL),
    "async": (True, c.MS_SYNCHRONOUS),
    "atime": (True, c.MS_NOATIME),
    "bind": (False, c.MS_BIND),
    "defaults": (False, 0),
    "dev": (True, c.MS_NODEV),
    "diratime": (True, c.MS_NODIRATIME),
    "dirsync": (False, c.MS_DIRSYNC),
    "exec": (True, c.MS_NOEXEC),
    "iversion": (False, _MS_I_VERSION),
    "lazytime": (False, c.MS_LAZYTIME),
    "loud": (True, c.MS_SILENT),
    "mand": (False, c.MS_MANDLOCK),
    "noacl": (True, _MS_POSIXACL),
    "noatime": (False, c.MS_NOATIME),
    "nodev": (False, c.MS_NODEV),
    "nodiratime": (False, c.MS_NODIRATIME),
    "noexec": (False, c.MS_NOEXEC),
    "noiversion": (True, _MS_I_VERSION),
    "nolazytime": (True, c.MS_LAZYTIME),
    "nomand": (True, c.MS_MANDLOCK),
    "norelatime": (True, c.MS_RELATIME),
    "nostrictatime": (True, c.MS_STRICTATIME),
    "nosuid": (False, c.MS_NOSUID),
    "nosymfollow": (False, c.MS_NOSYMFOLLOW),
    "rbind": (False, c.MS_BIND | c.MS_REC),
    "relatime": (False, c.MS_RELATIME),
    "remount": (False, c.MS_REMOUNT),
    "ro": (False, c.MS_RDONLY),
    "rw": (True, c.MS_RDONLY),
    "silent": (False, c.MS_SILENT),
    "strictatime": (False, c.MS_STRICTATIME),
    "suid": (True, c.MS_NOSUID),
    "sync": (False, c.MS_SYNCHRONOUS),
}

PROPAGATION: dict[str, int] = {
    "private": c.MS_PRIVATE,
    "rprivate": c.MS_PRIVATE | c.MS_REC,
    "shared": c.MS_SHARED,
    "rshared": c.MS_SHARED | c.MS_REC,
    "slave": c.MS_SLAVE,
    "rslave": c.MS_SLAVE | c.MS_REC,
    "unbindable": c.MS_UNBINDABLE,
    "runbindable": c.MS_UNBINDABLE | c.MS_REC,
}

# mount_setattr(2) attributes
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8
MOUNT_ATTR__ATIME = 0x70
MOUNT_ATTR_RELATIME = 0x0
MOUNT_ATTR_NOATIME = 0x10
MOUNT_ATTR_STRICTATIME = 0x20
MOUNT_ATTR_NODIRATIME = 0x80
MOUNT_ATTR_NOSYMFOLLOW = 0x200000

# option -> (clear?, attribute)
RECURSIVE: dict[str, tuple[bool, int]] = {
    "rro": (False, MOUNT_ATTR_RDONLY),
    "rrw": (True, MOUNT_ATTR_RDONLY),
    "rnosuid": (False, MOUNT_ATTR_NOSUID),
    "rsuid": (True, MOUNT_ATTR_NOSUID),
    "rnodev": (False, MOUNT_ATTR_NODEV),
    "rdev": (True, MOUNT_ATTR_NODEV),
    "rnoexec": (False, MOUNT_ATTR_NOEXEC),
    "rexec": (True, MOUNT_ATTR_NOEXEC),
    "rnodiratime": (False, MOUNT_ATTR_NODIRATIME),
    "rdiratime": (True, MOUNT_ATTR_NODIRATIME),
    "rrelatime": (False, MOUNT_ATTR_RELATIME),
    "rnorelatime": (True, MOUNT_ATTR__ATIME),
    "rnoatime": (False, MOUNT_ATTR_NOATIME),
    "ratime": (True, MOUNT_ATTR__ATIME),
    "rstrictatime": (False, MOUNT_ATTR_STRICTATIME),
    "rnostrictatime": (True, MOUNT_ATTR__ATIME),
    "rnosymfollow": (False, MOUNT_ATTR_NOSYMFOLLOW),
    "rsymfollow": (True, MOUNT_ATTR_NOSYMFOLLOW),
}

EXTENSIONS = frozenset({"tmpcopyup", "idmap", "ridmap", "copy-symlink", "notmpcopyup"})


class MountOptions:
    """The parsed form of one mount's option list."""

    __slots__ = ("attr_clear", "attr_set", "data", "extensions", "flags", "propagation")

    def __init__(self) -> None:
        self.flags = 0
        self.propagation: list[int] = []
        self.attr_set = 0
        self.attr_clear = 0
        self.data: list[str] = []
        self.extensions: set[str] = set()

    @property
    def is_bind(self) -> bool:
        return bool(self.flags & c.MS_BIND)

    @property
    def data_string(self) -> str | None:
        return ",".join(self.data) if self.data else None


def parse(options: tuple[str, ...] | list[str]) -> MountOptions:
    """Parse an OCI option list (later options override earlier ones)."""
    out = MountOptions()
    for opt in options:
        if opt in FLAGS:
            clear, flag = FLAGS[opt]
            if clear:
                out.flags &= ~flag
            else:
                out.flags |= flag
        elif opt in PROPAGATION:
            out.propagation.append(PROPAGATION[opt])
        elif opt in RECURSIVE:
            clear, attr = RECURSIVE[opt]
            if clear:
                out.attr_clear |= attr
                out.attr_set &= ~attr
            else:
                out.attr_set |= attr
                out.attr_clear &= ~attr
                if attr & MOUNT_ATTR__ATIME or attr == MOUNT_ATTR_RELATIME:
                    out.attr_clear |= MOUNT_ATTR__ATIME
        elif opt in EXTENSIONS:
            out.extensions.add(opt)
        else:
            out.data.append(opt)
    return out
