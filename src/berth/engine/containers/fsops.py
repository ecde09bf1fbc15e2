"""A container's files: cp (archive get/put/stat), diff, commit, export.

=====================================================  ==============================
endpoint                                               method
=====================================================  ==============================
HEAD /containers/{id}/archive?path=                    :meth:`ContainerFS.stat`
GET  /containers/{id}/archive?path=                    :meth:`ContainerFS.get_archive`
PUT  /containers/{id}/archive?path=&noOverwrite...     :meth:`ContainerFS.put_archive`
GET  /containers/{id}/changes                          :meth:`ContainerFS.changes`
GET  /containers/{id}/export                           :meth:`ContainerFS.export`
POST /commit?container=&repo=&tag=...                  :meth:`ContainerFS.commit`
=====================================================  ==============================

cp works on running and stopped containers alike, on the view Docker's
daemon has (root filesystem + volumes + binds + network files), assembled
in a private mount namespace (:mod:`berth.engine.containers.fsview`); every
path is resolved inside the container's root (:mod:`fstree`) and archives
are read and written by descriptor (:mod:`archive`). An upload into a
stopped container writes to its own upper directory, with the container
service's lock held so that it cannot be started meanwhile. diff reads the
upper directory against the image's layers; commit makes it a layer
(pausing a running container first, as Docker does); export archives the
root filesystem without volumes.
"""

from __future__ import annotations

import os

from berth.engine.containers import fstree
from berth.engine.containers.fsview import Bind, MountNamespace, apply_view, plan_view
from berth.errors import InvalidArgument, KernelError, NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import IO, Any

    from berth.engine.containers.fsview import ViewPlan
    from berth.engine.containers.service import ContainerService
    from berth.engine.containers.store import ContainerRow
    from berth.kernel.syscalls import Syscalls

#: What the runtime creates in a container's upper directory as mount points (Docker keeps
#: them in an "init" layer, so that diff does not show them).
INIT_PATHS = frozenset(
    {
        "/proc",
        "/sys",
        "/dev",
        "/dev/pts",
        "/dev/shm",
        "/dev/mqueue",
        "/dev/console",
        "/.dockerenv",
        "/etc/resolv.conf",
        "/etc/hosts",
        "/etc/hostname",
        "/etc/mtab",
        "/sbin/docker-init",
    }
)
ETC_FILES = (
    ("hosts", "/etc/hosts"),
    ("resolv.conf", "/etc/resolv.conf"),
    ("hostname", "/etc/hostname"),
)
_CHUNK = 1 << 20


def filter_changes(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop the runtime's mount points and the directories changed only to hold them."""
    init = [e for e in entries if e["Path"] in INIT_PATHS]
    if not init:
        return entries
    rest = [e for e in entries if e["Path"] not in INIT_PATHS]
    ancestors: set[str] = set()
    for e in init:
        path = str(e["Path"])
        while True:
            path = path.rsplit("/", 1)[0]
            if not path:
                break
            ancestors.add(path)
    out = []
    for e in rest:
        path = str(e["Path"])
        if path in ancestors and e["Kind"] != 2:
            prefix = path + "/"
            if not any(str(o["Path"]).startswith(prefix) for o in rest):
                continue
        out.append(e)
    return out


class _Pipe:
    """A file-like sink whose writes become chunks for a consumer in another thread."""

    def __init__(self) -> None:
        import queue

        self.q: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=16)
        self.cancelled = False
        self.buf = bytearray()

    def write(self, data: bytes) -> int:
        if self.cancelled:
            raise BrokenPipeError("the client went away")
        self.buf += data
        if len(self.buf) >= _CHUNK:
            self.q.put(bytes(self.buf))
            self.buf.clear()
        return len(data)

    def finish(self, error: BaseException | None = None) -> None:
        if self.buf and error is None:
            self.q.put(bytes(self.buf))
        self.buf.clear()
        self.q.put(error)


