"""start, kill, delete, pause, resume, update: operations on an existing container.

Each loads the container's state, derives its status from the live system
and refuses what that status does not allow, with runc's wording (podman
and containerd match on some of it).
"""

from __future__ import annotations

import os
import time

from berth.errors import Conflict, InvalidArgument, NotFound
from berth.runtime.state import ContainerState, StateStore

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from berth.kernel.syscalls import Syscalls


def open_cgroup_of(st: ContainerState) -> Any:
    if st.cgroup is None:
        doc = st.doc.get("cgroup")
        if doc:
            from berth.cgroups import Cgroup

            st.cgroup = Cgroup.from_json(doc)
    return st.cgroup


def status_of(st: ContainerState) -> str:
    if not st.alive():
        return "stopped"
    if os.path.exists(st.fifo):
        return "created"
    cg = open_cgroup_of(st)
    return st.status(frozen=bool(cg is not None and cg.frozen()))


def start(store: StateStore, container_id: str) -> ContainerState:
    st = store.load(container_id)
    status = status_of(st)
    if status != "created":
        raise Conflict(f"cannot start a container that is {status}: {container_id}")
    try:
        fd = os.open(st.fifo, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        raise Conflict(f"cannot start container {container_id}: its init is not waiting") from None
    try:
        os.write(fd, b"0")
    finally:
        os.close(fd)
    try:
        os.unlink(st.fifo)
    except FileNotFoundError:
        pass
    hooks = (st.config.get("hooks") or {}).get("poststart") or []
    if hooks:
        from berth.runtime.hooks import run_hooks

        run_hooks("poststart", hooks, st.oci("running"))
    return st


def signal_init(k: Syscalls, st: ContainerState, sig: int) -> None:
    """Signal the init through a pidfd, after checking it is still the same process."""
    try:
        pidfd = k.pidfd_open(st.pid)
    except Exception:
        raise Conflict("container not running") from None
    try:
        if not st.alive():
            raise Conflict("container not running")
        k.pidfd_send_signal(pidfd, sig)
    finally:
        os.close(pidfd)


def kill(k: Syscalls, store: StateStore, container_id: str, sig: int, all: bool = False) -> None:
    st = store.load(container_id)
    status = status_of(st)
    if status == "stopped":
        raise Conflict("container not running")
    if all:
        cg = open_cgroup_of(st)
        if cg is not None:
            cg.kill(sig)
            return
    signal_init(k, st, sig)


def _wait_gone(st: ContainerState, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while st.alive():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def delete(
    k: Syscalls,
    store: StateStore,
    container_id: str,
    force: bool = False,
    report: Callable[[str], None] | None = None,
    state: ContainerState | None = None,
) -> None:
    """Delete the container (kill it first with ``force``): its processes, cgroup,
    poststop hooks, state. ``state``: its state as the caller loaded it already."""
    if state is not None:
        st = state
    else:
        try:
            st = store.load(container_id)
        except NotFound:
            if force:
                return
            raise
    status = status_of(st)
    if status in ("running", "paused") and not force:
        raise Conflict(f"cannot delete container {container_id} that is not stopped: {status}")
    cg = open_cgroup_of(st)
    if status != "stopped":
        if cg is not None:
            if status == "paused":
                cg.thaw()
            cg.kill(9)
        else:
            try:
                signal_init(k, st, 9)
            except Conflict:
                pass
        if not _wait_gone(st):
            raise Conflict(f"container {container_id}: its init did not exit after SIGKILL")
    if cg is not None:
        cg.kill(9)  # anything left behind (processes in the cgroup the init did not reap)
        cg.destroy()
    hooks = (st.config.get("hooks") or {}).get("poststop") or []
    if hooks:
        from berth.runtime.hooks import run_hooks_reporting

        run_hooks_reporting("poststop", hooks, st.oci("stopped"), report or (lambda _m: None))
    store.remove_dir(st.dir)


def pause(store: StateStore, container_id: str) -> None:
    st = store.load(container_id)
    status = status_of(st)
    if status != "running":
        raise Conflict(f"container {container_id} is {status}, not running")
    cg = open_cgroup_of(st)
    if cg is None:
        raise InvalidArgument(f"container {container_id} has no cgroup to freeze")
    cg.freeze()


def resume(store: StateStore, container_id: str) -> None:
    st = store.load(container_id)
    status = status_of(st)
    if status != "paused":
        raise Conflict(f"container {container_id} is {status}, not paused")
    open_cgroup_of(st).thaw()


def update(store: StateStore, container_id: str, resources: dict[str, Any]) -> None:
    """Change the resources of a container (OCI linux.resources JSON)."""
    from berth.oci.runtime_spec import Resources

    st = store.load(container_id)
    if status_of(st) == "stopped":
        raise Conflict(f"container {container_id} is stopped")
    cg = open_cgroup_of(st)
    res = Resources.from_json(resources, "resources")
    cg.update(res)
    config = st.config
    linux = config.setdefault("linux", {})
    merged = dict(linux.get("resources") or {})
    merged.update(resources)
    linux["resources"] = merged
    st.save()
