"""A container's cgroup in every hierarchy, and its lifecycle.

Lifecycle::

    cg = open_cgroup(spec.linux.cgroups_path, container_id)   # resolves paths, touches nothing
    cg.create()                    # mkdir in every hierarchy (idempotent)
    cg.apply(resources)            # the writes of cg.plan(resources), in order
    cg.add(pid)                    # the process joins in every hierarchy
    ...  cg.freeze() / cg.thaw() / cg.update(resources) / cg.stats() / cg.kill(sig)
    cg.destroy()                   # rmdir what create() made, children first

Where a cgroup goes (``open_cgroup``), in each hierarchy:

- no path (None or ""): ``<container id>`` beneath our own cgroup (runc's default);
- a relative path: beneath our own cgroup, as runc's cgroupfs driver does;
- an absolute path: from the hierarchy's root (the OCI spec's meaning);
- ``slice:prefix:name`` (systemd's form) is refused: berth drives cgroupfs only.

A container's directory is never our own cgroup nor one of its ancestors, and
:meth:`Cgroup.apply` refuses any write outside the container's directories:
berth cannot set limits on the cgroup it runs in by mistake.

``destroy`` removes only directories ``create`` made (recorded, and kept in the
state document), so pre-existing parents such as a ``--cgroup-parent`` stay.

State document (``to_json``; schema version 1)::

    {"schemaVersion": 1, "name": "<id>", "layout": {...Layout.to_json()...},
     "cgroupPaths": ["/process_api/x/<id>", ...],   # one per layout hierarchy, in order
     "created": ["/sys/fs/cgroup/memory/process_api/x/<id>", ...]}
"""

from __future__ import annotations

from berth.cgroups.fs import CGROUP_FS
from berth.cgroups.layout import UNIFIED, Hierarchy, Layout
from berth.errors import InvalidArgument, KernelError, NotFound
from berth.oci.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from berth.cgroups.fs import CgroupFS
    from berth.cgroups.write import Write
    from berth.kernel.mountplan import MountOp
    from berth.oci.runtime_spec import Resources

SCHEMA_VERSION = 1
SIGKILL = 9
#: v2 controllers a new container gets enabled (when the host offers them), for limits and stats
V2_BASIC = ("cpu", "io", "memory", "pids")


class CgroupState(Record):
    """The on-disk form of a :class:`Cgroup` (see the module docstring)."""

    schema_version: int = SCHEMA_VERSION
    name: str
    layout: dict[str, object]
    cgroup_paths: tuple[str, ...]
    created: tuple[str, ...] = ()


# -- path resolution (pure) ------------------------------------------------------------
def _parts(path: str, where: str) -> list[str]:
    parts = [p for p in path.split("/") if p]
    for p in parts:
        if p in (".", "..") or "\0" in p or len(p) > 255:
            raise InvalidArgument(
                f"{where}: {path!r} has a component {p!r} that is not a plain directory name"
            )
    return parts


def is_systemd_path(path: str) -> bool:
    """``system.slice:docker:<id>``: systemd's form of a cgroups path."""
    return not path.startswith("/") and path.count(":") == 2


def resolve(cgroups_path: str | None, container_id: str, h: Hierarchy) -> str:
    """The container's cgroup path in hierarchy ``h`` (see the module docstring)."""
    if not container_id or "/" in container_id or container_id in (".", ".."):
        raise InvalidArgument(f"container id {container_id!r} cannot name a cgroup")
    where = "linux.cgroupsPath"
    path = cgroups_path or container_id
    if is_systemd_path(path):
        raise InvalidArgument(
            f"{where}: {path!r} is a systemd slice:prefix:name path; berth manages cgroups "
            "through the cgroup file system only — give a path such as /berth/<id> "
            "(from the hierarchy root) or berth/<id> (beneath berth's own cgroup)"
        )
    parts = _parts(path, where)
    if path.startswith("/"):
        cg = "/" + "/".join(parts)
    else:
        cg = h.own.rstrip("/") + "/" + "/".join(parts)
    own = h.own.rstrip("/")
    if cg == "/" or own == cg or own.startswith(cg.rstrip("/") + "/"):
        raise InvalidArgument(
            f"{where}: {path!r} is {cg} in the {h.name} hierarchy, which holds berth's own "
            f"cgroup ({h.own}); a container's cgroup must be a new one — give a relative path "
            "(created beneath berth's own cgroup) or an absolute path beneath it"
        )
    return cg


