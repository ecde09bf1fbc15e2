"""The container service: Docker's container endpoints, on the monitor and the runtime.

=====================================  =============================================
endpoint                               method
=====================================  =============================================
POST /containers/create                :meth:`ContainerService.create`
POST /containers/{id}/start            :meth:`start`
POST /containers/{id}/stop, /restart   :meth:`stop`, :meth:`restart`
POST /containers/{id}/kill             :meth:`kill`
POST /containers/{id}/wait             :meth:`wait`
DELETE /containers/{id}                :meth:`remove`
GET  /containers/{id}/json             :meth:`inspect` (``views``)
GET  /containers/json                  :meth:`list` (``views``)
GET  /containers/{id}/logs             :meth:`logs`
POST /containers/{id}/attach           :meth:`attach`
POST /containers/{id}/resize           :meth:`resize`
=====================================  =============================================

Life of a container: ``create`` records it (state ``created``); ``start``
sets up its network, mounts its rootfs, writes the OCI spec and asks the
monitor to start it (``running``); the monitor reports the exit (``exited``,
exit code, OOM), whereupon the network is released and the restart policy
or ``AutoRemove`` applied; ``remove`` deletes its files and record.

A start overlaps the two processes' work: on a network of berth's own, the
spec is written first (the namespace and /etc files it names are known
beforehand: ``networking.predict``) and the monitor reads it while the
network is set up here; then it creates the container (``ready``) while the
network's kernel side is finished, and runs its program (``go``). See the
``start`` request in berth.engine.monitor.protocol.

Thread safety: the API server calls in from many threads. ``self.lock``
guards the table of containers; state changes of one container happen with
it held, and waiters (``wait``) sleep on ``self.changed``.

When berthd or the monitor goes away (:meth:`recover`, run when a daemon
starts, and the event listener, when the monitor's stream ends):

- berthd stopped or killed, monitor alive: containers keep running; exits
  meanwhile are in ``exit.json`` (not those of ``--rm`` containers: one found
  exited without it is removed all the same); the next daemon subscribes to
  the monitor's events, then lists what it runs, and reconciles: exits are applied (with
  ``die`` events, the restart policy and ``AutoRemove``), a container the
  monitor runs but the database does not record as running (the daemon died
  during its start) is adopted as running;
- monitor killed: its containers are orphans (nothing reaps them, holds their
  stdio or records their exit), so berth kills what is left of each through
  the runtime's state (the processes of its cgroup), removes its cgroup and
  runtime state, unmounts its rootfs, releases its network, and records exit
  code 255 with ``State.Error`` saying why -- as Docker does with a container
  whose shim is gone. The restart policy then applies; the next start spawns
  a new monitor.
"""

from __future__ import annotations

import os
import threading
import time

from berth import jsonio
from berth.engine.containers import names as namegen
from berth.engine.containers.store import ContainerRow, ContainerStore
from berth.errors import BerthError, Conflict, InvalidArgument, NotFound, NotModified
from berth.runtime.trace import trace

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any

    from berth.engine.monitor.protocol import ShimClient

ZERO_TIME = "0001-01-01T00:00:00Z"


def now() -> str:
    from berth.engine.monitor.logfile import now_rfc3339

    return now_rfc3339()


def new_state() -> dict[str, Any]:
    return {
        "Status": "created",
        "Running": False,
        "Paused": False,
        "Restarting": False,
        "OOMKilled": False,
        "Dead": False,
        "Pid": 0,
        "ExitCode": 0,
        "Error": "",
        "StartedAt": ZERO_TIME,
        "FinishedAt": ZERO_TIME,
    }


