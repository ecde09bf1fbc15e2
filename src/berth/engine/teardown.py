"""Take an engine's traces off the host: containers, monitor, mounts, network.

berthd leaves containers running when it stops (they outlive it), and its
network (bridge, nft table) in place for them. ``teardown`` is the opposite
of installing berth, for test fixtures and ``berth system reset``-like uses:
with berthd stopped it kills every container of the engine (the monitor
then reaps them, unmounts their rootfs and releases their cgroups), stops
the monitor, unmounts whatever is still mounted beneath the engine's
directories, and removes the networking berth made (sandboxes, bridges,
the nft table). It changes nothing that does not belong to this engine.
"""

from __future__ import annotations

import os
import signal
import time


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def teardown(
    root: str, exec_root: str, network_table: str = "berth", cgroup_parent: str = "berth"
) -> list[str]:
    """Remove the engine's containers, monitor, mounts and networking; returns notes."""
    from berth.kernel.syscalls import SYSCALLS
    from berth.runtime.lifecycle import delete
    from berth.runtime.state import StateStore

    notes: list[str] = []
    runtime = StateStore(os.path.join(exec_root, "runtime"))
    for cid in runtime.ids():
        try:
            delete(SYSCALLS, runtime, cid, force=True)
        except Exception as e:
            notes.append(f"container {cid}: {e}")
    pid_file = os.path.join(exec_root, "shim.pid")
    try:
        with open(pid_file) as f:
            shim = int(f.read().strip())
    except (OSError, ValueError):
        shim = 0
    # the containers' parent cgroup sits beneath the cgroup berthd (and the monitor it
    # spawned) ran in, which need not be ours: read it before the monitor goes
    homes = [_own_cgroups("/proc/self/cgroup")]
    if shim and _alive(shim):
        homes.append(_own_cgroups(f"/proc/{shim}/cgroup"))
    if shim and _alive(shim):
        os.kill(shim, signal.SIGTERM)
        if not _wait_gone(shim, 15):
            os.kill(shim, signal.SIGKILL)
            _wait_gone(shim, 5)
            notes.append("the monitor did not stop on SIGTERM")
    _unmount_beneath(root, notes)
    _unmount_beneath(exec_root, notes)
    for own in homes:
        _remove_cgroup_parent(cgroup_parent, own, notes)
    db_path = os.path.join(root, "berth.db")
    if os.path.exists(db_path):
        try:
            from berth.network.manager import NetworkManager
            from berth.store.db import Database

            with Database(db_path) as db:
                tables = {
                    r["name"] for r in db.query("SELECT name FROM sqlite_master WHERE type='table'")
                }
                if "networks" in tables:
                    nm = NetworkManager(db, exec_root, table=network_table, embedded_dns=False)
                    nm.uninstall()
        except Exception as e:
            notes.append(f"network: {e}")
    return notes


def _unmount_beneath(top: str, notes: list[str]) -> None:
    from berth.kernel.consts import MNT_DETACH
    from berth.kernel.syscalls import SYSCALLS

    top = os.path.realpath(top).rstrip("/") + "/"
    try:
        with open("/proc/self/mountinfo") as f:
            lines = f.read().splitlines()
    except OSError:
        return
    points = []
    for line in lines:
        point = line.split(" ", 5)[4].replace("\\040", " ")
        if point.startswith(top):
            points.append(point)
    for point in sorted(points, key=len, reverse=True):
        try:
            SYSCALLS.umount(point, MNT_DETACH)
            notes.append(f"unmounted {point}")
        except Exception as e:
            notes.append(f"unmount {point}: {e}")


def _own_cgroups(path: str) -> dict[str, str]:
    """controller -> cgroup path, from a /proc/<pid>/cgroup file ("unified" for v2)."""
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError:
        return {}
    own: dict[str, str] = {}
    for line in lines:
        _hid, ctrls, cg = line.split(":", 2)
        for name in ctrls.split(",") if ctrls else ["unified"]:
            own[name.removeprefix("name=")] = cg
    return own


def _remove_cgroup_parent(parent: str, own: dict[str, str], notes: list[str]) -> None:
    """rmdir the containers' parent cgroup (relative: beneath ``own``) where it is empty."""
    if not parent or parent.startswith("/") or not own:
        return
    base = "/sys/fs/cgroup"
    for name in sorted(os.listdir(base)):
        top = os.path.join(base, name)
        if not os.path.isdir(top) or os.path.islink(top):
            continue
        d = os.path.join(top, own.get(name, "/").lstrip("/"), parent)
        for _ in range(50):  # a dying cgroup goes away a moment after its last process
            try:
                os.rmdir(d)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.02)
        else:
            notes.append(f"cgroup {d} is still busy")
