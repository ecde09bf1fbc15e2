"""Layout parsing: v1, v2 and hybrid texts, and property tests of the parsers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.cgroups.layout import (
    Hierarchy,
    Layout,
    MountEntry,
    parse_mountinfo,
    parse_proc_cgroup,
    unescape,
)
from berth.errors import InvalidArgument, NotFound
from support import cgroups_texts as t


def test_hybrid_this_machine() -> None:
    layout = Layout.parse(t.HYBRID_MOUNTINFO, t.HYBRID_CGROUP, unified_controllers="hugetlb\n")
    assert layout.mode == "hybrid"
    names = [h.name for h in layout.hierarchies]
    assert names == [
        "name=systemd",
        "pids",
        "blkio",
        "freezer",
        "devices",
        "memory",
        "cpuset",
        "cpuacct",
        "cpu",
        "unified",
    ]
    memory = layout.hierarchy("memory")
    assert memory is not None
    assert memory.own == t.OWN_MEMORY
    assert memory.own_dir == "/sys/fs/cgroup/memory" + t.OWN_MEMORY
    unified = layout.unified
    assert unified is not None and unified.kind == 2
    assert unified.mountpoint == "/sys/fs/cgroup/unified"
    assert unified.controllers == ("hugetlb",)
    assert layout.hierarchy("unified") is unified
    assert layout.hierarchy("hugetlb") is None


def test_v1_comounted_controllers() -> None:
    layout = Layout.parse(t.V1_MOUNTINFO, t.V1_CGROUP)
    assert layout.mode == "v1"
    assert layout.unified is None  # the 0:: line has no cgroup2 mount
    cpu = layout.hierarchy("cpu")
    assert cpu is not None and cpu is layout.hierarchy("cpuacct")
    assert cpu.controllers == ("cpu", "cpuacct")
    assert cpu.mountpoint == "/sys/fs/cgroup/cpu,cpuacct"
    assert cpu.own == "/user.slice"
    net = layout.hierarchy("net_prio")
    assert net is not None and net.keys == ("net_cls", "net_prio")
    systemd = layout.hierarchy("name=systemd")
    assert systemd is not None and systemd.own == "/user.slice/user-0.slice/session-1.scope"
    assert layout.hierarchy("rdma") is not None and layout.hierarchy("hugetlb") is not None


def test_v2_only() -> None:
    layout = Layout.parse(t.V2_MOUNTINFO, t.V2_CGROUP, unified_controllers=t.V2_CONTROLLERS)
    assert layout.mode == "v2"
    assert len(layout.hierarchies) == 1
    h = layout.hierarchies[0]
    assert h.kind == 2 and h.mountpoint == "/sys/fs/cgroup"
    assert h.own_dir == "/sys/fs/cgroup/user.slice/user-0.slice/session-3.scope"
    assert "memory" in h.controllers and "io" in h.controllers
    assert layout.hierarchy("memory") is None  # v2 controllers are not separate hierarchies


def test_inside_a_container_without_cgroupns() -> None:
    layout = Layout.parse(t.DOCKER_V1_MOUNTINFO, t.DOCKER_V1_CGROUP)
    memory = layout.hierarchy("memory")
    assert memory is not None
    assert memory.root == "/docker/abc"
    assert memory.own_dir == "/sys/fs/cgroup/memory"
    assert memory.directory("/docker/abc/child") == "/sys/fs/cgroup/memory/child"
    with pytest.raises(InvalidArgument, match="outside the part"):
        memory.directory("/elsewhere")


def test_unmounted_controllers_are_skipped() -> None:
    text = t.HYBRID_CGROUP + "10:hugetlb:/\n11:net_cls:/\n"
    layout = Layout.parse(t.HYBRID_MOUNTINFO, text)
    assert layout.hierarchy("hugetlb") is None and layout.hierarchy("net_cls") is None


def test_nothing_mounted() -> None:
    with pytest.raises(NotFound, match="no cgroup file system"):
        Layout.parse("22 1 254:0 / / rw - ext4 /dev/vda rw\n", "0::/\n")


def test_malformed_proc_cgroup() -> None:
    with pytest.raises(InvalidArgument, match="malformed line"):
        parse_proc_cgroup("garbage\n")


def test_unified_only_view() -> None:
    layout = Layout.parse(t.HYBRID_MOUNTINFO, t.HYBRID_CGROUP)
    v2 = layout.unified_only()
    assert v2.mode == "v2" and v2.hierarchies == (layout.unified,)
    with pytest.raises(NotFound):
        Layout.parse(t.V1_MOUNTINFO, t.V1_CGROUP).unified_only()


def test_layout_round_trips_json() -> None:
    for mi, pc in (
        (t.HYBRID_MOUNTINFO, t.HYBRID_CGROUP),
        (t.V1_MOUNTINFO, t.V1_CGROUP),
        (t.V2_MOUNTINFO, t.V2_CGROUP),
    ):
        layout = Layout.parse(mi, pc, bfq=True, memsw=False)
        assert Layout.from_json(layout.to_json()) == layout
    with pytest.raises(InvalidArgument):
        Layout.from_json({"mode": "v3", "hierarchies": []})
    with pytest.raises(InvalidArgument):
        Layout.from_json({"mode": "v1", "hierarchies": [{"kind": 1}]})


def test_mountinfo_escapes() -> None:
    line = "40 31 0:37 / /mnt/with\\040space rw - cgroup cgroup rw,memory\n"
    assert parse_mountinfo(line) == [MountEntry("/", "/mnt/with space", "cgroup", "rw,memory")]


# -- property tests ------------------------------------------------------------------------
def escape(s: str) -> str:
    return "".join(f"\\{ord(c):03o}" if c in " \t\n\\" else c for c in s)


name_chars = st.sampled_from("abcxyz019._- \\")
segment = st.text(name_chars, min_size=1, max_size=8).filter(lambda s: s not in (".", ".."))
cg_path = st.lists(segment, max_size=4).map(lambda parts: "/" + "/".join(parts))


@given(st.text(st.sampled_from("ab \\\t017"), max_size=20))
def test_unescape_inverts_escape(s: str) -> None:
    assert unescape(escape(s)) == s


CONTROLLERS = ["cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids"]


@st.composite
def layouts(draw: st.DrawFn) -> tuple[str, str, list[tuple[tuple[str, ...], str, str]], str | None]:
    """A random set of hierarchies rendered as (mountinfo, proc cgroup, expected, unified own)."""
    chosen = draw(st.lists(st.sampled_from(CONTROLLERS), unique=True, max_size=len(CONTROLLERS)))
    groups: list[tuple[str, ...]] = []
    i = 0
    while i < len(chosen):
        size = draw(st.integers(1, 2))
        groups.append(tuple(chosen[i : i + size]))
        i += size
    if draw(st.booleans()):
        groups.append(("name=systemd",))
    unified_own = draw(st.one_of(st.none(), cg_path))
    if not chosen and unified_own is None:
        unified_own = "/"
    base = draw(st.sampled_from(["/sys/fs/cgroup", "/run/cg roups"]))
    mount_lines, cgroup_lines, expected = [], [], []
    for n, group in enumerate(groups, start=1):
        own = draw(cg_path)
        mp = f"{base}/{','.join(c.removeprefix('name=') for c in group)}"
        mount_lines.append(
            f"{30 + n} 20 0:{n} / {escape(mp)} rw,relatime - cgroup cgroup rw,{','.join(group)}"
        )
        cgroup_lines.append(f"{n}:{','.join(group)}:{own}")
        expected.append((group, mp, own))
    if unified_own is not None:
        mp = base if not groups else f"{base}/unified"
        mount_lines.append(f"99 20 0:99 / {escape(mp)} rw - cgroup2 cgroup2 rw")
        cgroup_lines.append(f"0::{unified_own}")
    mount_lines.append("22 1 254:0 / / rw - ext4 /dev/vda rw")
    order = draw(st.permutations(range(len(mount_lines))))
    mountinfo = "\n".join(mount_lines[i] for i in order) + "\n"
    return mountinfo, "\n".join(reversed(cgroup_lines)) + "\n", expected, unified_own


@given(layouts())
def test_parse_finds_every_hierarchy(
    case: tuple[str, str, list[tuple[tuple[str, ...], str, str]], str | None],
) -> None:
    mountinfo, proc_cgroup, expected, unified_own = case
    layout = Layout.parse(mountinfo, proc_cgroup)
    has_controllers = any(g != ("name=systemd",) for g, _, _ in expected)
    if has_controllers:
        assert layout.mode == ("hybrid" if unified_own is not None else "v1")
        for group, mp, own in expected:
            h = layout.hierarchy(group[0])
            assert h is not None
            assert h.controllers == group and h.mountpoint == mp and h.own == own
            assert h.own_dir == mp + (own if own != "/" else "")
    else:
        assert layout.mode == "v2"
        assert [h.kind for h in layout.hierarchies] == [2]
    if unified_own is not None:
        assert layout.unified is not None and layout.unified.own == unified_own
    assert Layout.from_json(layout.to_json()) == layout


@given(
    st.lists(
        st.tuples(st.integers(0, 20), st.lists(st.sampled_from(CONTROLLERS), max_size=3), cg_path),
        max_size=8,
    )
)
def test_parse_proc_cgroup_reads_back(lines: list[tuple[int, list[str], str]]) -> None:
    text = "".join(f"{h}:{','.join(cs)}:{p}\n" for h, cs, p in lines)
    assert parse_proc_cgroup(text) == [(str(h), tuple(cs), p) for h, cs, p in lines]


def test_hierarchy_directory_with_root_mount() -> None:
    h = Hierarchy(1, ("memory",), "/sys/fs/cgroup/memory", "/", "/a")
    assert h.directory("/") == "/sys/fs/cgroup/memory"
    assert h.directory("/a/b") == "/sys/fs/cgroup/memory/a/b"


def test_detect_parses_each_text_once_and_probes_every_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Layout.detect keeps its parse keyed by the texts: the same texts are parsed once,
    new ones (another cgroup of ours) again; cgroup.controllers is read every time."""
    import builtins
    import io

    from berth.cgroups import layout as layout_mod

    files = {
        "/proc/self/mountinfo": t.HYBRID_MOUNTINFO + "99 1 0:99 / /mnt/x rw - overlay o rw\n",
        "/proc/self/cgroup": t.HYBRID_CGROUP,
        "/sys/fs/cgroup/unified/cgroup.controllers": "hugetlb\n",
    }
    real_open = builtins.open

    def fake_open(path: str, *args: object, **kw: object) -> object:
        if path in files:
            return io.StringIO(files[path])
        if str(path).startswith(("/proc/", "/sys/")):
            raise FileNotFoundError(path)
        return real_open(path, *args, **kw)  # type: ignore[call-overload]

    parses: list[str] = []
    real_parse = Layout.parse.__func__  # type: ignore[attr-defined]

    def counting_parse(cls: type[Layout], mountinfo: str, proc_cgroup: str, **kw: object) -> Layout:
        parses.append(proc_cgroup)
        return real_parse(cls, mountinfo, proc_cgroup, **kw)  # type: ignore[no-any-return]

    monkeypatch.setattr(builtins, "open", fake_open)
    monkeypatch.setattr(Layout, "parse", classmethod(counting_parse))
    monkeypatch.setattr(layout_mod, "_PARSED", {})
    first = Layout.detect()
    files["/proc/self/mountinfo"] += "100 1 0:100 / /mnt/y rw - overlay o rw\n"  # not cgroup
    files["/sys/fs/cgroup/unified/cgroup.controllers"] = "hugetlb pids\n"
    second = Layout.detect()
    assert len(parses) == 1
    unified = second.unified
    assert unified is not None and unified.controllers == ("hugetlb", "pids")
    assert [h.name for h in first.hierarchies] == [h.name for h in second.hierarchies]
    files["/proc/self/cgroup"] = t.HYBRID_CGROUP.replace(t.OWN_MEMORY, "/other")
    third = Layout.detect()
    assert len(parses) == 2
    memory = third.hierarchy("memory")
    assert memory is not None and memory.own == "/other"