class ContainerFS:
    def __init__(self, containers: ContainerService, sys: Syscalls | None = None) -> None:
        self.containers = containers
        self._sys = sys

    @property
    def sys(self) -> Syscalls:
        if self._sys is None:
            from berth.kernel.syscalls import SYSCALLS

            self._sys = SYSCALLS
        return self._sys

    @property
    def volumes(self) -> Any:
        return self.containers.volumes

    # -- views ---------------------------------------------------------------------------
    def _scratch(self) -> str:
        path = os.path.join(self.containers.exec_root, "fsview")
        os.makedirs(path, mode=0o700, exist_ok=True)
        return path

    def _lowers(self, row: ContainerRow) -> list[str]:
        store = self.containers.images.store
        image = store.get(row.image_id)
        lowers: list[str] = store.snapshots.lowerdirs(image.chain_ids)
        return lowers

    def _binds(self, row: ContainerRow) -> list[Bind]:
        binds: list[Bind] = []
        dests = set()
        if self.volumes is not None:
            for mp, source in self.volumes.view_binds(row):
                binds.append(Bind(mp.destination, source, mp.rw))
                dests.add(mp.destination)
        cdir = self.containers.dir_of(row.id)
        for name, dest in ETC_FILES:
            path = os.path.join(cdir, name)
            if dest not in dests and os.path.isfile(path):
                binds.append(Bind(dest, path, True))
        return binds

    def _plan(self, row: ContainerRow, *, writable: bool, binds: bool = True) -> ViewPlan:
        cdir = self.containers.dir_of(row.id)
        for sub in ("upper", "work", "empty"):
            os.makedirs(os.path.join(cdir, sub), exist_ok=True)
        return plan_view(
            self._scratch(),
            cdir,
            self._lowers(row),
            running=bool(row.state.get("Running")),
            writable=writable,
            binds=self._binds(row) if binds else (),
        )

    def _volume_of(self, row: ContainerRow, path: str) -> Any:
        """The mount point ``path`` (a container path) lies in, if any (the deepest)."""
        best = None
        if self.volumes is None:
            return None
        for mp in self.volumes.mount_points(row):
            d = mp.destination.rstrip("/") or "/"
            if (path == d or path.startswith(d + "/")) and (
                best is None or len(d) > len(best.destination)
            ):
                best = mp
        return best

    # -- cp ------------------------------------------------------------------------------
    def stat(self, ref: str, path: str) -> dict[str, Any]:
        """HEAD archive: Docker's ContainerPathStat of ``path``."""
        row = self.containers.find(ref)
        k = self.sys
        plan = self._plan(row, writable=False)

        def work() -> dict[str, Any]:
            root = apply_view(k, plan)
            rootfd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                with fstree.resolve(k, rootfd, path, ref) as target:
                    return fstree.path_stat(k, rootfd, target)
            finally:
                os.close(rootfd)

        with MountNamespace(k, "cp-stat") as ns:
            return ns.call(work)

    def get_archive(self, ref: str, path: str) -> tuple[dict[str, Any], Iterator[bytes]]:
        """GET archive: (the path's stat, the tar stream of it).

        Errors about the path are raised here, before any byte of the stream.
        """
        from berth.engine.containers.archive import write_tree

        row = self.containers.find(ref)
        k = self.sys
        plan = self._plan(row, writable=False)
        ns = MountNamespace(k, "cp-get")
        state: dict[str, Any] = {}

        def resolve() -> dict[str, Any]:
            root = apply_view(k, plan)
            rootfd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                target = fstree.resolve(k, rootfd, path, ref)
                doc = fstree.path_stat(k, rootfd, target)
            except BaseException:
                os.close(rootfd)
                raise
            state["rootfd"], state["target"] = rootfd, target
            return doc

        def write(pipe: _Pipe) -> None:
            target = state["target"]
            name = fstree.base_name(target.abs)
            try:
                write_tree(pipe, target.parent, target.name, name)  # type: ignore[arg-type]
                pipe.finish()
            except BaseException as e:
                pipe.finish(e)
            finally:
                target.close()
                os.close(state["rootfd"])

        try:
            doc = ns.call(resolve)
        except BaseException:
            ns.close()
            raise
        pipe = _Pipe()
        return doc, _drain(pipe, ns, ns.submit(write, pipe))

    def put_archive(
        self,
        ref: str,
        path: str,
        body: IO[bytes],
        *,
        no_overwrite_dir_non_dir: bool = False,
        copy_uid_gid: bool = False,
    ) -> int:
        """PUT archive: extract the tar ``body`` into the directory ``path``; entries made."""
        row = self.containers.find(ref)
        running = bool(row.state.get("Running"))
        if running:
            return self._put(row, ref, path, body, no_overwrite_dir_non_dir, copy_uid_gid)
        with self.containers.lock:  # writes go to its upper dir: no start meanwhile
            return self._put(row, ref, path, body, no_overwrite_dir_non_dir, copy_uid_gid)

    def _put(
        self,
        row: ContainerRow,
        ref: str,
        path: str,
        body: IO[bytes],
        strict: bool,
        copy_uid_gid: bool,
    ) -> int:
        from berth.engine.containers.archive import Extractor

        k = self.sys
        plan = self._plan(row, writable=True)
        readonly_root = bool(row.host_config.get("ReadonlyRootfs"))
        user = str(row.config.get("User") or "") if copy_uid_gid else ""

        def work() -> int:
            root = apply_view(k, plan)
            rootfd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                try:
                    fd = fstree.open_path(k, rootfd, fstree.abs_path(path))
                except KernelError as e:
                    if e.errno in (2, 20, 40):  # ENOENT, ENOTDIR, ELOOP
                        raise fstree.not_found(path, ref) from None
                    raise
                try:
                    import stat

                    if not stat.S_ISDIR(os.fstat(fd).st_mode):
                        raise InvalidArgument("extraction point is not a directory")
                    dest = fstree.fd_container_path(fd, root)
                finally:
                    os.close(fd)
                mp = self._volume_of(row, dest)
                if mp is not None and not mp.rw:
                    raise InvalidArgument("mounted volume is marked read-only")
                if mp is None and readonly_root:
                    raise InvalidArgument("container rootfs is marked read-only")
                chown = _user_ids(k, rootfd, user) if user else None
                ex = Extractor(k, rootfd, dest, no_overwrite_dir_non_dir=strict, chown=chown)
                try:
                    return ex.run(body)
                except OSError as e:
                    raise InvalidArgument(
                        f"extracting the archive into {dest}: {os.strerror(e.errno or 0)}"
                    ) from None
            finally:
                os.close(rootfd)

        with MountNamespace(k, "cp-put") as ns:
            return ns.call(work)

    # -- diff / commit / export ----------------------------------------------------------
    def changes(self, ref: str) -> list[dict[str, Any]]:
        """GET changes: [{"Path", "Kind"}] (0 modified, 1 added, 2 deleted)."""
        from berth.images.container_fs import changes

        row = self.containers.find(ref)
        upper = os.path.join(self.containers.dir_of(row.id), "upper")
        if not os.path.isdir(upper):
            return []
        return filter_changes(changes(upper, self._lowers(row)))

    def commit(
        self,
        ref: str,
        *,
        repo: str | None = None,
        tag: str | None = None,
        author: str = "",
        comment: str = "",
        changes: list[str] | None = None,
        pause: bool = True,
        config: dict[str, Any] | None = None,
    ) -> str:
        """POST /commit: a new image from the container's changes; its ID."""
        from berth.images import container_fs
        from berth.oci import image_spec as spec

        row = self.containers.find(ref)
        if tag and not repo:
            raise InvalidArgument("tag is specified without a repository")
        if repo:
            from berth.oci import reference

            reference.parse(repo + (f":{tag}" if tag else ""))
        store = self.containers.images.store
        image = store.get(row.image_id)
        merged = commit_config(config or {}, row.config)
        cfg = spec.ContainerConfig.from_json(merged, "config")
        upper = os.path.join(self.containers.dir_of(row.id), "upper")
        os.makedirs(upper, exist_ok=True)
        paused = False
        if pause and row.state.get("Running") and not row.state.get("Paused"):
            self.containers.pause(row.id)
            paused = True
        try:
            image_id = container_fs.commit(
                store,
                upper,
                image,
                repo=repo or None,
                tag=(tag or "latest") if repo else None,
                author=author,
                comment=comment,
                changes_=list(changes or []),
                config=cfg,
                # Docker's history line for a commit: the container's Cmd (not its entrypoint)
                created_by=" ".join(str(a) for a in row.config.get("Cmd") or []),
            )
        finally:
            if paused:
                try:
                    self.containers.unpause(row.id)
                except Exception:
                    pass
        events = self.containers.events
        if events is not None:
            attrs = {"name": row.name, "image": row.image, "comment": comment, "imageID": image_id}
            if repo:
                attrs["imageRef"] = repo + ":" + (tag or "latest")
            events.publish("container", "commit", row.id, attrs)
        return image_id

    def export(self, ref: str) -> Iterator[bytes]:
        """GET export: the container's root filesystem (no volumes) as a tar stream."""
        from berth.engine.containers.archive import write_root

        row = self.containers.find(ref)
        k = self.sys
        plan = self._plan(row, writable=False, binds=False)
        ns = MountNamespace(k, "export")

        def write(pipe: _Pipe) -> None:
            try:
                root = apply_view(k, plan)
                rootfd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
                try:
                    write_root(pipe, rootfd)  # type: ignore[arg-type]
                finally:
                    os.close(rootfd)
                pipe.finish()
            except BaseException as e:
                pipe.finish(e)

        pipe = _Pipe()
        return _drain(pipe, ns, ns.submit(write, pipe))


