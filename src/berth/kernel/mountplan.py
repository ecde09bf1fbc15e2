"""A mount as a value: what to mount where, before anything is mounted.

Producers (the snapshotter, the cgroup drivers, the runtime's rootfs
planner) return lists of :class:`MountOp`; one applier mounts them. This is
containerd's rule: a snapshotter *returns* mounts and the caller mounts them.

``target`` is absolute; for container mounts it is a path inside the
container's root (resolved safely by the applier, never by string joining).
``kind`` says what the target must be when it has to be created: ``"dir"``
or ``"file"`` (bind mounts of files).
"""

from __future__ import annotations


class MountOp:
    __slots__ = ("data", "flags", "fstype", "kind", "propagation", "source", "target")

    def __init__(
        self,
        source: str | None,
        target: str,
        fstype: str | None = None,
        flags: int = 0,
        data: str | None = None,
        *,
        propagation: int = 0,
        kind: str = "dir",
    ) -> None:
        self.source = source
        self.target = target
        self.fstype = fstype
        self.flags = flags
        self.data = data
        self.propagation = propagation
        self.kind = kind

    def _key(self) -> tuple[object, ...]:
        return (
            self.source,
            self.target,
            self.fstype,
            self.flags,
            self.data,
            self.propagation,
            self.kind,
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MountOp) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        extra = f", data={self.data!r}" if self.data else ""
        return (
            f"MountOp({self.source!r} -> {self.target!r}, type={self.fstype!r}, "
            f"flags={self.flags:#x}{extra}, propagation={self.propagation:#x}, kind={self.kind})"
        )
