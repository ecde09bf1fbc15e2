"""The runtime's record of a container: ``<root>/<id>/state.json``.

State directory (``--root``, default ``/run/berth-runtime``)::

    <root>/<id>/state.json   this record (schema version 1), written atomically
    <root>/<id>/exec.fifo    present between create and start: the init waits on it

``state.json`` (version 1)::

    {"version": 1, "id": ..., "pid": <init pid on the host>,
     "pid_start": <its start time, /proc/<pid>/stat field 22>,
     "bundle": ..., "rootfs": ..., "created": RFC 3339 UTC, "owner": "",
     "annotations": {...}, "cgroup": <berth.cgroups paths>, "config": <the spec>}

The status is never stored; it is derived from the live system (runc's
way): the init gone (or its pid reused: start time differs) -> stopped;
exec.fifo present -> created; cgroup frozen -> paused; else running.
"""

from __future__ import annotations

import os
import time

from berth import jsonio
from berth.errors import Conflict, InvalidArgument, NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DEFAULT_ROOT = "/run/berth-runtime"
STATE_VERSION = 1
_ID_OK = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-.")


def check_id(container_id: str) -> None:
    if not container_id or len(container_id) > 1024:
        raise InvalidArgument("container id must be 1 to 1024 characters")
    if container_id in (".", "..") or not set(container_id) <= _ID_OK:
        raise InvalidArgument(
            f"invalid container id {container_id!r}: use letters, digits, '_', '+', '-' and '.'"
        )


def fifo_path(state_dir: str) -> str:
    """The exec.fifo of the container whose state lives in ``state_dir``."""
    return os.path.join(state_dir, "exec.fifo")


def rfc3339_now() -> str:
    ns = time.time_ns()
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


def proc_start_time(pid: int) -> int | None:
    """Start time of ``pid`` (clock ticks after boot), or None if it is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rfind(b")") + 2 :].split()
    if fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])


class ContainerState:
    """A loaded state.json plus where it lives (and, once opened, its cgroup)."""

    __slots__ = ("cgroup", "dir", "doc")

    def __init__(self, dir: str, doc: dict[str, Any]) -> None:
        self.dir = dir
        self.doc = doc
        # the Cgroup of doc["cgroup"]: set by create, or by the first open_cgroup_of
        self.cgroup: Any = None

    @property
    def id(self) -> str:
        return str(self.doc["id"])

    @property
    def pid(self) -> int:
        return int(self.doc.get("pid") or 0)

    @property
    def config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = self.doc.get("config") or {}
        return cfg

    @property
    def fifo(self) -> str:
        return fifo_path(self.dir)

    def alive(self) -> bool:
        pid = self.pid
        if pid <= 0:
            return False
        start = proc_start_time(pid)
        return start is not None and start == self.doc.get("pid_start")

    def status(self, frozen: bool = False) -> str:
        if not self.alive():
            return "stopped"
        if os.path.exists(self.fifo):
            return "created"
        if frozen:
            return "paused"
        return "running"

    def save(self) -> None:
        """Write state.json atomically (a temporary file renamed over it)."""
        self.write_pending()
        self.publish()

    def write_pending(self) -> None:
        """Write the document to ``state.json.tmp``: not the container's state until
        :meth:`publish` (creating the file is the slow part of a save; the rename is
        not, so ``create`` writes it while the init is busy)."""
        fd = os.open(
            os.path.join(self.dir, "state.json.tmp"),
            os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC,
            0o600,
        )
        try:
            os.write(fd, jsonio.dumps(self.doc).encode())
        finally:
            os.close(fd)

    def publish(self) -> None:
        """Make what write_pending wrote the container's state.json."""
        os.replace(os.path.join(self.dir, "state.json.tmp"), os.path.join(self.dir, "state.json"))

    def oci(self, status: str) -> dict[str, Any]:
        """The OCI state document (what hooks read on stdin)."""
        out: dict[str, Any] = {
            "ociVersion": self.config.get("ociVersion", "1.2.0"),
            "id": self.id,
            "status": status,
            "bundle": self.doc.get("bundle", ""),
        }
        if status in ("created", "running", "paused", "creating"):
            out["pid"] = self.pid
        annotations = self.doc.get("annotations")
        if annotations:
            out["annotations"] = annotations
        return out


class StateStore:
    """All containers under one runtime root."""

    def __init__(self, root: str = DEFAULT_ROOT) -> None:
        self.root = os.path.abspath(root)

    def dir_of(self, container_id: str) -> str:
        check_id(container_id)
        return os.path.join(self.root, container_id)

    def create_dir(self, container_id: str) -> str:
        """Make the container's state dir; Conflict if the id is taken."""
        path = self.dir_of(container_id)
        os.makedirs(self.root, mode=0o711, exist_ok=True)
        try:
            os.mkdir(path, 0o711)
        except FileExistsError:
            raise Conflict(f"container with id {container_id!r} already exists") from None
        return path

    def check_free(self, container_id: str) -> str:
        """The state dir the container would get; Conflict if the id is taken (the
        dir is made later: create_dir is what settles it)."""
        path = self.dir_of(container_id)
        if os.path.lexists(path):
            raise Conflict(f"container with id {container_id!r} already exists")
        return path

    def load(self, container_id: str) -> ContainerState:
        path = self.dir_of(container_id)
        try:
            with open(os.path.join(path, "state.json"), "rb") as f:
                data = f.read()
        except FileNotFoundError:
            raise NotFound(f"container {container_id!r} does not exist") from None
        doc = jsonio.loads(data, f"{path}/state.json")
        return ContainerState(path, doc)

    def ids(self) -> list[str]:
        try:
            names = os.listdir(self.root)
        except FileNotFoundError:
            return []
        return sorted(n for n in names if os.path.exists(os.path.join(self.root, n, "state.json")))

    def remove_dir(self, path: str) -> None:
        for name in ("state.json", "state.json.tmp", "exec.fifo"):
            try:
                os.unlink(os.path.join(path, name))
            except FileNotFoundError:
                pass
        try:
            os.rmdir(path)
        except FileNotFoundError:
            pass
