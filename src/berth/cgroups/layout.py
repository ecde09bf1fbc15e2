"""Which cgroup hierarchies this host has, where they are mounted, and where we sit in them.

Vocabulary:

- A **hierarchy** is one mounted cgroup tree: a v1 hierarchy carries one or more
  controllers (``cpu,cpuacct``) or a name (``name=systemd``); the v2 hierarchy
  (``cgroup2``) is called ``"unified"``.
- A **cgroup path** is a path inside a hierarchy as ``/proc/<pid>/cgroup`` shows it
  (``/process_api/8cd0``); a **directory** is where that cgroup appears in the
  file system (``/sys/fs/cgroup/memory/process_api/8cd0``).
- The **mode** of a layout: ``"v1"`` (only v1 controllers), ``"v2"`` (only
  cgroup2) or ``"hybrid"`` (v1 controllers plus a cgroup2 mount, usually at
  ``/sys/fs/cgroup/unified``, that holds processes but few or no controllers).

:meth:`Layout.parse` is pure (text in, layout out); :meth:`Layout.detect` reads
``/proc/self/mountinfo``, ``/proc/self/cgroup`` and two feature probes.

On-disk form (inside a cgroup's state document, see ``berth.cgroups.cgroup``)::

    {"mode": "hybrid", "bfq": true, "memsw": true,
     "hierarchies": [{"kind": 1, "controllers": ["memory"], "mountpoint": "...",
                      "root": "/", "own": "/process_api/8cd0"}, ...]}
"""

from __future__ import annotations

from berth.errors import InvalidArgument, NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: v1 controllers berth places containers in (any that are mounted).
V1_CONTROLLERS = frozenset(
    {
        "cpu",
        "cpuacct",
        "cpuset",
        "memory",
        "devices",
        "freezer",
        "net_cls",
        "net_prio",
        "blkio",
        "perf_event",
        "hugetlb",
        "pids",
        "rdma",
        "misc",
    }
)
#: v1 named hierarchies berth also joins (runc does: systemd in a container reads it).
V1_NAMED = frozenset({"name=systemd"})
UNIFIED = "unified"
MODES = ("v1", "v2", "hybrid")


class MountEntry:
    """One line of /proc/<pid>/mountinfo, the fields cgroup code needs."""

    __slots__ = ("fstype", "mountpoint", "root", "super_options")

    def __init__(self, root: str, mountpoint: str, fstype: str, super_options: str) -> None:
        self.root = root
        self.mountpoint = mountpoint
        self.fstype = fstype
        self.super_options = super_options

    def __repr__(self) -> str:
        fields = (self.root, self.mountpoint, self.fstype, self.super_options)
        return f"MountEntry{fields!r}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MountEntry) and (
            self.root,
            self.mountpoint,
            self.fstype,
            self.super_options,
        ) == (other.root, other.mountpoint, other.fstype, other.super_options)

    __hash__ = None  # type: ignore[assignment]


def unescape(field: str) -> str:
    """Undo mountinfo's octal escapes (``\\040`` is a space)."""
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        ch = field[i]
        code = field[i + 1 : i + 4]
        if ch == "\\" and len(code) == 3 and all(c in "01234567" for c in code):
            out.append(chr(int(code, 8)))
            i += 4
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def parse_mountinfo(
    text: str, fstypes: tuple[str, ...] = ("cgroup", "cgroup2")
) -> list[MountEntry]:
    """The mounts of the given file system types, in mountinfo order."""
    out = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields = left.split()
        after = right.split()
        if len(fields) < 5 or not after or after[0] not in fstypes:
            continue
        super_options = after[2] if len(after) > 2 else ""
        out.append(MountEntry(unescape(fields[3]), unescape(fields[4]), after[0], super_options))
    return out


def parse_proc_cgroup(text: str) -> list[tuple[str, tuple[str, ...], str]]:
    """/proc/<pid>/cgroup -> [(hierarchy id, controllers, cgroup path)] (v2: ("0", (), path))."""
    out = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = line.split(":", 2)
        if len(parts) != 3:
            raise InvalidArgument(f"/proc/self/cgroup: malformed line {line!r}")
        hid, controllers, path = parts
        names = tuple(c for c in controllers.split(",") if c)
        out.append((hid, names, path))
    return out