class ContainerService:
    def __init__(
        self,
        root: str,
        exec_root: str,
        db: Any,
        images: Any,
        *,
        network: Any = None,
        events: Any = None,
        volumes: Any = None,
        cgroup_parent: str = "",
    ) -> None:
        from berth.engine.monitor.protocol import ShimClient

        self.root = root
        self.exec_root = exec_root
        self.store = ContainerStore(db)
        self.images = images
        self.network = network
        self.events = events
        self.volumes = volumes
        self.cgroup_parent = cgroup_parent
        self.shim: ShimClient = ShimClient(root, exec_root)
        self.runtime_root = os.path.join(exec_root, "runtime")
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.rows: dict[str, ContainerRow] = {r.id: r for r in self.store.all()}
        self._listener: threading.Thread | None = None
        self._closing = False
        from berth.janitor import Janitor

        # removes the directories of removed containers (see remove)
        self.janitor = Janitor("berth-container-janitor")
        self.exit_hooks: list[Callable[[ContainerRow, dict[str, Any]], None]] = []
        # called with the lock held when a start has made a row running, before it is saved
        self.start_hooks: list[Callable[[ContainerRow], None]] = []
        # containers whose next exit the user asked for (stop, kill): no restart after it
        self.exit_on_next: set[str] = set()
        # (image ID, User, GroupAdd) -> the OCI user its files gave (see _known_user)
        self._image_users: dict[tuple[str, str, tuple[str, ...]], dict[str, Any]] = {}
        self.restarts: Any = None  # the RestartManager (berth.engine.containers.restart)
        self._spare: str | None = None  # a container directory made ahead (see _make_dir)

    # -- startup / shutdown --------------------------------------------------------------
    def recover(self) -> None:
        """After a daemon (re)start: learn what happened while no daemon was running.

        With the monitor running: subscribe to its events first, then ask it
        what runs (so an exit in between is not lost); a container recorded as
        running that the monitor does not run exited meanwhile, and its
        ``exit.json`` says how. Without the monitor (it was killed), the
        containers recorded as running were orphaned: see :meth:`_reap_orphan`.
        Containers that were waiting to restart when the daemon stopped become
        exited again; the restart manager's ``boot()`` starts them. The exits
        found get the usual after-exit handling (``die`` events, hooks,
        ``AutoRemove``).
        """
        with self.lock:
            for row in self.rows.values():
                if row.state.get("Restarting"):
                    self._stopped_restarting(row)
            if self.shim.running():
                self._listen()
                running = {c["id"]: c for c in self.shim.request("list")["containers"]}
                exited = self._reconcile(running)
            else:
                exited = self.recover_without_monitor()
            self._unmount_stale_rootfs()
            self._sweep_removed()
            self.janitor.later(self._make_spare)
        for row, event in exited:
            self._after_exit(row, event)

    def trash_of(self, cid: str) -> str:
        """Where a removed container's directory waits for the janitor."""
        return os.path.join(self.root, "trash", cid)

    def _sweep_removed(self) -> None:
        """Directories of removed containers that a stopped daemon left: the trash
        not emptied yet, and a container directory whose row is gone (lock held)."""
        from berth.snapshots.store import remove_tree

        trash = os.path.join(self.root, "trash")
        for name in _listdir(trash):
            self.janitor.later(remove_tree, os.path.join(trash, name))
        for name in _listdir(self._spares()):  # (made ahead by the daemon before)
            self.janitor.later(remove_tree, os.path.join(self._spares(), name))
        for name in _listdir(os.path.join(self.root, "containers")):
            if name not in self.rows and len(name) == 64 and name.isalnum():
                rootfs = os.path.join(self.dir_of(name), "rootfs")
                if not os.path.ismount(rootfs):
                    self.janitor.later(remove_tree, self.dir_of(name))

    # -- container directories ----------------------------------------------------------
    #: the directories a start makes in a container's own (its rootfs mount point, the
    #: overlay's upper and work dirs, its bundle)
    START_DIRS = ("rootfs", "upper", "work", "bundle")
    #: and the files its first start writes, made empty ahead (its config; the files
    #: bound on /etc/hosts, resolv.conf and hostname: see Sandbox.write_files)
    START_FILES = ("bundle/config.json", "hosts", "resolv.conf", "hostname")

    def _spares(self) -> str:
        return os.path.join(self.root, "spare")

    def _make_dir(self, cid: str) -> None:
        """Give the new container ``cid`` its directory (lock held): the spare one made
        ahead, renamed (~20 µs), else a new one. Five mkdirs on ext4 take ~0.8 ms
        here, on the way of ``docker run`` (the container's and the four a start
        makes in it). The janitor makes the next spare once a container is removed
        (with ``run --rm``: once its client has its answer), or a while after this
        (SPARE_DELAY): made during a start, a spare made that start slower."""
        spare, self._spare = self._spare, None
        # (the removal of a container makes the next one; this, in case none is removed)
        self.janitor.later(self._make_spare, delay=SPARE_DELAY)
        if spare is not None:
            try:
                os.rename(spare, self.dir_of(cid))
                return
            except OSError:
                from berth.snapshots.store import remove_tree

                remove_tree(spare)
        os.makedirs(self.dir_of(cid), mode=0o710)

    def _make_spare(self) -> None:
        """(The janitor) make a container directory ahead, with its START_DIRS and
        START_FILES."""
        from berth.snapshots.store import remove_tree

        with self.lock:
            if self._spare is not None or self._closing:
                return
        os.makedirs(os.path.join(self.root, "containers"), exist_ok=True)
        os.makedirs(self._spares(), mode=0o700, exist_ok=True)
        path = os.path.join(self._spares(), os.urandom(8).hex())
        try:
            os.mkdir(path, 0o710)
            for name in self.START_DIRS:
                os.mkdir(os.path.join(path, name))
            for name in self.START_FILES:  # (modes as their writers make them)
                mode = 0o666 if name.endswith(".json") else 0o644
                os.close(os.open(os.path.join(path, name), os.O_WRONLY | os.O_CREAT, mode))
        except BaseException:
            remove_tree(path)
            raise
        with self.lock:
            if self._spare is None and not self._closing:
                self._spare = path
                return
        remove_tree(path)

    def _unmount_stale_rootfs(self) -> None:
        """A daemon that died half-way through a start may have left a stopped
        container's rootfs mounted: unmount it (lock held)."""
        from berth.errors import BerthError
        from berth.kernel.consts import MNT_DETACH
        from berth.kernel.syscalls import SYSCALLS

        try:
            with open("/proc/self/mountinfo") as f:
                points = {line.split(" ", 5)[4] for line in f}
        except OSError:
            return
        for row in self.rows.values():
            if row.state.get("Running"):
                continue
            rootfs = os.path.join(self.dir_of(row.id), "rootfs")
            for _ in range(8 if rootfs in points else 0):  # stacked by repeated starts
                try:
                    SYSCALLS.umount(rootfs, MNT_DETACH)
                except BerthError:
                    break

    def close(self) -> None:
        self._closing = True
        self.janitor.close()

    def _publish(self, row: ContainerRow, action: str, extra: dict[str, str] | None = None) -> None:
        if self.events is None:
            return
        attrs = {"name": row.name, "image": row.image}
        attrs.update(row.config.get("Labels") or {})
        attrs.update(extra or {})
        self.events.publish("container", action, row.id, attrs)

    # -- lookup --------------------------------------------------------------------------
    def find(self, ref: str) -> ContainerRow:
        """By full ID, unique ID prefix, or name (with or without the leading "/")."""
        with self.lock:
            row = self.rows.get(ref)
            if row is not None:
                return row
            name = ref[1:] if ref.startswith("/") else ref
            for r in self.rows.values():
                if r.name == name:
                    return r
            if ref:
                hits = [r for r in self.rows.values() if r.id.startswith(ref)]
                if len(hits) == 1:
                    return hits[0]
                if len(hits) > 1:
                    raise NotFound(f"No such container: {ref} (the ID prefix is ambiguous)")
        raise NotFound(f"No such container: {ref}")

    def dir_of(self, cid: str) -> str:
        return os.path.join(self.root, "containers", cid)

    def sizes(self, row: ContainerRow) -> tuple[int, int]:
        """Docker's ``SizeRw`` (the container's writable layer) and ``SizeRootFs``
        (that and its image's layers)."""
        from berth.engine.volumes.store import dir_size

        rw = dir_size(os.path.join(self.dir_of(row.id), "upper"))
        try:
            image = self.images.store.get(row.image_id)
        except BerthError:  # the image was removed with -f under the container
            return rw, rw
        return rw, rw + int(image.size or 0)

    # -- create --------------------------------------------------------------------------
    def create(self, body: dict[str, Any], name: str | None = None) -> dict[str, Any]:
        from berth.engine.containers.config import merge_image_config, validate_create

        trace("engine: create")
        config, host_config = validate_create(body)
        from berth.engine.containers import networking

        networking.validate(config, host_config)
        image_ref = str(config.get("Image") or "")
        if not image_ref:
            raise InvalidArgument("Config.Image: no image given")
        try:
            image = self.images.store.resolve(image_ref)
        except NotFound:
            raise NotFound(f"No such image: {image_ref}") from None
        config = merge_image_config(config, image.container_config)
        from berth.engine.containers.specgen import command_of

        command_of(config)  # "No command specified" at create, as Docker
        from berth.engine.containers.specgen import rlimits

        warnings: list[str] = []
        rlimits(host_config, warnings)  # ulimits the host cannot give: clamped, with a warning
        cid = os.urandom(32).hex()
        with self.lock:
            taken = {r.name for r in self.rows.values()}
            if name:
                bare = namegen.check(name)
                if bare in taken:
                    other = next(r for r in self.rows.values() if r.name == bare)
                    raise Conflict(
                        f'Conflict. The container name "/{bare}" is already in use by container '
                        f'"{other.id}". You have to remove (or rename) that container to be able '
                        "to reuse that name."
                    )
            else:
                bare = namegen.generate(taken)
            row = ContainerRow(
                id=cid,
                name=bare,
                image_id=image.id,
                image=image_ref,
                created=now(),
                config=config,
                host_config=host_config,
                state=new_state(),
                network_settings=networking.created_settings(self, config, host_config),
                mounts=[],
                restart_count=0,
                extra={"version": 1},
            )
            self._make_dir(cid)
            try:
                if self.volumes is not None:
                    row.mounts = self.volumes.prepare(row, image)
                self.images.store.add_container_ref(cid, image.id)
                self.store.insert(row)
            except BaseException:
                from berth.snapshots.store import remove_tree

                remove_tree(self.dir_of(cid))
                raise
            self.rows[cid] = row
        self._publish(row, "create")
        return {"Id": cid, "Warnings": warnings}

    # -- start ---------------------------------------------------------------------------
    def start(
        self, ref: str, attach: tuple[bool, bool, bool] | None = None
    ) -> tuple[Any, bytes] | None:
        """Start the container. With ``attach`` (stdin, stdout, stderr): attached to it
        from before its program runs, the stream (a socket, the bytes read past its
        answer) is returned, as :meth:`attach_stream` gives one."""
        row = self.find(ref)
        with self.lock:
            if row.state.get("Running"):
                raise NotModified(f"container {row.id} is already running")
            if row.state.get("Status") == "removing":
                raise Conflict(f"container {row.id} is being removed")
            # a start by the user: the restart policy counts and waits afresh
            self.exit_on_next.discard(row.id)
            row.restart_count = 0
            row.extra = dict(row.extra or {}, manually_stopped=False)
            failed: BerthError | None = None
            stream = None
            try:
                stream = self._start(row, attach)
            except BerthError as e:
                # as Docker: the error and its exit code stay on the container,
                # and one that was to be removed when it exits is removed now
                row.state.update(Error=str(e), ExitCode=int(getattr(e, "exit_code", 125) or 125))
                self.store.save(row)
                self.changed.notify_all()
                failed = e
        if failed is not None:
            if row.host_config.get("AutoRemove"):
                try:
                    self.remove(row.id, force=True, volumes=True)
                except BerthError:
                    pass
            raise failed
        self._publish(row, "start")
        return stream

    def _start(
        self, row: ContainerRow, attach: tuple[bool, bool, bool] | None = None
    ) -> tuple[Any, bytes] | None:
        trace("engine: start")
        self.shim.ensure()
        self._listen()
        version = self.shim.version()  # (what the running monitor's protocol offers)
        streams: list[tuple[Any, bytes]] | None = None
        attach_fields: dict[str, Any] = {}
        if attach is not None:
            stdin, stdout, stderr = attach
            stdin = stdin and bool(row.config.get("OpenStdin"))
            if version >= 3:  # attached by the start's own connection
                streams = []
                attach_fields["attach"] = {"stdin": stdin, "stdout": stdout, "stderr": stderr}
                self._publish(row, "attach")  # as Docker: create, attach, start, die
            else:
                sock, rest, _ = self.attach_stream(row.id, stdin, stdout, stderr)
                streams = [(sock, rest)]
        try:
            return self._start_attached(row, version, streams, attach_fields)
        except BaseException:
            for sock, _ in streams or ():
                sock.close()
            raise

    def _start_attached(
        self,
        row: ContainerRow,
        version: int,
        streams: list[tuple[Any, bytes]] | None,
        attach_fields: dict[str, Any],
    ) -> tuple[Any, bytes] | None:
        from berth.cleanup import Cleanup
        from berth.engine.containers import networking
        from berth.engine.containers.specgen import SpecInput
        from berth.errors import ContainerStartError
        from berth.kernel import fsmount
        from berth.kernel.consts import MNT_DETACH
        from berth.kernel.syscalls import SYSCALLS

        cdir = self.dir_of(row.id)
        rootfs = os.path.join(cdir, "rootfs")
        with Cleanup() as undo:
            os.makedirs(rootfs, exist_ok=True)
            # (the writable layer of an --rm container is never synced: it goes with it)
            volatile = bool(row.host_config.get("AutoRemove"))
            ops = self.images.store.rootfs_mounts(row.image_id, cdir, rootfs, volatile=volatile)
            mounted: list[str] = []
            etc_files = self.network is not None  # (see networking.setup)
            fresh = not os.listdir(os.path.join(cdir, "upper"))  # the image's files only

            def mount_rootfs() -> None:
                for op in ops:
                    fsmount.apply(op, SYSCALLS)
                    mounted.append(op.target)
                if etc_files:
                    _etc_mountpoints(rootfs)

            # the rootfs is mounted while the network is set up: both mostly wait on
            # the kernel (~0.6 ms and ~2.5 ms of a start)
            mounting = _Background(mount_rootfs)

            def unmount_rootfs() -> None:  # (a failed start)
                mounting.wait()
                failed: BaseException | None = None
                for target in reversed(mounted):
                    try:
                        SYSCALLS.umount(target, MNT_DETACH)
                    except BaseException as e:
                        failed = failed or e
                if failed is not None:
                    raise failed

            undo.callback(unmount_rootfs)
            inp = SpecInput(row.id, row.config, row.host_config)
            inp.rootfs = rootfs
            inp.container_dir = cdir
            if self.cgroup_parent:
                inp.cgroup_parent = self.cgroup_parent
            network_ready: Callable[[], None] | None = None

            def ready_rootfs_and_network() -> None:
                nonlocal network_ready
                network_ready = self._network_setup(row, inp, undo)
                mounting.result()
                trace("engine: network ready, rootfs mounted")

            cfg = row.config
            fields: dict[str, Any] = {
                "id": row.id,
                "bundle": os.path.join(cdir, "bundle"),
                "runtime_root": self.runtime_root,
                "log_path": self.log_path(row),
                "tty": bool(cfg.get("Tty")),
                "open_stdin": bool(cfg.get("OpenStdin")),
                "stdin_once": bool(cfg.get("StdinOnce")),
                "auto_remove": bool(row.host_config.get("AutoRemove")),
                "unmount": [rootfs],
            }
            if version >= 2 and networking.predict(self, row, inp):
                # The spec does not wait for the network: the monitor reads it while
                # the network is readied here (~1 ms of a start). Nor for the rootfs,
                # where the image's files alone give the user's ids (see _known_user).
                expected = (inp.netns_path, dict(inp.etc_files))
                inp.user = self._known_user(row, fresh)
                if inp.user is None:
                    mounting.result()
                self._write_bundle(row, inp)
                self._remember_user(row, fresh, inp.user)

                def prepare() -> None:
                    ready_rootfs_and_network()
                    if (inp.netns_path, inp.etc_files) != expected:
                        raise ContainerStartError(
                            f"container {row.id}: its network namespace or /etc files are"
                            f" not where its config was made to find them ({expected})"
                        )

                answer = self.shim.start(
                    lambda: network_ready() if network_ready is not None else None,
                    prepare=prepare,
                    stream_to=streams if attach_fields else None,
                    **fields,
                    **attach_fields,
                )
            else:
                ready_rootfs_and_network()
                self._write_bundle(row, inp)
                # the monitor creates the container while its network is readied here
                answer = self.shim.start(
                    network_ready,
                    stream_to=streams if attach_fields else None,
                    **fields,
                    **attach_fields,
                )
            undo.pop_all()
        trace("engine: started by the monitor")
        try:
            os.unlink(os.path.join(cdir, "exit.json"))
        except FileNotFoundError:
            pass
        st = row.state
        st.update(
            Status="running",
            Running=True,
            Paused=False,
            Restarting=False,
            OOMKilled=False,
            Dead=False,
            Pid=int(answer["pid"]),
            ExitCode=0,
            Error="",
            StartedAt=str(answer["started_at"]),
        )
        for hook in self.start_hooks:
            hook(row)
        self.store.save(row)
        self.changed.notify_all()
        return streams[0] if streams else None

    @staticmethod
    def _user_key(row: ContainerRow) -> tuple[str, str, tuple[str, ...]]:
        groups = tuple(str(g) for g in row.host_config.get("GroupAdd") or [])
        return (row.image_id, str(row.config.get("User") or ""), groups)

    def _known_user(self, row: ContainerRow, fresh: bool) -> dict[str, Any] | None:
        """The OCI user (ids and groups) of the container's ``User`` and ``GroupAdd``,
        as its image's /etc/passwd and /etc/group gave it to a container before --
        when ``fresh``: its writable layer is empty, so that it sees those files as
        they are in the image."""
        if not fresh:
            return None
        known = self._image_users.get(self._user_key(row))
        return dict(known) if known is not None else None

    def _remember_user(self, row: ContainerRow, fresh: bool, user: dict[str, Any] | None) -> None:
        """Keep ``user`` for :meth:`_known_user` (``fresh``: resolved from the image's
        files alone)."""
        if not fresh or user is None:
            return
        key = self._user_key(row)
        if key not in self._image_users:
            if len(self._image_users) >= 256:
                self._image_users.pop(next(iter(self._image_users)))
            self._image_users[key] = dict(user)

    def _write_bundle(self, row: ContainerRow, inp: Any) -> None:
        """The container's OCI config, made from ``inp`` and the row's namespace modes
        and volumes, written to its bundle directory."""
        from berth.engine.containers.specgen import generate

        self._namespace_modes(row, inp)
        if self.volumes is not None:
            inp.volume_mounts = self.volumes.oci_mounts(row)
        spec = generate(inp, [])
        trace("engine: spec generated")
        bundle = os.path.join(self.dir_of(row.id), "bundle")
        os.makedirs(bundle, exist_ok=True)
        with open(os.path.join(bundle, "config.json"), "w") as f:
            f.write(jsonio.dumps(spec))

    def _network_setup(self, row: ContainerRow, inp: Any, undo: Any) -> Callable[[], None] | None:
        """Network namespace, /etc/hosts, resolv.conf and hostname files; returns what
        is left to do before the container's program runs (see networking.setup)."""
        from berth.engine.containers import networking

        return networking.setup(self, row, inp, undo)

    def _namespace_modes(self, row: ContainerRow, inp: Any) -> None:
        hc = row.host_config
        for key, attr, kind in (
            ("PidMode", "pid_path", "pid"),
            ("IpcMode", "ipc_path", "ipc"),
            ("UTSMode", "uts_path", "uts"),
        ):
            mode = str(hc.get(key) or "")
            if mode == "host":
                setattr(inp, attr, "host")
            elif mode.startswith("container:"):
                other = self.find(mode.split(":", 1)[1])
                if not other.state.get("Running") or not other.state.get("Pid"):
                    raise Conflict(
                        f"cannot join the {kind} namespace of {other.name}: it is not running"
                    )
                ns = {"pid": "pid", "ipc": "ipc", "uts": "uts"}[kind]
                setattr(inp, attr, f"/proc/{other.state['Pid']}/ns/{ns}")
        inp.cgroupns_private = str(hc.get("CgroupnsMode") or "") == "private"

    # -- exits ---------------------------------------------------------------------------
    def _listen(self) -> None:
        """Follow the monitor's exit events; subscribed when this returns."""
        with self.lock:
            if self._listener is not None and self._listener.is_alive():
                return
            sub = self.shim.stream("events")
            t = threading.Thread(
                target=self._listen_loop, args=(sub,), name="monitor-events", daemon=True
            )
            self._listener = t
            t.start()

    def _listen_loop(self, sub: tuple[Any, bytes]) -> None:
        from berth.engine.monitor.protocol import LineReader

        while not self._closing:
            sock, rest = sub
            try:
                reader = LineReader(sock)
                reader.buf = rest
                while True:
                    event = reader.line()
                    if event is None:
                        break
                    if event.get("event") == "exit":
                        self._on_exit(event)
            except Exception:
                pass
            finally:
                sock.close()
            if self._closing:
                return
            # the stream ended: the monitor is gone, or dropped us
            time.sleep(0.1)
            with self.lock:
                if self.shim.running():
                    try:
                        sub = self.shim.stream("events")
                        listed = self.shim.request("list")["containers"]
                        running = {c["id"]: c for c in listed}
                    except Exception:
                        continue
                    exited = self._reconcile(running)
                else:
                    exited = self.recover_without_monitor()
                    self._listener = None  # the next start spawns a monitor and listens again
            for row, event in exited:
                self._after_exit(row, event)
            if self._listener is None:
                return

    def _reconcile(
        self, running: dict[str, dict[str, Any]]
    ) -> list[tuple[ContainerRow, dict[str, Any]]]:
        """Make the rows agree with what the monitor runs (lock held).

        A row recorded as running that the monitor does not run exited (its
        ``exit.json`` says how; returned for the after-exit handling). A
        container the monitor runs that its row does not record as running was
        started by a daemon that died before it could save that: it is running
        (adopted, with the monitor's pid and start time). A container the
        monitor runs that the engine does not know at all is killed.
        """
        out = []
        for row in self.rows.values():
            st = row.state
            found = running.get(row.id)
            if found is not None:
                if not st.get("Running") or st.get("Restarting") or st.get("Pid") != found["pid"]:
                    st.update(
                        Status="running",
                        Running=True,
                        Paused=False,
                        Restarting=False,
                        Dead=False,
                        Pid=int(found["pid"]),
                        ExitCode=0,
                        Error="",
                        StartedAt=str(found.get("started_at") or now()),
                    )
                    for hook in self.start_hooks:
                        hook(row)
                    self.store.save(row)
                    self.changed.notify_all()
            elif st.get("Running") and not st.get("Restarting"):
                event = self._read_exit(row.id)
                self._apply_exit(row, event)
                out.append((row, event))
        for cid in running:
            if cid not in self.rows:
                self._kill_stray(cid)
        return out

    def _kill_stray(self, cid: str) -> None:
        """A container the monitor runs that no row knows of: kill its processes (the
        monitor reaps them and cleans up after it as after any exit)."""
        from berth.errors import BerthError
        from berth.runtime.lifecycle import open_cgroup_of
        from berth.runtime.state import StateStore

        try:
            cg = open_cgroup_of(StateStore(self.runtime_root).load(cid))
            if cg is not None:
                cg.kill(9)
        except BerthError:
            pass

    def recover_without_monitor(self) -> list[tuple[ContainerRow, dict[str, Any]]]:
        """The monitor is gone: what it recorded, and the orphans it left (lock held)."""
        out = []
        for row in self.rows.values():
            st = row.state
            if not st.get("Running") or st.get("Restarting"):
                continue
            if os.path.exists(os.path.join(self.dir_of(row.id), "exit.json")):
                event = self._read_exit(row.id)
            else:
                event = self._reap_orphan(row)
            self._apply_exit(row, event)
            out.append((row, event))
        return out

    def _reap_orphan(self, row: ContainerRow) -> dict[str, Any]:
        """The monitor died while this container ran: end it, free what it held.

        Nothing reaps the container's processes, holds their stdio, writes their
        log or will record their exit any more, so berth does not adopt them:
        it kills what is left through the runtime's state (every process of the
        container's cgroup), removes the cgroup and the runtime state, unmounts
        the rootfs, and records the exit as Docker does for a container it
        lost: code 255, with ``State.Error`` saying why. The restart policy then
        applies as after any exit.
        """
        from berth.errors import BerthError
        from berth.kernel.consts import MNT_DETACH
        from berth.kernel.syscalls import SYSCALLS
        from berth.runtime.lifecycle import delete, open_cgroup_of
        from berth.runtime.state import StateStore

        store = StateStore(self.runtime_root)
        oom = False
        try:
            cg = open_cgroup_of(store.load(row.id))
            oom = bool(cg is not None and cg.oom_kills() > 0)
        except BerthError:
            pass
        error = "the container monitor exited while the container ran; berth killed the container"
        try:
            delete(SYSCALLS, store, row.id, force=True)
        except BerthError as e:
            error += f" (cleaning up: {e})"
        try:
            SYSCALLS.umount(os.path.join(self.dir_of(row.id), "rootfs"), MNT_DETACH)
        except BerthError:
            pass  # not mounted
        doc = {
            "version": 1,
            "id": row.id,
            "pid": int(row.state.get("Pid") or 0),
            "exit_code": 255,
            "oom_killed": oom,
            "started_at": str(row.state.get("StartedAt") or ""),
            "finished_at": now(),
            "error": error,
        }
        tmp = os.path.join(self.dir_of(row.id), "exit.json.tmp")
        try:
            with open(tmp, "w") as f:
                f.write(jsonio.dumps(doc))
            os.replace(tmp, os.path.join(self.dir_of(row.id), "exit.json"))
        except OSError:
            pass
        return doc

    def _stopped_restarting(self, row: ContainerRow) -> None:
        """A container waiting to restart is exited again (lock held): stopped by the
        user, or the daemon went away. A restart still scheduled finds it so and
        does nothing."""
        row.state.update(Status="exited", Running=False, Restarting=False, Pid=0)
        self.store.save(row)
        self.changed.notify_all()

    def _read_exit(self, cid: str) -> dict[str, Any]:
        try:
            with open(os.path.join(self.dir_of(cid), "exit.json"), "rb") as f:
                doc: dict[str, Any] = jsonio.loads(f.read(), "exit.json")
                return doc
        except (FileNotFoundError, InvalidArgument):
            return {"exit_code": 255, "finished_at": now(), "oom_killed": False}

    def _on_exit(self, event: dict[str, Any]) -> None:
        trace("engine: exit event")
        with self.lock:
            row = self.rows.get(str(event.get("id")))
            if row is None or not row.state.get("Running"):
                return
            self._apply_exit(row, event)
        self._after_exit(row, event)

    def _apply_exit(self, row: ContainerRow, event: dict[str, Any]) -> None:
        st = row.state
        st.update(
            Status="exited",
            Running=False,
            Paused=False,
            Restarting=False,
            Pid=0,
            ExitCode=int(event.get("exit_code", 255)),
            OOMKilled=bool(event.get("oom_killed")),
            FinishedAt=str(event.get("finished_at") or now()),
            Error=str(event.get("error") or ""),
        )
        from berth.engine.containers import networking

        networking.release(self, row)
        if not row.host_config.get("AutoRemove"):
            # (one to be removed is not written: _after_exit deletes its record next,
            # and a daemon that stops in between finds it exited, and removes it)
            self.store.save(row)
        self.changed.notify_all()
        trace("engine: exit applied")

    def _after_exit(self, row: ContainerRow, event: dict[str, Any]) -> None:
        extra = {"exitCode": str(row.state["ExitCode"])}
        if row.state.get("OOMKilled"):
            self._publish(row, "oom")
        self._publish(row, "die", extra)
        for hook in self.exit_hooks:
            hook(row, event)
        if row.host_config.get("AutoRemove"):
            try:
                self.remove(row.id, force=True, volumes=True)
            except NotFound:
                pass

    # -- stop / kill / wait ----------------------------------------------------------------
    def kill(self, ref: str, signal: str | int = "KILL") -> None:
        from berth.kernel.consts import parse_signal

        row = self.find(ref)
        try:
            sig = signal if isinstance(signal, int) else parse_signal(signal)
        except ValueError:
            raise InvalidArgument(f"Invalid signal: {signal}") from None
        with self.lock:
            if not row.state.get("Running"):
                raise Conflict(f"Cannot kill container: {ref}: container {row.id} is not running")
            ending = sig == 9 or sig == self._stop_signal(row)
            if ending:
                self.exit_on_next.add(row.id)  # no restart after this exit
            self._mark_stopped_by_user(row)
            restarting = bool(row.state.get("Restarting"))
            if restarting:
                self._stopped_restarting(row)
            pid = int(row.state["Pid"])
            thaw = ending and bool(row.state.get("Paused"))
        if not restarting:
            self._signal(pid, sig)
            if thaw:  # as Docker: a paused container killed is let run to its death
                try:
                    self._cgroup(row).thaw()
                except Exception:
                    pass
        self._publish(row, "kill", {"signal": str(sig)})

    def _mark_stopped_by_user(self, row: ContainerRow) -> None:
        """``unless-stopped`` does not start it at daemon start (lock held)."""
        row.extra = dict(row.extra or {}, manually_stopped=True)
        self.store.save(row)

    @staticmethod
    def _stop_signal(row: ContainerRow) -> int:
        from berth.kernel.consts import parse_signal

        try:
            return parse_signal(str(row.config.get("StopSignal") or "SIGTERM"))
        except ValueError:
            return 15

    @staticmethod
    def _signal(pid: int, sig: int) -> None:
        from berth.kernel.syscalls import SYSCALLS

        try:
            fd = SYSCALLS.pidfd_open(pid)
        except Exception:
            return
        try:
            SYSCALLS.pidfd_send_signal(fd, sig)
        except Exception:
            pass
        finally:
            os.close(fd)

    def stop(self, ref: str, timeout: int | None = None, signal: str | None = None) -> None:
        from berth.kernel.consts import parse_signal

        row = self.find(ref)
        sig_name = signal or row.config.get("StopSignal") or "SIGTERM"
        try:
            sig = parse_signal(str(sig_name))
        except ValueError:
            raise InvalidArgument(f"Invalid signal: {sig_name}") from None
        with self.lock:
            if not row.state.get("Running"):
                raise NotModified(f"container {row.id} is not running")
            self.exit_on_next.add(row.id)  # no restart after this exit
            self._mark_stopped_by_user(row)
            if row.state.get("Restarting"):
                self._stopped_restarting(row)
                self._publish(row, "stop")
                return
            pid = int(row.state["Pid"])
        if timeout is None:
            timeout = row.config.get("StopTimeout")
            if timeout is None:
                timeout = 10
        if row.state.get("Paused"):
            self.unpause(row.id)
        self._signal(pid, sig)
        if timeout < 0 or not self._wait_not_running(row, float(timeout)):
            self._signal(pid, 9)
            self._wait_not_running(row, 30.0)
        self._publish(row, "stop")

    def _wait_not_running(self, row: ContainerRow, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self.lock:
            while row.state.get("Running"):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.changed.wait(min(left, 0.5))
        return True

    def restart(self, ref: str, timeout: int | None = None) -> None:
        row = self.find(ref)
        if row.state.get("Running"):
            self.stop(row.id, timeout)
        self.start(row.id)
        self._publish(row, "restart")

    def wait(self, ref: str, condition: str = "not-running") -> dict[str, Any]:
        """Block until the container is not running, exits next, or is removed.

        ``next-exit`` (what ``docker run`` asks for before it starts the
        container) waits for an exit after the call, even of a container that
        has not started yet; ``removed`` (``docker run --rm``) for the removal.
        """
        from berth.engine.containers.waiting import ExitWaiter

        answer = ExitWaiter(self, self.find(ref), condition).wait()
        assert answer is not None
        return answer

    # -- pause ---------------------------------------------------------------------------
    def _cgroup(self, row: ContainerRow) -> Any:
        from berth.runtime.lifecycle import open_cgroup_of
        from berth.runtime.state import StateStore

        return open_cgroup_of(StateStore(self.runtime_root).load(row.id))

    def pause(self, ref: str) -> None:
        row = self.find(ref)
        with self.lock:
            if not row.state.get("Running"):
                raise Conflict(f"Container {row.id} is not running")
            if row.state.get("Paused"):
                raise Conflict(f"Container {row.id} is already paused")
            if row.state.get("Restarting"):
                raise Conflict(
                    f"Container {row.id} is restarting, wait until the container is running"
                )
            self._cgroup(row).freeze()
            row.state.update(Paused=True, Status="paused")
            self.store.save(row)
        self._publish(row, "pause")

    def unpause(self, ref: str) -> None:
        row = self.find(ref)
        with self.lock:
            if not row.state.get("Paused"):
                raise Conflict(f"Container {row.id} is not paused")
            self._cgroup(row).thaw()
            row.state.update(Paused=False, Status="running")
            self.store.save(row)
        self._publish(row, "unpause")

    # -- remove --------------------------------------------------------------------------
    def remove(self, ref: str, force: bool = False, volumes: bool = False) -> None:
        row = self.find(ref)
        with self.lock:
            if row.state.get("Running") and not force:
                what = "Stop the container before attempting removal or force remove"
                if row.state.get("Paused"):
                    what = "Unpause and then s" + what[1:]
                raise Conflict(
                    f"You cannot remove a {row.state.get('Status', 'running')} container"
                    f" {row.id}. {what}"
                )
            if row.state.get("Restarting"):
                self._stopped_restarting(row)
            self.exit_on_next.add(row.id)
            running = bool(row.state.get("Running"))
        if running:
            if row.state.get("Paused"):
                try:
                    self._cgroup(row).thaw()
                except Exception:
                    pass
            self._signal(int(row.state["Pid"]), 9)
            self._wait_not_running(row, 30.0)
        with self.lock:
            if row.id not in self.rows:
                return
            row.state["Status"] = "removing"
            from berth.engine.containers import networking

            networking.release(self, row)
            if self.volumes is not None:
                self.volumes.release(row, remove_anonymous=volumes)
            self.images.store.remove_container_ref(row.id)
            trace("engine: released")
            self.store.delete(row.id)
            self._discard_dir(row.id)
            trace("engine: removed")
            del self.rows[row.id]
            self.exit_on_next.discard(row.id)
            if self.restarts is not None:
                self.restarts.forget(row.id)
            self.changed.notify_all()
        self._publish(row, "destroy")

    def _discard_dir(self, cid: str) -> None:
        """Move a removed container's directory to the trash (a rename) and have the
        janitor delete it: the removal is done, for its client, without waiting."""
        from berth.snapshots.store import remove_tree

        trash = self.trash_of(cid)
        try:
            os.makedirs(os.path.dirname(trash), mode=0o700, exist_ok=True)
            os.rename(self.dir_of(cid), trash)
        except FileNotFoundError:
            return
        except OSError:
            remove_tree(self.dir_of(cid))  # (cannot be moved: removed here and now)
            return
        self.janitor.later(remove_tree, trash)
        self.janitor.later(self._make_spare)

    # -- output --------------------------------------------------------------------------
    def log_path(self, row: ContainerRow) -> str:
        return os.path.join(self.dir_of(row.id), f"{row.id}-json.log")

    def logs(
        self,
        ref: str,
        *,
        stdout: bool = True,
        stderr: bool = True,
        follow: bool = False,
        timestamps: bool = False,
        tail: str = "all",
        since: float = 0,
        until: float = 0,
    ) -> Iterator[bytes | None]:
        from berth.engine.monitor import logfile

        row = self.find(ref)
        if not (stdout or stderr):
            raise InvalidArgument("You must choose at least one stream")
        tty = bool(row.config.get("Tty"))
        path = self.log_path(row)
        n = None if tail in ("all", "", None) else int(tail)
        offset = logfile.file_size(path)
        entries = logfile.read_entries(path, n)

        def render(e: logfile.Entry) -> bytes | None:
            if (e.stream == "stdout" and not stdout) or (e.stream == "stderr" and not stderr):
                return None
            t = _rfc3339_to_unix(e.time)
            if since and t < since:
                return None
            if until and t > until:
                return None
            text = (e.time + " " + e.log) if timestamps else e.log
            data = text.encode()
            if tty:
                return data
            from berth.api.stdcopy import frame

            return frame(1 if e.stream == "stdout" else 2, data)

        def generate() -> Iterator[bytes | None]:
            for e in entries:
                out = render(e)
                if out is not None:
                    yield out
            if not follow:
                return
            for e2 in logfile.follow(path, offset, lambda: bool(row.state.get("Running"))):
                if e2 is None:
                    yield None
                    continue
                out = render(e2)
                if out is not None:
                    yield out

        return generate()

    def resize(self, ref: str, height: int, width: int) -> None:
        row = self.find(ref)
        if not row.state.get("Running"):
            raise Conflict(f"Container {row.id} is not running")
        self.shim.request("resize", id=row.id, height=height, width=width)

    def attach_stream(
        self, ref: str, stdin: bool, stdout: bool, stderr: bool
    ) -> tuple[Any, bytes, bool]:
        """A raw stream from the monitor (waits for the start when not running yet)."""
        row = self.find(ref)
        self.shim.ensure()
        sock, rest = self.shim.stream(
            "attach",
            id=row.id,
            stdin=stdin and bool(row.config.get("OpenStdin")),
            stdout=stdout,
            stderr=stderr,
            wait=0 if row.state.get("Running") else 60,
        )
        self._publish(row, "attach")  # as Docker: create, attach, start, die
        return sock, rest, bool(row.config.get("Tty"))


#: seconds after a create took the spare directory that the next is made, when no
#: container was removed meanwhile (see ContainerService._make_dir)
SPARE_DELAY = 0.25


def _listdir(path: str) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except FileNotFoundError:
        return []


def _etc_mountpoints(rootfs: str) -> None:
    """Make the files that /etc/hosts, resolv.conf and hostname are bind-mounted onto,
    in the container's rootfs, while its network is set up. Left to the container's
    init, making them (and the overlay's copy-up of /etc) took ~0.5 ms of the start.
    They are made as the runtime makes them, inside the root (symlinks resolved in
    it); on an error the init makes them, or says why it cannot."""
    from berth.kernel.syscalls import SYSCALLS
    from berth.network.sandbox import ETC_FILES
    from berth.runtime.paths import ensure_in_root

    rootfd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for _, path in ETC_FILES:
            os.close(ensure_in_root(SYSCALLS, rootfd, path, kind="file"))
    except (BerthError, OSError):
        pass
    finally:
        os.close(rootfd)


class _Background:
    """``fn()`` run in a thread of its own: ``wait()`` for it, ``result()`` raises what
    it raised."""

    def __init__(self, fn: Callable[[], None]) -> None:
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self._thread.start()

    def _run(self, fn: Callable[[], None]) -> None:
        try:
            fn()
        except BaseException as e:
            self._error = e

    def wait(self) -> None:
        self._thread.join()

    def result(self) -> None:
        self.wait()
        if self._error is not None:
            raise self._error


def _rfc3339_to_unix(text: str) -> float:
    import calendar

    if not text or len(text) < 19:
        return 0.0
    try:
        base = calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return 0.0
    frac = 0.0
    if len(text) > 20 and text[19] == ".":
        digits = text[20:].rstrip("Z")
        if digits.isdigit():
            frac = int(digits) / 10 ** len(digits)
    return base + frac