class _Drain:
    """The chunks a worker writes to a :class:`_Pipe`, as an iterator with ``close()``.

    Closing (the HTTP server always does, even before the first chunk) cancels
    the writer, waits for it and ends the mount namespace it ran in.
    """

    def __init__(self, pipe: _Pipe, ns: MountNamespace, task: Any) -> None:
        self.pipe = pipe
        self.ns = ns
        self.task = task
        self.ended = False

    def __iter__(self) -> _Drain:
        return self

    def __next__(self) -> bytes:
        if self.ended:
            raise StopIteration
        item = self.pipe.q.get()
        if item is None:
            self.close()
            raise StopIteration
        if isinstance(item, BaseException):
            self.close()
            raise item
        return item

    def close(self) -> None:
        import queue

        self.ended = True
        self.pipe.cancelled = True
        while not self.task.done.is_set():  # let a blocked writer see the cancellation
            try:
                self.pipe.q.get(timeout=0.05)
            except queue.Empty:
                pass
        self.ns.close()


def _drain(pipe: _Pipe, ns: MountNamespace, task: Any) -> Iterator[bytes]:
    return _Drain(pipe, ns, task)


_COMMIT_FIELDS = (
    "User",
    "ExposedPorts",
    "Env",
    "Labels",
    "Cmd",
    "ArgsEscaped",
    "Entrypoint",
    "Healthcheck",
    "WorkingDir",
    "Volumes",
    "StopSignal",
)