class Hierarchy:
    """One mounted hierarchy and our own place in it.

    ``kind`` is 1 or 2. ``controllers``: for v1 the controllers (or the name,
    ``name=systemd``) mounted together; for v2 the controllers available to
    our own cgroup (its ``cgroup.controllers``). ``mountpoint`` and ``root``
    come from mountinfo (``root`` is the cgroup path shown at the mount
    point); ``own`` is our own cgroup path in it.
    """

    __slots__ = ("controllers", "kind", "mountpoint", "own", "root")

    def __init__(
        self, kind: int, controllers: tuple[str, ...], mountpoint: str, root: str, own: str
    ) -> None:
        self.kind = kind
        self.controllers = controllers
        self.mountpoint = mountpoint.rstrip("/") or "/"
        self.root = root
        self.own = own

    @property
    def keys(self) -> tuple[str, ...]:
        """The names this hierarchy answers to in ``Cgroup.paths``."""
        return (UNIFIED,) if self.kind == 2 else self.controllers

    @property
    def name(self) -> str:
        """A name for messages: ``cpu,cpuacct``, ``name=systemd`` or ``unified``."""
        return UNIFIED if self.kind == 2 else ",".join(self.controllers)

    def directory(self, cgroup_path: str) -> str:
        """Where the cgroup ``cgroup_path`` appears in the file system."""
        root = self.root.rstrip("/")
        if cgroup_path != root and not cgroup_path.startswith(root + "/"):
            raise InvalidArgument(
                f"cgroup {cgroup_path} of the {self.name} hierarchy is outside the part "
                f"mounted at {self.mountpoint} (which shows {self.root}); "
                "give a cgroup path beneath it"
            )
        rest = cgroup_path[len(root) :].rstrip("/")
        return self.mountpoint + rest if self.mountpoint != "/" else rest or "/"

    @property
    def own_dir(self) -> str:
        return self.directory(self.own)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "controllers": list(self.controllers),
            "mountpoint": self.mountpoint,
            "root": self.root,
            "own": self.own,
        }

    @classmethod
    def from_json(cls, doc: Any) -> Hierarchy:
        try:
            kind = int(doc["kind"])
            controllers = tuple(str(c) for c in doc["controllers"])
            return cls(kind, controllers, str(doc["mountpoint"]), str(doc["root"]), str(doc["own"]))
        except (KeyError, TypeError, ValueError) as e:
            raise InvalidArgument(f"cgroup state: malformed hierarchy {doc!r} ({e})") from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Hierarchy) and self.to_json() == other.to_json()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Hierarchy({self.name} at {self.mountpoint}, root={self.root}, own={self.own})"


def _pick(candidates: list[MountEntry], own: str) -> MountEntry | None:
    """The best mount of one hierarchy: shows our cgroup, under /sys/fs/cgroup, shallowest."""

    def visible(m: MountEntry) -> bool:
        root = m.root.rstrip("/")
        return own == root or own.startswith(root + "/")

    usable = [m for m in candidates if visible(m)]
    if not usable:
        return None
    usable.sort(
        key=lambda m: (
            not m.mountpoint.startswith("/sys/fs/cgroup"),
            len(m.root),
            len(m.mountpoint),
        )
    )
    return usable[0]


#: Layout.detect's last parse (before probes), keyed by the texts it parsed
_PARSED: dict[tuple[str, str], Layout] = {}