def _chain(h: Hierarchy, cgroup_path: str) -> list[str]:
    """Directories from the hierarchy's mount point down to the cgroup's, excluded/included."""
    root = h.root.rstrip("/")
    rest = cgroup_path[len(root) :].strip("/")
    out = []
    path = root
    for part in rest.split("/") if rest else []:
        path = f"{path}/{part}"
        out.append(h.directory(path))
    return out


def open_cgroup(
    cgroups_path: str | None,
    container_id: str,
    layout: Layout | None = None,
    *,
    fs: CgroupFS | None = None,
) -> Cgroup:
    """The container's cgroup, resolved in every hierarchy; nothing is touched yet."""
    layout = layout if layout is not None else Layout.detect()
    paths = tuple(resolve(cgroups_path, container_id, h) for h in layout.hierarchies)
    return Cgroup(layout, container_id, paths, fs=fs)


class Cgroup:
    """A container's cgroup: one directory per hierarchy of ``layout``."""

    __slots__ = ("_created", "cgroup_paths", "dirs", "fs", "layout", "name")

    def __init__(
        self,
        layout: Layout,
        name: str,
        cgroup_paths: tuple[str, ...],
        *,
        created: tuple[str, ...] = (),
        fs: CgroupFS | None = None,
    ) -> None:
        if len(cgroup_paths) != len(layout.hierarchies):
            raise InvalidArgument("cgroup: one cgroup path per hierarchy is needed")
        self.layout = layout
        self.name = name
        self.cgroup_paths = cgroup_paths
        self.dirs = tuple(
            h.directory(p) for h, p in zip(layout.hierarchies, cgroup_paths, strict=True)
        )
        for h, d in zip(layout.hierarchies, self.dirs, strict=True):
            own = h.own_dir.rstrip("/")
            if (
                not d.startswith(h.mountpoint.rstrip("/") + "/")
                or d == own
                or own.startswith(d + "/")
            ):
                raise InvalidArgument(
                    f"cgroup {d} is not a new cgroup beneath {h.mountpoint} "
                    f"(berth's own is {own}): refusing to manage it"
                )
        allowed = {
            x for h, p in zip(layout.hierarchies, cgroup_paths, strict=True) for x in _chain(h, p)
        }
        for c in created:
            if c not in allowed:
                raise InvalidArgument(f"cgroup state: {c} is not on the path of this cgroup")
        self._created = list(created)
        self.fs: CgroupFS = fs if fs is not None else CGROUP_FS

    # -- names ---------------------------------------------------------------------
    @property
    def paths(self) -> dict[str, str]:
        """Hierarchy name (controller, ``name=systemd``, ``unified``) -> the directory."""
        out = {}
        for h, d in zip(self.layout.hierarchies, self.dirs, strict=True):
            for key in h.keys:
                out[key] = d
        return out

    @property
    def created(self) -> tuple[str, ...]:
        """Directories this cgroup made (and so will remove), parents first."""
        return tuple(self._created)

    def _dir(self, key: str) -> str | None:
        for h, d in zip(self.layout.hierarchies, self.dirs, strict=True):
            if key in h.keys:
                return d
        return None

    @property
    def _bpf_devices(self) -> bool:
        """Device rules go to an eBPF program (no v1 devices controller, a cgroup2 one)."""
        return self.layout.hierarchy("devices") is None and self.layout.unified is not None

    # -- planning (pure) -------------------------------------------------------------
    def plan(self, resources: Resources, current: Mapping[str, str] | None = None) -> list[Write]:
        """Every file write that applies ``resources``, in order (device rules on v2 aside).

        ``current`` holds present contents of files whose order or value depends
        on them (``memory.limit_in_bytes`` on v1, ``cpu.max`` on v2); ``update``
        reads them, a fresh cgroup has none.
        """
        if self._bpf_devices and resources.devices:
            resources = resources.replace(devices=())
        if self.layout.mode == "v2":
            from berth.cgroups import v2

            unified = self.layout.unified
            assert unified is not None
            return v2.plan(
                resources,
                self.paths[UNIFIED],
                controllers=unified.controllers,
                bfq=self.layout.bfq,
                current=current,
            )
        from berth.cgroups import v1

        dirs = {k: d for k, d in self.paths.items() if k != UNIFIED}
        return v1.plan(
            resources, dirs, bfq=self.layout.bfq, memsw=self.layout.memsw, current=current
        )

    def device_program(self, resources: Resources) -> bytes | None:
        """The eBPF device filter this cgroup gets (None: v1 devices, or no rules)."""
        if not self._bpf_devices:
            return None
        from berth.cgroups import devices

        return devices.bpf_program(resources.devices)

    def ignored(self, resources: Resources) -> list[str]:
        """Settings that are accepted but have no effect with this layout (to warn about)."""
        from berth.cgroups import v1, v2  # imported where used: a start needs one of them

        return v2.ignored(resources) if self.layout.mode == "v2" else v1.ignored(resources)

    # -- lifecycle -------------------------------------------------------------------
    def create(self, kind: int | None = None) -> None:
        """Make the directory in every hierarchy (and missing parents); idempotent.

        v1 cpuset directories get their parent's CPUs and memory nodes (the
        kernel refuses processes otherwise). On v2 the basic controllers
        (cpu, io, memory, pids, where offered) are enabled for the new cgroup.
        A failure half-way removes what this call made. ``kind`` 1 or 2: only
        the v1 hierarchies, or only the cgroup2 one (a start makes the latter
        before it forks the container's process, which is born in it, and the
        v1 ones meanwhile).
        """
        made: list[str] = []
        cpuset: dict[str, str] = {}  # what the last cpuset directory made was given

        def make(h: Hierarchy, d: str) -> None:
            if self.fs.mkdir(d):
                made.append(d)
                if d not in self._created:
                    self._created.append(d)
                if h.kind == 1 and "cpuset" in h.controllers:
                    self._fill_cpuset(d, cpuset)

        # The container's own directory first: its parents are usually there already.
        # Once one hierarchy lacks them, the others are made parents first.
        parents_missing = False
        try:
            for h, p in zip(self.layout.hierarchies, self.cgroup_paths, strict=True):
                chain = _chain(h, p)
                if not chain or (kind is not None and h.kind != kind):
                    continue
                if not parents_missing:
                    try:
                        make(h, chain[-1])
                        continue
                    except KernelError as e:
                        if e.errno != 2:  # ENOENT
                            raise
                        parents_missing = True
                for d in chain:
                    make(h, d)
            if self.layout.mode == "v2" and kind in (None, 2):
                unified = self.layout.unified
                assert unified is not None
                self._enable(tuple(c for c in V2_BASIC if c in unified.controllers))
        except BaseException:
            for d in reversed(made):
                try:
                    self.fs.rmdir(d)
                except KernelError:
                    continue
                self._created.remove(d)
            raise

    def _fill_cpuset(self, d: str, given: dict[str, str]) -> None:
        """A new v1 cpuset directory gets its parent's CPUs and memory nodes (the same
        values again where the kernel copied them already: cgroup.clone_children).
        ``given`` remembers what the last one got: the value for its child, if next."""
        parent = d.rsplit("/", 1)[0]
        for name in ("cpuset.cpus", "cpuset.mems"):
            if given.get("dir") == parent:
                value = given[name]
            else:
                value = self.fs.read(f"{parent}/{name}").strip()
            if value:
                self.fs.write(f"{d}/{name}", value)
            given[name] = value
        given["dir"] = d

    def _enable(self, controllers: tuple[str, ...]) -> None:
        """v2: make ``controllers`` available to the container's directory.

        Each one is enabled in ``cgroup.subtree_control`` of the directories
        above the container's, from the first one that lacks it: the nearest
        pre-existing parent (often berth's own cgroup, which cgroup v2 permits
        only when it holds no processes) and the parents berth made. A parent
        that refuses is left as it is; a later write then names the missing file.
        """
        if not controllers:
            return
        unified = self.layout.unified
        assert unified is not None
        chain = _chain(unified, self.cgroup_paths[self.layout.hierarchies.index(unified)])
        # the nearest pre-existing parent, then every parent berth made, down to the leaf
        created = [d for d in chain[:-1] if d in self._created]
        first = (created[0] if created else chain[-1]).rsplit("/", 1)[0]
        for parent in [first, *created]:
            enabled = set(self.fs.read(f"{parent}/cgroup.subtree_control").split())
            offered = set(self.fs.read(f"{parent}/cgroup.controllers").split())
            missing = [c for c in controllers if c not in enabled and c in offered]
            if not missing:
                continue
            try:
                self.fs.write(
                    f"{parent}/cgroup.subtree_control", " ".join(f"+{c}" for c in missing)
                )
            except KernelError:
                if parent not in self._created:
                    continue
                raise

    def apply(self, resources: Resources) -> None:
        """Write ``plan(resources)``; the first write the kernel refuses raises KernelError.

        Device rules on v2 become an eBPF program attached to the directory.
        """
        self._apply(resources, None)

    def _apply(self, resources: Resources, current: Mapping[str, str] | None) -> None:
        writes = self.plan(resources, current)
        program = self.device_program(resources)
        if self.layout.mode == "v2":
            needed = {w.filename.split(".", 1)[0] for w in writes}
            self._enable(tuple(sorted(needed - {"cgroup"})))
        inside = set(self.dirs)
        for w in writes:
            if w.directory not in inside:
                raise InvalidArgument(
                    f"refusing to write {w.value!r} to {w.path}: outside the container's "
                    "cgroup directories"
                )
        for w in writes:
            self.fs.write(w.path, w.value)
        if self._bpf_devices and (program is not None or resources.devices):
            self.fs.set_device_filter(self.paths[UNIFIED], program)

    def update(self, resources: Resources) -> None:
        """Change the limits of a running container (``docker update``).

        Only what ``resources`` sets is written. Files whose write order or
        value depends on the present state are read first.
        """
        current: dict[str, str] = {}
        mem = resources.memory
        if self.layout.mode == "v2":
            d = self.paths[UNIFIED]
            cpu = resources.cpu
            if cpu is not None and cpu.period and not cpu.quota:
                current["cpu.max"] = self._read_or(f"{d}/cpu.max", "")
            usage_file = f"{d}/memory.current"
        else:
            md = self._dir("memory")
            usage_file = f"{md}/memory.usage_in_bytes" if md else ""
            if md and mem is not None and mem.limit and mem.swap:
                current["memory.limit_in_bytes"] = self._read_or(
                    f"{md}/memory.limit_in_bytes", "max"
                )
        if mem is not None and mem.check_before_update and mem.limit and mem.limit > 0:
            used = self._read_or(usage_file, "").strip()
            if used.isdigit() and int(used) > mem.limit:
                raise InvalidArgument(
                    f"linux.resources.memory.limit: {mem.limit} is below the {used} bytes the "
                    "container uses now (checkBeforeUpdate is set)"
                )
        self._apply(resources, current)

    def _read_or(self, path: str, default: str) -> str:
        try:
            return self.fs.read(path)
        except KernelError:
            return default

    def exists(self) -> bool:
        """Whether the container's directory is there in any hierarchy."""
        return any(self.fs.exists(d) for d in dict.fromkeys(self.dirs))

    def add(self, pid: int) -> None:
        """Move process ``pid`` into the cgroup, in every hierarchy."""
        for d in dict.fromkeys(self.dirs):
            self.fs.write(f"{d}/cgroup.procs", str(pid))

    def procs(self) -> list[int]:
        """Every process in the cgroup and in cgroups beneath it, sorted."""
        d = self._primary()
        found: set[int] = set()
        stack = [d]
        while stack:
            here = stack.pop()
            try:
                text = self.fs.read(f"{here}/cgroup.procs")
            except KernelError as e:
                if e.errno == 2:  # removed meanwhile (or never created): no processes there
                    continue
                raise
            found.update(int(x) for x in text.split())
            stack.extend(f"{here}/{n}" for n in self.fs.subdirs(here))
        return sorted(found)

    def _primary(self) -> str:
        if self.layout.mode == "v2":
            return self.paths[UNIFIED]
        for key in ("freezer", "pids", "memory", "cpu", "devices"):
            d = self._dir(key)
            if d is not None:
                return d
        return self.dirs[0]

    # -- freezer ----------------------------------------------------------------------
    def _freezer(self) -> tuple[str, str]:
        """("v1", freezer dir) or ("v2", cgroup2 dir)."""
        if self.layout.mode != "v2":
            d = self._dir("freezer")
            if d is not None:
                return "v1", d
        d = self._dir(UNIFIED)
        if d is None:
            raise NotFound(
                f"cgroup {self.name}: no freezer here (neither a v1 freezer controller nor "
                "cgroup2): cannot pause"
            )
        return "v2", d

    def frozen(self) -> bool:
        kind, d = self._freezer()
        if kind == "v1":
            return self.fs.read(f"{d}/freezer.state").strip() == "FROZEN"
        return _events(self.fs.read(f"{d}/cgroup.events")).get("frozen") == 1

    def freeze(self, timeout: float = 10.0) -> None:
        """Stop every process of the cgroup; returns once the kernel reports them frozen."""
        kind, d = self._freezer()
        if kind == "v1":
            self._settle(d + "/freezer.state", "FROZEN", timeout)
        else:
            self._settle(d + "/cgroup.freeze", "1", timeout)

    def thaw(self, timeout: float = 10.0) -> None:
        """Let the processes run again."""
        kind, d = self._freezer()
        if kind == "v1":
            self._settle(d + "/freezer.state", "THAWED", timeout)
        else:
            self._settle(d + "/cgroup.freeze", "0", timeout)

    def _settle(self, path: str, value: str, timeout: float) -> None:
        import time

        v2_file = path.endswith("cgroup.freeze")
        want_frozen = value in ("1", "FROZEN")
        deadline = time.monotonic() + timeout
        delay = 0.001
        while True:
            self.fs.write(path, value)  # v1: re-writing FROZEN nudges a stuck FREEZING
            if v2_file:
                events = _events(self.fs.read(path.rsplit("/", 1)[0] + "/cgroup.events"))
                done = events.get("frozen") == (1 if want_frozen else 0)
            else:
                done = self.fs.read(path).strip() == value
            if done:
                return
            if time.monotonic() > deadline:
                break
            self.fs.sleep(delay)
            delay = min(delay * 2, 0.05)
        if want_frozen:
            self._settle(path, "0" if v2_file else "THAWED", timeout)
        raise KernelError(
            "freeze" if want_frozen else "thaw",
            path.rsplit("/", 1)[0],
            16,
            f"the processes did not settle within {timeout:g}s "
            "(a process stuck in uninterruptible sleep?)",
        )

    # -- signals ----------------------------------------------------------------------
    def kill(self, sig: int) -> None:
        """Send ``sig`` to every process in the cgroup.

        SIGKILL goes through ``cgroup.kill`` on pure v2; with v1 controllers
        (v1 and hybrid) the cgroup is frozen first, so that no process forks
        away while the others are killed, then thawed. Hybrid hosts have
        ``cgroup.kill`` too, but not there: once a cgroup2 directory has been
        killed through it, this kernel (6.18) SIGKILLs every process later
        born into it with clone3(CLONE_INTO_CGROUP), and it was seen to miss
        a pid-namespace init that shared the cgroup with an exec'd process.
        """
        u = self._dir(UNIFIED)
        if (
            sig == SIGKILL
            and self.layout.mode == "v2"
            and u is not None
            and self.fs.exists(f"{u}/cgroup.kill")
        ):
            self.fs.write(f"{u}/cgroup.kill", "1")
            return
        pids = self.procs()
        if not pids:
            return
        freeze = sig == SIGKILL and self._dir("freezer") is not None
        if freeze:
            try:
                self.freeze(timeout=2.0)
            except KernelError:
                freeze = False
        try:
            for pid in self.procs() if freeze else pids:
                self.fs.kill(pid, sig)
        finally:
            if freeze:
                self.thaw()

    # -- removal ------------------------------------------------------------------------
    def destroy(self, timeout: float = 5.0) -> None:
        """Remove what ``create`` made, children first; processes must be gone (or exiting).

        A directory with processes that do not leave within ``timeout`` raises
        KernelError (EBUSY); parents berth made that other cgroups still use stay.
        """
        import time

        leaves = set(self.dirs)
        deadline = time.monotonic() + timeout
        for d in sorted(set(self._created) & leaves, key=len, reverse=True):
            self._remove_tree(d, deadline)
            if d in self._created:
                self._created.remove(d)
        for d in sorted(set(self._created) - leaves, key=lambda x: x.count("/"), reverse=True):
            try:
                self.fs.rmdir(d)
            except KernelError as e:
                if e.errno in (16, 39):  # EBUSY, ENOTEMPTY: still used by another cgroup
                    continue
                raise
            self._created.remove(d)

    def _remove_tree(self, d: str, deadline: float) -> None:
        """rmdir ``d``; when it is busy, its child cgroups first, then again until its
        processes are gone (or ``deadline``)."""
        import time

        delay = 0.005
        children_done = False
        while True:
            try:
                self.fs.rmdir(d)
                return
            except KernelError as e:
                if e.errno not in (16, 39):  # EBUSY, ENOTEMPTY
                    raise
                if not children_done:
                    children_done = True
                    children = self.fs.subdirs(d)
                    for child in children:
                        self._remove_tree(f"{d}/{child}", deadline)
                    if children:
                        continue
                if time.monotonic() > deadline:
                    raise KernelError(
                        "rmdir", d, e.errno, "processes are still in it: kill them first"
                    ) from None
            self.fs.sleep(delay)
            delay = min(delay * 2, 0.1)

    # -- reading ------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """What ``docker stats`` shows, in the Engine API's shape (see berth.cgroups.stats)."""
        from berth.cgroups import stats

        return stats.collect(self)

    def oom_kills(self) -> int:
        """How many processes the kernel's OOM killer has killed in this cgroup."""
        if self.layout.mode == "v2":
            path = f"{self.paths[UNIFIED]}/memory.events"
        else:
            md = self._dir("memory")
            if md is None:
                return 0
            path = f"{md}/memory.oom_control"
        try:
            text = self.fs.read(path)
        except KernelError as e:
            if e.errno == 2:
                return 0
            raise
        return _events(text).get("oom_kill", 0)

    def container_mounts(self, cgroupns: bool, readonly: bool = True) -> list[MountOp]:
        """What to mount at /sys/fs/cgroup in the container (see berth.cgroups.mounts)."""
        from berth.cgroups import mounts

        return mounts.container_mounts(self, cgroupns, readonly)

    # -- state ----------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return CgroupState(
            name=self.name,
            layout=self.layout.to_json(),
            cgroup_paths=self.cgroup_paths,
            created=tuple(self._created),
        ).to_json()

    @classmethod
    def from_json(cls, doc: object, *, fs: CgroupFS | None = None) -> Cgroup:
        state = CgroupState.from_json(doc, "cgroup state")
        if state.schema_version != SCHEMA_VERSION:
            raise InvalidArgument(
                f"cgroup state: schema version {state.schema_version} is not "
                f"{SCHEMA_VERSION}; this berth cannot read it"
            )
        layout = Layout.from_json(state.layout)
        return cls(layout, state.name, state.cgroup_paths, created=state.created, fs=fs)

    def __repr__(self) -> str:
        return f"Cgroup({self.name!r}, {self.layout.mode}, {list(dict.fromkeys(self.dirs))})"


def _events(text: str) -> dict[str, int]:
    """``key value`` lines (cgroup.events, memory.events, memory.oom_control)."""
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        value = value.strip()
        if value.lstrip("-").isdigit():
            out[key] = int(value)
    return out
