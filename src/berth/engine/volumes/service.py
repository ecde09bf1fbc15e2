"""The volume service: Docker's volume endpoints, and the mounts of containers.

=====================================  =============================================
endpoint                               method
=====================================  =============================================
GET    /volumes?filters=               :meth:`VolumeService.list_volumes`
POST   /volumes/create                 :meth:`VolumeService.create` (201)
GET    /volumes/{name}                 :meth:`VolumeService.inspect`
DELETE /volumes/{name}?force=          :meth:`VolumeService.remove` (204)
POST   /volumes/prune?filters=         :meth:`VolumeService.prune`
=====================================  =============================================

For the container service (``ContainerService(volumes=...)``):
:meth:`prepare` at create, :meth:`oci_mounts` at start, :meth:`release`
at rm (see the package docstring). :meth:`attach` gives the service the
container service: volumes are *in use* while a container's ``Mounts``
name them, and ``--volumes-from`` reads other containers' mount points.

Locking: the container service's lock is taken before this service's own
(``prepare``/``release`` are called with it held; ``remove``/``prune``
take it), so a volume cannot be removed while a container is being created
with it.
"""

from __future__ import annotations

import os
import threading

from berth.engine.volumes import mountspec
from berth.engine.volumes.mountspec import ANONYMOUS_LABEL, MountPoint
from berth.engine.volumes.store import DRIVER, Volume, VolumeStore
from berth.errors import Conflict, InvalidArgument, NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from contextlib import AbstractContextManager
    from typing import Any

    from berth.engine.filters import Filters
    from berth.kernel.syscalls import Syscalls

LIST_FILTERS = ("dangling", "driver", "label", "name")
PRUNE_FILTERS = ("label", "label!", "all")


