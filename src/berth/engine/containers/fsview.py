"""A container's filesystem as Docker's daemon sees it, assembled in a private mount namespace.

``docker cp`` works on the container's root filesystem *with* its volumes,
bind mounts and the network files (/etc/hosts, ...) -- but not /proc, /sys,
/dev or tmpfs mounts -- whether the container runs or not. berth builds
that view in a :class:`MountNamespace`: a worker thread that has unshared
its mount namespace (``unshare(CLONE_NEWNS)``, which a thread may do) and
made every mount in it private. Whatever is mounted there is seen by that
thread only and goes away with it, also when berthd dies: nothing can leak
onto the host. Work that needs the view runs in that thread (paths and
mounts are per namespace); file descriptors it opens may be used anywhere.

The view is planned as data (:func:`plan_view` -> :class:`ViewPlan`) and
applied in the thread (:func:`apply_view`):

- a running container's rootfs is already mounted (in the host namespace,
  at ``<container dir>/rootfs``): the view uses that mount (``live``);
- otherwise overlayfs is mounted on a tmpfs scratch directory: for reading,
  the container's upper directory becomes the top *lower* layer and the
  upper layer is a throwaway one on the tmpfs (so nothing is written to the
  container and a concurrent start is not disturbed); for writing
  (``writable``), the container's own upper and work directories are used;
- then every bind (volumes, host paths, network files) is mounted at its
  destination, resolved inside the root with openat2(RESOLVE_IN_ROOT)
  (:func:`berth.runtime.paths.ensure_in_root`), read-only ones remounted so.
"""

from __future__ import annotations

import os
import threading

from berth.kernel import consts as c
from berth.kernel.mountplan import MountOp

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any, TypeVar

    from berth.kernel.syscalls import Syscalls

    T = TypeVar("T")

OVERLAY_MAGIC = c.OVERLAYFS_SUPER_MAGIC


class _Task:
    __slots__ = ("args", "done", "error", "fn", "result")

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.fn = fn
        self.args = args
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None

    def wait(self) -> Any:
        self.done.wait()
        if self.error is not None:
            raise self.error
        return self.result


class MountNamespace:
    """A worker thread with a private mount namespace of its own.

    ``call(fn, *args)`` runs ``fn`` there and returns its result (or raises its
    error); ``submit`` returns at once with a task to ``wait()`` on. ``close()``
    ends the thread, and with it the namespace and its mounts.
    """

    def __init__(self, sys: Syscalls, name: str = "fsview") -> None:
        import queue

        self.sys = sys
        self._tasks: queue.SimpleQueue[_Task | None] = queue.SimpleQueue()
        self._ready = _Task(lambda: None, ())
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        self._ready.wait()

    def _run(self) -> None:
        try:
            self.sys.unshare(c.CLONE_NEWNS)
            self.sys.mount(None, "/", None, c.MS_REC | c.MS_PRIVATE)
        except BaseException as e:
            self._ready.error = e
            self._ready.done.set()
            return
        self._ready.done.set()
        while True:
            task = self._tasks.get()
            if task is None:
                return
            try:
                task.result = task.fn(*task.args)
            except BaseException as e:
                task.error = e
            finally:
                task.done.set()

    def submit(self, fn: Callable[..., Any], *args: Any) -> _Task:
        if not self._thread.is_alive():
            raise RuntimeError("the mount namespace worker has ended")
        task = _Task(fn, args)
        self._tasks.put(task)
        return task

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        result: T = self.submit(fn, *args).wait()
        return result

    def close(self) -> None:
        if self._thread.is_alive():
            self._tasks.put(None)
            self._thread.join()

    def __enter__(self) -> MountNamespace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Bind:
    """A host path (``source``) to bind at ``dest`` inside the container's root."""

    __slots__ = ("dest", "rw", "source")

    def __init__(self, dest: str, source: str, rw: bool = True) -> None:
        self.dest = dest
        self.source = source
        self.rw = rw

    def __repr__(self) -> str:
        return f"Bind({self.source!r} -> {self.dest!r}, rw={self.rw})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Bind) and (self.dest, self.source, self.rw) == (
            other.dest,
            other.source,
            other.rw,
        )

    def __hash__(self) -> int:
        return hash((self.dest, self.source, self.rw))