def commit_config(user: dict[str, Any], container: dict[str, Any]) -> dict[str, Any]:
    """Docker's commit ``merge``: the request's config, completed from the container's."""
    out: dict[str, Any] = {k: v for k, v in user.items() if v not in (None, "", [], {})}
    for key in ("User", "WorkingDir", "StopSignal"):
        if not out.get(key) and container.get(key):
            out[key] = container[key]
    ports = dict(container.get("ExposedPorts") or {})
    ports.update(out.get("ExposedPorts") or {})
    if ports:
        out["ExposedPorts"] = ports
    if not out.get("Env"):
        if container.get("Env"):
            out["Env"] = list(container["Env"])
    else:
        keys = {e.split("=", 1)[0] for e in out["Env"]}
        out["Env"] = list(out["Env"]) + [
            e for e in container.get("Env") or [] if e.split("=", 1)[0] not in keys
        ]
    labels = dict(container.get("Labels") or {})
    labels.update(out.get("Labels") or {})
    if labels:
        out["Labels"] = labels
    if not out.get("Entrypoint"):
        if not out.get("Cmd") and container.get("Cmd"):
            out["Cmd"] = list(container["Cmd"])
            if container.get("ArgsEscaped") is not None:
                out["ArgsEscaped"] = container["ArgsEscaped"]
        if "Entrypoint" not in user and container.get("Entrypoint"):
            out["Entrypoint"] = list(container["Entrypoint"])
    if container.get("Healthcheck") and not out.get("Healthcheck"):
        out["Healthcheck"] = container["Healthcheck"]
    volumes = dict(container.get("Volumes") or {})
    volumes.update(out.get("Volumes") or {})
    if volumes:
        out["Volumes"] = volumes
    return {k: v for k, v in out.items() if k in _COMMIT_FIELDS or k in user}


def _user_ids(k: Syscalls, rootfd: int, user: str) -> tuple[int, int]:
    """``cp -a``: the container's user as (uid, gid), from its own passwd and group files."""
    return user_ids(
        user, _read_in_root(k, rootfd, "/etc/passwd"), _read_in_root(k, rootfd, "/etc/group")
    )


def user_ids(user: str, passwd: str, groups: str) -> tuple[int, int]:
    """``user[:group]`` (names or numbers) -> (uid, gid), from passwd and group file texts."""
    name, _, group = user.partition(":")
    uid = gid = None
    for line in passwd.splitlines():
        f = line.split(":")
        if len(f) >= 4 and (f[0] == name or f[2] == name) and f[2].isdigit() and f[3].isdigit():
            uid, gid = int(f[2]), int(f[3])
            break
    if uid is None:
        if not name.isdigit():
            raise NotFound(f"unable to find user {name}: no matching entries in passwd file")
        uid, gid = int(name), 0
    if group:
        for line in groups.splitlines():
            f = line.split(":")
            if len(f) >= 3 and (f[0] == group or f[2] == group) and f[2].isdigit():
                gid = int(f[2])
                break
        else:
            if not group.isdigit():
                raise NotFound(f"unable to find group {group}: no matching entries in group file")
            gid = int(group)
    return uid, gid or 0


def _read_in_root(k: Syscalls, rootfd: int, path: str) -> str:
    try:
        fd = fstree.open_path(k, rootfd, path)
    except KernelError:
        return ""
    try:
        rfd = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return ""
    finally:
        os.close(fd)
    try:
        import stat

        if not stat.S_ISREG(os.fstat(rfd).st_mode):
            return ""
        chunks = []
        while chunk := os.read(rfd, 65536):
            chunks.append(chunk)
            if sum(map(len, chunks)) > 16 << 20:
                break
        return b"".join(chunks).decode("utf-8", "replace")
    finally:
        os.close(rfd)