class Layout:
    """The cgroup hierarchies of this host, and our own cgroup in each."""

    __slots__ = ("bfq", "hierarchies", "memsw", "mode")

    def __init__(
        self,
        mode: str,
        hierarchies: tuple[Hierarchy, ...],
        *,
        bfq: bool = False,
        memsw: bool = True,
    ) -> None:
        if mode not in MODES:
            raise InvalidArgument(f"cgroup layout: unknown mode {mode!r} (want one of {MODES})")
        self.mode = mode
        self.hierarchies = hierarchies
        #: block I/O weights go through BFQ's files (blkio.bfq.weight / io.bfq.weight)
        self.bfq = bfq
        #: v1 memory has swap accounting (memory.memsw.* files)
        self.memsw = memsw

    # -- construction -----------------------------------------------------------------
    @classmethod
    def parse(
        cls,
        mountinfo: str,
        proc_cgroup: str,
        *,
        unified_controllers: str = "",
        bfq: bool = False,
        memsw: bool = True,
    ) -> Layout:
        """Build a layout from the texts of /proc/self/mountinfo and /proc/self/cgroup.

        ``unified_controllers`` is the text of our own v2 cgroup's
        ``cgroup.controllers`` (it decides which v2 controllers may be used).
        """
        mounts = parse_mountinfo(mountinfo)
        v1_mounts = [m for m in mounts if m.fstype == "cgroup"]
        v2_mounts = [m for m in mounts if m.fstype == "cgroup2"]
        hierarchies: list[Hierarchy] = []
        unified: Hierarchy | None = None
        seen: set[str] = set()
        for hid, names, path in parse_proc_cgroup(proc_cgroup):
            if hid == "0" and not names:
                m = _pick(v2_mounts, path)
                if m is not None and unified is None:
                    avail = tuple(unified_controllers.split())
                    unified = Hierarchy(2, avail, m.mountpoint, m.root, path)
                continue
            wanted = tuple(n for n in names if n in V1_CONTROLLERS or n in V1_NAMED)
            if not wanted or any(n in seen for n in wanted):
                continue
            cands = [m for m in v1_mounts if set(names) <= set(m.super_options.split(","))]
            m = _pick(cands, path)
            if m is None:
                continue  # this hierarchy is not mounted (or not where we can see ourselves)
            seen.update(wanted)
            hierarchies.append(Hierarchy(1, wanted, m.mountpoint, m.root, path))
        has_controllers = any(h.controllers != ("name=systemd",) for h in hierarchies)
        if has_controllers:
            mode = "hybrid" if unified is not None else "v1"
        elif unified is not None:
            mode = "v2"
            hierarchies = []  # a lone name=systemd v1 mount next to cgroup2 is not used
        else:
            raise NotFound(
                "no cgroup file system is mounted where this process can see its own cgroup "
                "(read /proc/self/mountinfo and /proc/self/cgroup): mount cgroup2 at "
                "/sys/fs/cgroup, or the v1 controllers beneath it"
            )
        if unified is not None:
            hierarchies.append(unified)
        return cls(mode, tuple(hierarchies), bfq=bfq, memsw=memsw)

    @classmethod
    def detect(cls) -> Layout:
        """The layout of this host, as this process sees it.

        The texts are read every time; parsing them is done once per distinct text
        (a long-lived process such as the monitor reads the same ones for every
        container): the parse is kept, keyed by the cgroup lines of mountinfo and
        /proc/self/cgroup it came from. The probes (our cgroup2 controllers, BFQ,
        swap accounting) are made afresh each time.
        """
        with open("/proc/self/mountinfo") as f:
            mountinfo = f.read()
        with open("/proc/self/cgroup") as f:
            proc_cgroup = f.read()
        # only cgroup mounts matter (fstype "cgroup" or "cgroup2", after the " - ")
        cgroup_mounts = "\n".join(line for line in mountinfo.splitlines() if " - cgroup" in line)
        key = (cgroup_mounts, proc_cgroup)
        layout = _PARSED.get(key)
        if layout is None:
            layout = cls.parse(cgroup_mounts, proc_cgroup)
            _PARSED.clear()
            _PARSED[key] = layout
        import os

        unified = layout.unified
        controllers = ""
        if unified is not None:
            try:
                with open(os.path.join(unified.own_dir, "cgroup.controllers")) as f:
                    controllers = f.read()
            except OSError:
                controllers = ""
        blkio = layout.hierarchy("blkio")
        if layout.mode == "v2" and unified is not None:
            bfq = os.path.exists(os.path.join(unified.own_dir, "io.bfq.weight"))
        else:
            bfq = blkio is not None and os.path.exists(
                os.path.join(blkio.own_dir, "blkio.bfq.io_service_bytes")
            )
        memory = layout.hierarchy("memory")
        memsw = memory is not None and os.path.exists(
            os.path.join(memory.own_dir, "memory.memsw.limit_in_bytes")
        )
        # what parse(..., unified_controllers=controllers, bfq=bfq, memsw=memsw) gives,
        # without parsing the texts again
        hierarchies = tuple(
            Hierarchy(2, tuple(controllers.split()), h.mountpoint, h.root, h.own)
            if h.kind == 2
            else h
            for h in layout.hierarchies
        )
        return cls(layout.mode, hierarchies, bfq=bfq, memsw=memsw)

    # -- queries ----------------------------------------------------------------------
    @property
    def unified(self) -> Hierarchy | None:
        for h in self.hierarchies:
            if h.kind == 2:
                return h
        return None

    def hierarchy(self, key: str) -> Hierarchy | None:
        """The hierarchy answering to ``key`` (a controller, ``name=systemd`` or ``unified``)."""
        for h in self.hierarchies:
            if key in h.keys:
                return h
        return None

    def unified_only(self) -> Layout:
        """A pure-v2 layout over this host's cgroup2 hierarchy (hybrid hosts: tests, tools)."""
        unified = self.unified
        if unified is None:
            raise NotFound(f"no cgroup2 hierarchy in this {self.mode} layout")
        return Layout("v2", (unified,), bfq=False, memsw=False)

    # -- on disk ----------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "bfq": self.bfq,
            "memsw": self.memsw,
            "hierarchies": [h.to_json() for h in self.hierarchies],
        }

    @classmethod
    def from_json(cls, doc: Any) -> Layout:
        if not isinstance(doc, dict) or not isinstance(doc.get("hierarchies"), list):
            raise InvalidArgument(f"cgroup state: malformed layout {doc!r}")
        return cls(
            str(doc.get("mode")),
            tuple(Hierarchy.from_json(h) for h in doc["hierarchies"]),
            bfq=bool(doc.get("bfq", False)),
            memsw=bool(doc.get("memsw", True)),
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Layout) and self.to_json() == other.to_json()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Layout({self.mode}, {list(self.hierarchies)})"
