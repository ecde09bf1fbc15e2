"""The container's first process moves itself into its cgroup.

Moving *another* process (writing its pid to ``cgroup.procs``) takes the
kernel's cgroup threadgroup lock for writing, which waits for an RCU grace
period: ~10 ms on this kind of machine, the largest single cost of a
container start. A single-threaded process moving *itself* thread-wise
(``0`` into v1's ``tasks``) skips that lock, and for a single-threaded
process moving its only thread is moving the process. cgroup v2 has no such
path (cgroup.threads moves threads only within one domain), so there the
child is *born* in the cgroup: clone3 with CLONE_INTO_CGROUP (``fork_in``).

Runs in stage 1, before it joins other namespaces or forks the init, so
everything after it starts inside the cgroup -- except on the fast path
(one clone3, no cgroup namespace: see berth.runtime.create), where the v1
directories are made after the fork and the init joins them before it
mounts /sys/fs/cgroup or makes device nodes.
"""

from __future__ import annotations

import os

from berth.errors import KernelError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def unified_dir(cg: Any) -> str | None:
    """The container's cgroup2 directory, if the host has a cgroup2 hierarchy."""
    for h, d in zip(cg.layout.hierarchies, cg.dirs, strict=True):
        if h.kind == 2:
            return str(d)
    return None


def fork_in(k: Any, cg: Any, flags: int = 0) -> tuple[int, bool]:
    """fork() (with ``flags``: CLONE_NEW* namespaces for the child); the child is
    born in the container's cgroup2 directory when possible.

    Returns (pid, born_in_unified): when the second is False the child must join
    the cgroup2 hierarchy itself (join_self does it through cgroup.procs).
    """
    d = unified_dir(cg) if cg is not None else None
    fd = -1
    if d is not None:
        try:
            fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            fd = -1
    try:
        if fd >= 0:
            try:
                return k.clone(flags, fd), True
            except KernelError:
                pass
        if flags:
            return k.clone(flags), False
        return os.fork(), False
    finally:
        if fd >= 0:
            os.close(fd)


def join_self(cg: Any, skip_unified: bool = False) -> None:
    """Move the calling single-threaded process into every hierarchy of ``cg``."""
    done = set()
    for h, d in zip(cg.layout.hierarchies, cg.dirs, strict=True):
        if d in done or (skip_unified and h.kind == 2):
            continue
        done.add(d)
        # v2 has no self-move without the lock (cgroup.threads only works inside
        # one domain): cgroup.procs, unless fork_in had the child born there.
        files = ("cgroup.procs",) if h.kind == 2 else ("tasks",)
        for i, name in enumerate(files):
            try:
                fd = os.open(f"{d}/{name}", os.O_WRONLY | os.O_CLOEXEC)
                try:
                    os.write(fd, b"0")
                finally:
                    os.close(fd)
                break
            except OSError as e:
                if i + 1 < len(files):
                    continue
                raise KernelError("join cgroup", d, e.errno or 0) from None
