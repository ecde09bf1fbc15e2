"""What a container sees at /sys/fs/cgroup: the mounts for an OCI mount of type "cgroup".

The runtime applies the returned :class:`~berth.kernel.mountplan.MountOp` list in
order, inside the container's root, one mount(2) call each, except
``kind="symlink"``: create a symbolic link at ``target`` whose text is ``source``.

- v2: the cgroup2 file system itself when the container has a cgroup namespace
  (its root is then the container's cgroup), else a bind mount of the
  container's cgroup directory; read-only unless asked otherwise.
- v1 / hybrid: a tmpfs at /sys/fs/cgroup; in it, per hierarchy, a directory
  named like the host's mount point (``cpu,cpuacct``, ``memory``, ``systemd``,
  ``unified``) holding the container's own cgroup only (the cgroup file system
  mounted inside the namespace, or a bind mount of the container's directory);
  symlinks ``cpu -> cpu,cpuacct`` for controllers mounted together; finally the
  tmpfs is made read-only.

Bind mounts are followed by a remount (``MS_REMOUNT | MS_BIND``) that sets
nosuid, nodev, noexec and, if asked, read-only: a bind cannot set them itself.
Mounting the cgroup file system (``cgroupns=True``) must happen inside the
container's cgroup namespace, after the process joined the cgroup.
"""

from __future__ import annotations

from berth.kernel import consts as c
from berth.kernel.mountplan import MountOp

TYPE_CHECKING = False
if TYPE_CHECKING:
    from berth.cgroups.cgroup import Cgroup

TARGET = "/sys/fs/cgroup"
BASE = c.MS_NOSUID | c.MS_NODEV | c.MS_NOEXEC


def _bind(source: str, target: str, ro: int) -> list[MountOp]:
    return [
        MountOp(source, target, None, c.MS_BIND | c.MS_REC),
        MountOp(None, target, None, c.MS_BIND | c.MS_REMOUNT | BASE | ro),
    ]


def container_mounts(cg: Cgroup, cgroupns: bool, readonly: bool = True) -> list[MountOp]:
    ro = c.MS_RDONLY if readonly else 0
    layout = cg.layout
    if layout.mode == "v2":
        if cgroupns:
            return [MountOp("cgroup2", TARGET, "cgroup2", BASE | ro)]
        return _bind(cg.paths["unified"], TARGET, ro)
    ops = [MountOp("tmpfs", TARGET, "tmpfs", BASE, "mode=755")]
    links = []
    for h, d in zip(layout.hierarchies, cg.dirs, strict=True):
        sub = h.mountpoint.rstrip("/").rsplit("/", 1)[-1]
        target = f"{TARGET}/{sub}"
        if cgroupns:
            if h.kind == 2:
                ops.append(MountOp("cgroup2", target, "cgroup2", BASE | ro))
            else:
                names = list(h.controllers)
                if all(n.startswith("name=") for n in names):
                    names.insert(0, "none")
                ops.append(MountOp("cgroup", target, "cgroup", BASE | ro, ",".join(names)))
        else:
            ops.extend(_bind(d, target, ro))
        if h.kind == 1:
            for name in h.controllers:
                if name != sub and not name.startswith("name="):
                    links.append(MountOp(sub, f"{TARGET}/{name}", kind="symlink"))
    ops.extend(links)
    if readonly:
        ops.append(MountOp(None, TARGET, None, c.MS_REMOUNT | c.MS_RDONLY | BASE, "mode=755"))
    return ops
