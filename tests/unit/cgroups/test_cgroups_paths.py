"""Where a container's cgroup goes, and that no planned write can land outside it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from berth.cgroups import Cgroup, Layout, open_cgroup, resolve
from berth.cgroups.layout import Hierarchy
from berth.errors import InvalidArgument
from berth.oci.runtime_spec import Resources
from support import cgroups_texts as t

HYBRID = Layout.parse(t.HYBRID_MOUNTINFO, t.HYBRID_CGROUP, bfq=True)
V1 = Layout.parse(t.V1_MOUNTINFO, t.V1_CGROUP)
V2 = Layout.parse(t.V2_MOUNTINFO, t.V2_CGROUP, unified_controllers=t.V2_CONTROLLERS)
MEM_ROOT = "/sys/fs/cgroup/memory"
OWN_MEM_DIR = MEM_ROOT + t.OWN_MEMORY


def test_default_is_the_id_beneath_our_own_cgroup() -> None:
    cg = open_cgroup(None, "c1", HYBRID)
    assert cg.paths["memory"] == f"{OWN_MEM_DIR}/c1"
    assert cg.paths["cpu"] == "/sys/fs/cgroup/cpu/c1"
    assert cg.paths["unified"] == "/sys/fs/cgroup/unified/c1"
    assert cg.paths["name=systemd"] == "/sys/fs/cgroup/systemd/c1"
    assert open_cgroup("", "c1", HYBRID).paths == cg.paths


def test_relative_nests_under_our_own_cgroup_in_each_hierarchy() -> None:
    cg = open_cgroup("berth/c1", "c1", V1)
    assert cg.paths["memory"] == (
        "/sys/fs/cgroup/memory/user.slice/user-0.slice/session-1.scope/berth/c1"
    )
    assert cg.paths["cpu"] == "/sys/fs/cgroup/cpu,cpuacct/user.slice/berth/c1"
    assert cg.paths["cpuacct"] == cg.paths["cpu"]
    assert cg.paths["cpuset"] == "/sys/fs/cgroup/cpuset/berth/c1"


def test_absolute_is_from_the_hierarchy_root() -> None:
    cg = open_cgroup(f"{t.OWN_MEMORY}/berth/c1", "c1", HYBRID)
    assert cg.paths["memory"] == f"{OWN_MEM_DIR}/berth/c1"
    assert cg.paths["cpu"] == f"/sys/fs/cgroup/cpu{t.OWN_MEMORY}/berth/c1"
    v2 = open_cgroup("/machine/c1", "c1", V2)
    assert v2.paths == {"unified": "/sys/fs/cgroup/machine/c1"}


def test_paths_are_normalized() -> None:
    assert open_cgroup("a//b/", "x", V2).paths == open_cgroup("a/b", "x", V2).paths


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("system.slice:docker:c1", "systemd slice:prefix:name"),
        ("../escape", "not a plain directory name"),
        ("a/./b", "not a plain directory name"),
        ("/", "holds berth's own"),
        (t.OWN_MEMORY, "holds berth's own"),
        ("/process_api", "holds berth's own"),
    ],
)
def test_refused_paths(path: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        open_cgroup(path, "c1", HYBRID)


@pytest.mark.parametrize("cid", ["", "a/b", ".", ".."])
def test_refused_container_ids(cid: str) -> None:
    with pytest.raises(InvalidArgument, match="cannot name a cgroup"):
        open_cgroup(None, cid, HYBRID)


def test_state_cannot_name_a_foreign_directory() -> None:
    cg = open_cgroup(None, "c1", HYBRID)
    doc = cg.to_json()
    doc["created"] = ["/etc"]
    with pytest.raises(InvalidArgument, match="not on the path"):
        Cgroup.from_json(doc)
    doc = cg.to_json()
    doc["cgroupPaths"] = [t.OWN_MEMORY if i == 5 else p for i, p in enumerate(doc["cgroupPaths"])]
    with pytest.raises(InvalidArgument, match="not a new cgroup"):
        Cgroup.from_json(doc)


def test_state_round_trip() -> None:
    cg = open_cgroup("berth/c1", "c1", V1)
    again = Cgroup.from_json(cg.to_json())
    assert again.paths == cg.paths and again.layout == cg.layout and again.name == "c1"
    with pytest.raises(InvalidArgument, match="schema version"):
        Cgroup.from_json({**cg.to_json(), "schemaVersion": 2})


# -- the guarantee, as properties ----------------------------------------------------------
segments = st.sampled_from(
    ["a", "berth", "..", ".", "", "process_api", t.OWN_MEMORY.strip("/").split("/")[1], "c1"]
)
paths = st.builds(
    lambda lead, parts: lead + "/".join(parts),
    st.sampled_from(["", "/", "//"]),
    st.lists(segments, max_size=5),
)


@given(paths, st.sampled_from([HYBRID, V1, V2]))
def test_resolved_cgroup_is_never_ours_or_an_ancestor(path: str, layout: Layout) -> None:
    for h in layout.hierarchies:
        try:
            cg = resolve(path, "c1", h)
        except InvalidArgument:
            continue
        own = h.own.rstrip("/")
        assert cg != own and not own.startswith(cg + "/") and cg != "/"
        if not (path or "c1").startswith("/"):
            assert cg.startswith(own + "/")


def _resources() -> st.SearchStrategy[Resources]:
    size = st.integers(1 << 20, 1 << 34)
    dev = st.fixed_dictionaries(
        {
            "major": st.integers(0, 300),
            "minor": st.integers(0, 300),
            "rate": st.integers(0, 1 << 30),
        }
    )
    doc = st.fixed_dictionaries(
        {},
        optional={
            "memory": st.builds(
                lambda lim, extra, r: {"limit": lim, "swap": lim + extra, "reservation": r},
                size,
                size,
                size,
            ),
            "cpu": st.fixed_dictionaries(
                {},
                optional={
                    "shares": st.integers(2, 262144),
                    "quota": st.integers(1000, 10**6),
                    "period": st.integers(1000, 10**6),
                    "cpus": st.sampled_from(["0", "0-1", "1,3"]),
                    "mems": st.just("0"),
                },
            ),
            "pids": st.builds(lambda n: {"limit": n}, st.integers(-1, 10**5)),
            "blockIO": st.fixed_dictionaries(
                {},
                optional={
                    "weight": st.integers(10, 1000),
                    "throttleReadBpsDevice": st.lists(dev, max_size=2),
                    "throttleWriteIOPSDevice": st.lists(dev, max_size=2),
                },
            ),
            "devices": st.lists(
                st.fixed_dictionaries(
                    {
                        "allow": st.booleans(),
                        "type": st.sampled_from(["a", "b", "c"]),
                        "access": st.sampled_from(["r", "rw", "rwm"]),
                    }
                ),
                max_size=4,
            ),
        },
    )
    return doc.map(Resources.from_json)


@settings(max_examples=200)
@given(paths, _resources(), st.sampled_from([HYBRID, V1, V2]))
def test_no_planned_write_leaves_the_container_directory(
    path: str, res: Resources, layout: Layout
) -> None:
    try:
        cg = open_cgroup(path, "c1", layout)
    except InvalidArgument:
        return
    container_dirs = set(cg.dirs)
    own_dirs = {h.own_dir for h in layout.hierarchies}
    for d in container_dirs:
        mount = next(h.mountpoint for h in layout.hierarchies if d.startswith(h.mountpoint + "/"))
        assert d.startswith(mount + "/")
        assert d not in own_dirs
        assert not any(o.startswith(d + "/") for o in own_dirs)
    roots = {h.mountpoint for h in layout.hierarchies}
    for w in cg.plan(res):
        assert w.directory in container_dirs, w
        # never our own cgroup nor a hierarchy's root -- of this layout (the HYBRID
        # constants are plain container directories in the V1 and V2 layouts)
        assert w.directory not in own_dirs and w.directory not in roots
        assert "/" not in w.filename


def test_apply_refuses_a_write_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    from berth.cgroups.write import Write
    from support.cgroups_fakefs import FakeFS

    fs = FakeFS(dirs={OWN_MEM_DIR})
    cg = open_cgroup(None, "c1", HYBRID, fs=fs)
    monkeypatch.setattr(
        Cgroup,
        "plan",
        lambda self, res, current=None: [Write(OWN_MEM_DIR, "memory.limit_in_bytes", "1")],
    )
    with pytest.raises(InvalidArgument, match="outside the container's cgroup"):
        cg.apply(Resources())
    assert fs.writes() == []


def test_write_names_are_plain_files() -> None:
    from berth.cgroups.write import Write

    for bad in ("../memory.limit_in_bytes", "a/b", "", ".", ".."):
        with pytest.raises(InvalidArgument, match="not a plain file name"):
            Write("/sys/fs/cgroup/memory/c1", bad, "1")


def test_hierarchy_equality() -> None:
    assert Hierarchy(1, ("cpu",), "/a", "/", "/") == Hierarchy(1, ("cpu",), "/a/", "/", "/")