class ViewPlan:
    """How to assemble a view (see the module's docstring)."""

    __slots__ = ("binds", "live", "overlay", "root", "scratch")

    def __init__(
        self,
        scratch: str,
        root: str,
        overlay: MountOp,
        live: str | None = None,
        binds: Sequence[Bind] = (),
    ) -> None:
        self.scratch = scratch  #: an existing directory; a tmpfs goes on it
        self.root = root  #: where the root is when the overlay is used
        self.overlay = overlay  #: the overlay mount (used unless ``live`` is mounted)
        self.live = live  #: a mounted rootfs to use as it is
        self.binds = list(binds)  #: parents first


def plan_view(
    scratch: str,
    container_dir: str,
    lowers: Sequence[str],
    *,
    running: bool = False,
    writable: bool = False,
    binds: Sequence[Bind] = (),
) -> ViewPlan:
    """The view of a container: ``lowers`` are its image's layer dirs, top first."""
    upper = os.path.join(container_dir, "upper")
    root = os.path.join(scratch, "merged")
    if writable:
        lower_dirs = list(lowers) or [os.path.join(container_dir, "empty")]
        data = (
            f"lowerdir={':'.join(lower_dirs)},upperdir={upper},"
            f"workdir={os.path.join(container_dir, 'work')}"
        )
    else:
        data = (
            f"lowerdir={':'.join([upper, *lowers])},"
            f"upperdir={os.path.join(scratch, 'upper')},workdir={os.path.join(scratch, 'work')}"
        )
    overlay = MountOp("overlay", root, "overlay", 0, data)
    live = os.path.join(container_dir, "rootfs") if running else None
    ordered = sorted(binds, key=lambda b: (len([p for p in b.dest.split("/") if p]), b.dest))
    return ViewPlan(scratch, root, overlay, live, ordered)


def plan_image_view(scratch: str, lowers: Sequence[str]) -> ViewPlan:
    """A read-only view of an image's layers (what a new container would see)."""
    root = os.path.join(scratch, "merged")
    if len(lowers) == 1:
        op = MountOp(lowers[0], root, None, c.MS_BIND | c.MS_RDONLY)
    else:
        op = MountOp("overlay", root, "overlay", c.MS_RDONLY, f"lowerdir={':'.join(lowers)}")
    return ViewPlan(scratch, root, op)


def _is_overlay_mount(k: Syscalls, path: str) -> bool:
    try:
        if k.statfs_type(path) & 0xFFFFFFFF != OVERLAY_MAGIC:
            return False
        return os.stat(path).st_dev != os.stat(os.path.dirname(path)).st_dev
    except Exception:
        return False


def apply_view(k: Syscalls, plan: ViewPlan) -> str:
    """Mount the view in the calling thread's (private) namespace; return its root."""
    from berth.kernel import fsmount

    if plan.live is not None and _is_overlay_mount(k, plan.live):
        root = plan.live
    else:
        k.mount("tmpfs", plan.scratch, "tmpfs", c.MS_NOSUID | c.MS_NODEV, "mode=0700")
        for name in ("merged", "upper", "work"):
            os.mkdir(os.path.join(plan.scratch, name), 0o755)
        if plan.overlay.fstype is None:  # a bind of a single layer
            k.mount(plan.overlay.source, plan.overlay.target, None, c.MS_BIND)
            if plan.overlay.flags & c.MS_RDONLY:
                k.mount(None, plan.overlay.target, None, c.MS_BIND | c.MS_REMOUNT | c.MS_RDONLY)
        else:
            fsmount.apply(plan.overlay, k)
        root = plan.root
    if plan.binds:
        mount_binds(k, root, plan.binds)
    return root


def mount_binds(k: Syscalls, root: str, binds: Sequence[Bind]) -> None:
    """Bind each source at its destination inside ``root`` (created when missing)."""
    import stat

    from berth.runtime.paths import ensure_in_root, fd_path, open_in_root

    rootfd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for b in binds:
            try:
                kind = "dir" if stat.S_ISDIR(os.stat(b.source).st_mode) else "file"
            except OSError:
                continue  # a source that went away: nothing to show there
            fd = ensure_in_root(k, rootfd, b.dest, kind=kind)
            try:
                k.mount(b.source, fd_path(fd), None, c.MS_BIND | c.MS_REC)
            finally:
                os.close(fd)
            if not b.rw:
                top = open_in_root(k, rootfd, b.dest)
                try:
                    k.mount(None, fd_path(top), None, c.MS_BIND | c.MS_REMOUNT | c.MS_RDONLY)
                finally:
                    os.close(top)
    finally:
        os.close(rootfd)