class VolumeService:
    def __init__(
        self,
        root: str,
        exec_root: str,
        db: Any,
        *,
        sys: Syscalls | None = None,
        events: Any = None,
    ) -> None:
        self.root = root
        self.exec_root = exec_root
        self.store = VolumeStore(root, db)
        self.store.sweep()
        self._sys = sys
        self.events = events
        self.lock = threading.RLock()
        self.containers: Any = None

    @property
    def sys(self) -> Syscalls:
        if self._sys is None:
            from berth.kernel.syscalls import SYSCALLS

            self._sys = SYSCALLS
        return self._sys

    def attach(self, containers: Any) -> None:
        """The container service (its ``rows``, ``lock``, ``find`` and ``images``)."""
        self.containers = containers

    def _publish(self, action: str, name: str, attrs: dict[str, str] | None = None) -> None:
        if self.events is not None:
            self.events.publish("volume", action, name, {"driver": DRIVER, **(attrs or {})})

    def _containers_locked(self) -> AbstractContextManager[Any]:
        if self.containers is not None:
            lock: AbstractContextManager[Any] = self.containers.lock
            return lock
        return self.lock

    # -- usage ---------------------------------------------------------------------------
    def usage(self, exclude: str = "") -> dict[str, list[str]]:
        """Volume name -> IDs of the containers (any state) that mount it."""
        out: dict[str, list[str]] = {}
        if self.containers is None:
            return out
        with self.containers.lock:
            for row in self.containers.rows.values():
                if row.id == exclude:
                    continue
                for m in row.mounts or []:
                    if m.get("Type") == "volume" and m.get("Name"):
                        out.setdefault(str(m["Name"]), []).append(row.id)
        return out

    # -- API -----------------------------------------------------------------------------
    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /volumes/create: {"Name", "Driver", "DriverOpts", "Labels"} -> Volume."""
        name = body.get("Name") or ""
        driver = body.get("Driver") or DRIVER
        labels = body.get("Labels") or {}
        options = body.get("DriverOpts") or {}
        if not isinstance(name, str) or not isinstance(driver, str):
            raise InvalidArgument("Name and Driver must be strings")
        if not isinstance(labels, dict) or not isinstance(options, dict):
            raise InvalidArgument("Labels and DriverOpts must be objects")
        vol = self.ensure(
            name or os.urandom(32).hex(),
            driver,
            {str(k): str(v) for k, v in labels.items()},
            {str(k): str(v) for k, v in options.items()},
        )
        return vol.to_docker()

    def ensure(
        self,
        name: str,
        driver: str = "",
        labels: dict[str, str] | None = None,
        options: dict[str, str] | None = None,
        anonymous: bool = False,
    ) -> Volume:
        """The volume ``name``, created when missing (Docker's create is idempotent)."""
        return self._ensure(name, driver, labels, options, anonymous)[0]

    def _ensure(
        self,
        name: str,
        driver: str = "",
        labels: dict[str, str] | None = None,
        options: dict[str, str] | None = None,
        anonymous: bool = False,
    ) -> tuple[Volume, bool]:
        driver = driver or DRIVER
        with self.lock:
            vol = self.store.get(name)
            if vol is not None:
                if driver != vol.driver:
                    raise Conflict(
                        f"create {name}: volume name {name} already exists with driver"
                        f' "{vol.driver}", not "{driver}"'
                    )
                self.store.ensure_dir(vol)
                return vol, False
            if anonymous:
                labels = {**(labels or {}), ANONYMOUS_LABEL: ""}
            vol = self.store.add(name, driver, labels, options, anonymous)
        self._publish("create", name)
        return vol, True

    def inspect(self, name: str) -> dict[str, Any]:
        return self.store.find(name).to_docker()

    def list_volumes(self, filters: Filters) -> dict[str, Any]:
        """GET /volumes: {"Volumes": [...], "Warnings": []}."""
        filters.validate(LIST_FILTERS)
        dangling = filters.bool_value("dangling")
        used = self.usage() if dangling is not None else {}
        out = []
        for vol in self.store.all():
            if dangling is not None and (vol.name not in used) != dangling:
                continue
            if not filters.exact("driver", vol.driver):
                continue
            if not filters.labels("label", vol.labels):
                continue
            if not _name_matches(filters.get("name"), vol.name):
                continue
            out.append(vol.to_docker())
        return {"Volumes": out, "Warnings": []}

    def remove(self, name: str, force: bool = False) -> None:
        """DELETE /volumes/{name}: refused while a container uses it (even with force)."""
        with self._containers_locked(), self.lock:
            if self.store.get(name) is None:
                if force:
                    return
                raise NotFound(f"get {name}: no such volume")
            users = self.usage().get(name)
            if users:
                raise Conflict(f"remove {name}: volume is in use - [{', '.join(users)}]")
            self.store.delete(name)
        self._publish("destroy", name)

    def prune(self, filters: Filters, all_volumes: bool = False) -> dict[str, Any]:
        """POST /volumes/prune: unused anonymous volumes (every unused one with ``all``)."""
        filters.validate(PRUNE_FILTERS)
        every = all_volumes or bool(filters.bool_value("all"))
        deleted: list[str] = []
        reclaimed = 0
        with self._containers_locked(), self.lock:
            used = self.usage()
            for vol in self.store.all():
                if vol.name in used:
                    continue
                if not every and ANONYMOUS_LABEL not in vol.labels:
                    continue
                if not filters.labels("label", vol.labels):
                    continue
                if filters.get("label!") and _labels_any(filters.get("label!"), vol.labels):
                    continue
                reclaimed += self.store.delete(vol.name, measure=True)
                deleted.append(vol.name)
        for name in deleted:
            self._publish("destroy", name)
        return {"VolumesDeleted": deleted, "SpaceReclaimed": reclaimed}

    def disk_usage(self) -> list[dict[str, Any]]:
        """Volumes with Docker's UsageData (``system df``)."""
        from berth.engine.volumes.store import dir_size

        used = self.usage()
        out = []
        for vol in self.store.all():
            doc = vol.to_docker()
            doc["UsageData"] = {
                "Size": dir_size(vol.path),
                "RefCount": len(used.get(vol.name, [])),
            }
            out.append(doc)
        return out

    # -- containers ----------------------------------------------------------------------
    def mount_points(self, row: Any) -> list[MountPoint]:
        """The mount points recorded with a container."""
        return mountspec.load((row.extra or {}).get("mount_points"))

    def _volumes_from(self, ref: str) -> list[MountPoint]:
        if self.containers is None:
            raise NotFound(f"No such container: {ref}")
        return self.mount_points(self.containers.find(ref))

    def prepare(self, row: Any, image: Any) -> list[dict[str, Any]]:
        """At create: plan the mounts, create their volumes, copy image content into new ones.

        Records the plan in ``row.extra["mount_points"]`` and returns Docker's
        ``Mounts`` list. Volumes made here are removed again if anything fails.
        """
        points = mountspec.plan(row.config, row.host_config, self._volumes_from)
        made: list[str] = []
        try:
            out: list[MountPoint] = []
            fill: list[tuple[MountPoint, Volume]] = []
            for mp in points:
                if mp.type == "bind" and not mp.create_source and not os.path.exists(mp.source):
                    raise InvalidArgument(
                        'invalid mount config for type "bind": bind source path does not'
                        f" exist: {mp.source}"
                    )
                if mp.type != "volume":
                    out.append(mp)
                    continue
                vol, new = self._ensure(
                    mp.name,
                    mp.driver,
                    mp.volume_labels,
                    mp.volume_options,
                    anonymous=not mp.named,
                )
                if new:
                    made.append(vol.name)
                mp = mp.replace(source=vol.path, driver=vol.driver)
                out.append(mp)
                if mp.copy_data and not vol.options and _empty(vol.path):
                    fill.append((mp, vol))
            if fill and image is not None:
                self._copy_image_content(image, fill)
        except BaseException:
            for name in made:
                try:
                    self.store.delete(name)
                except NotFound:
                    pass
            raise
        row.extra = {**(row.extra or {}), "mount_points": [m.to_json() for m in out]}
        return [mountspec.docker_mount(m) for m in out]

    def _copy_image_content(self, image: Any, fill: list[tuple[MountPoint, Volume]]) -> None:
        """Copy what the image has at each destination into its (empty) volume."""
        from berth.engine.containers import fstree
        from berth.engine.containers.fsview import MountNamespace, apply_view, plan_image_view

        lowers = self.containers.images.store.snapshots.lowerdirs(image.chain_ids)
        if not lowers:
            return
        scratch = self.scratch_dir()
        plan = plan_image_view(scratch, lowers)
        k = self.sys

        def work() -> None:
            root = apply_view(k, plan)
            rootfd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                for mp, vol in fill:
                    try:
                        src_path = fstree.open_path(k, rootfd, mp.destination)
                    except Exception:
                        continue  # nothing there in the image
                    try:
                        import stat

                        if not stat.S_ISDIR(os.fstat(src_path).st_mode):
                            continue
                        src = os.open(".", os.O_RDONLY | os.O_DIRECTORY, dir_fd=src_path)
                    finally:
                        os.close(src_path)
                    try:
                        dst = os.open(vol.path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
                        try:
                            fstree.copy_tree(src, dst)
                        finally:
                            os.close(dst)
                    finally:
                        os.close(src)
            finally:
                os.close(rootfd)

        with MountNamespace(k, "volume-copy") as ns:
            ns.call(work)

    def scratch_dir(self) -> str:
        """An empty directory that a view's tmpfs covers (inside private namespaces only)."""
        path = os.path.join(self.exec_root, "fsview")
        os.makedirs(path, mode=0o700, exist_ok=True)
        return path

    def oci_mounts(self, row: Any) -> list[dict[str, Any]]:
        """At start: the OCI mounts (volumes' directories ensured, ``-v`` host dirs made)."""
        points = self.mount_points(row)
        options: dict[str, dict[str, str]] = {}
        for mp in points:
            if mp.type == "volume":
                vol = self.store.get(mp.name)
                if vol is None:
                    raise NotFound(
                        f"volume {mp.name} of container {row.id[:12]} is gone; recreate the"
                        " container"
                    )
                self.store.ensure_dir(vol)
                options[vol.name] = vol.options
            elif mp.type == "bind" and not os.path.exists(mp.source):
                if not mp.create_source:
                    raise InvalidArgument(
                        'invalid mount config for type "bind": bind source path does not'
                        f" exist: {mp.source}"
                    )
                os.makedirs(mp.source, mode=0o755, exist_ok=True)
        tmpfs = list((row.host_config.get("Tmpfs") or {}).keys())
        mounts = mountspec.oci_mounts(points, tmpfs, lambda name: options.get(name, {}))
        for mp in points:
            if mp.type == "volume":
                self._publish(
                    "mount",
                    mp.name,
                    {
                        "container": row.id,
                        "destination": mp.destination,
                        "propagation": mp.propagation,
                        "read/write": "true" if mp.rw else "false",
                    },
                )
        return mounts

    def release(self, row: Any, remove_anonymous: bool = False) -> None:
        """At rm: with ``remove_anonymous`` (``rm -v``, ``--rm``), remove the container's
        anonymous volumes that no other container uses."""
        if not remove_anonymous:
            return
        points = [m for m in self.mount_points(row) if mountspec.is_anonymous(m)]
        if not points:
            return
        used = self.usage(exclude=row.id)
        for mp in points:
            if mp.name in used:
                continue
            with self.lock:
                try:
                    self.store.delete(mp.name)
                except NotFound:
                    continue
            self._publish("destroy", mp.name)

    def view_binds(self, row: Any) -> Iterator[tuple[MountPoint, str]]:
        """(mount point, host source) of the binds and volumes a cp view shows."""
        for mp in self.mount_points(row):
            if mp.type == "bind":
                yield mp, mp.source
            elif mp.type == "volume":
                vol = self.store.get(mp.name)
                if vol is None:
                    continue
                opts = vol.options
                if opts.get("type") or opts.get("device"):
                    o = (opts.get("o") or "").split(",")
                    if (opts.get("type") in (None, "", "none") or "bind" in o) and opts.get(
                        "device"
                    ):
                        yield mp, str(opts["device"])
                    continue  # a filesystem mounted only inside the container
                yield mp, vol.path


def _empty(path: str) -> bool:
    try:
        with os.scandir(path) as it:
            return next(it, None) is None
    except FileNotFoundError:
        return True


def _name_matches(patterns: list[str], name: str) -> bool:
    if not patterns:
        return True
    import re

    for p in patterns:
        if p == name or p in name:
            return True
        try:
            if re.search(p, name):
                return True
        except re.error:
            continue
    return False


def _labels_any(items: list[str], labels: dict[str, str]) -> bool:
    """``label!`` filters: any ``k`` / ``k=v`` that holds excludes the volume."""
    for item in items:
        key, eq, value = item.partition("=")
        if key in labels and (not eq or labels[key] == value):
            return True
    return False
