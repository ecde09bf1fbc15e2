"""Cgroup lifecycle logic on a fake file system: create, apply, add, freeze, kill, destroy."""

from __future__ import annotations

import pytest

from berth.cgroups import Cgroup, Layout, open_cgroup
from berth.errors import InvalidArgument, KernelError, NotFound
from berth.oci.runtime_spec import Resources
from support import cgroups_texts as t
from support.cgroups_fakefs import FakeFS

HYBRID = Layout.parse(t.HYBRID_MOUNTINFO, t.HYBRID_CGROUP, unified_controllers="hugetlb")
V2 = Layout.parse(t.V2_MOUNTINFO, t.V2_CGROUP, unified_controllers=t.V2_CONTROLLERS)
MEM = "/sys/fs/cgroup/memory" + t.OWN_MEMORY
V2_OWN = "/sys/fs/cgroup/user.slice/user-0.slice/session-3.scope"


def hybrid_fs() -> FakeFS:
    dirs = {h.own_dir for h in HYBRID.hierarchies}
    files = {
        "/sys/fs/cgroup/cpuset/cpuset.cpus": "0-1\n",
        "/sys/fs/cgroup/cpuset/cpuset.mems": "0\n",
    }

    def on_mkdir(path: str) -> dict[str, str]:
        if path.startswith("/sys/fs/cgroup/cpuset/"):
            return {"cpuset.cpus": "\n", "cpuset.mems": "\n"}
        if path.startswith("/sys/fs/cgroup/freezer/"):
            return {"freezer.state": "THAWED\n"}
        if path.startswith("/sys/fs/cgroup/unified/"):
            return {"cgroup.kill": "", "cgroup.events": "populated 0\nfrozen 0\n"}
        if path.startswith("/sys/fs/cgroup/memory/"):
            return {"memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n"}
        return {}

    return FakeFS(dirs, files, on_mkdir)


def test_create_makes_every_directory_and_fills_cpuset() -> None:
    fs = hybrid_fs()
    cg = open_cgroup("berth/c1", "c1", HYBRID, fs=fs)
    cg.create()
    for d in cg.dirs:
        assert d in fs.dirs
    assert fs.files["/sys/fs/cgroup/cpuset/berth/cpuset.cpus"] == "0-1"
    assert fs.files["/sys/fs/cgroup/cpuset/berth/c1/cpuset.cpus"] == "0-1"
    assert fs.files["/sys/fs/cgroup/cpuset/berth/c1/cpuset.mems"] == "0"
    assert f"{MEM}/berth" in cg.created and f"{MEM}/berth/c1" in cg.created
    # nothing is written outside the directories it made
    for path, _ in fs.writes():
        assert path.rsplit("/", 1)[0] in cg.created
    log = list(fs.log)
    cg.create()  # idempotent
    assert fs.log == log


def test_create_rolls_back_on_failure() -> None:
    fs = hybrid_fs()
    fs.fail["/sys/fs/cgroup/cpuset/c1/cpuset.cpus"] = 28
    cg = open_cgroup(None, "c1", HYBRID, fs=fs)
    with pytest.raises(KernelError):
        cg.create()
    assert not any(d in fs.dirs for d in cg.dirs)
    assert cg.created == ()


def test_destroy_removes_only_what_create_made() -> None:
    fs = hybrid_fs()
    fs.dirs.add(f"{MEM}/parent")  # a pre-existing --cgroup-parent
    cg = open_cgroup("parent/c1", "c1", HYBRID, fs=fs)
    cg.create()
    fs.mkdir(f"{cg.paths['memory']}/inner")  # made by the container itself
    cg.destroy()
    assert f"{MEM}/parent" in fs.dirs
    assert not any(d in fs.dirs for d in cg.dirs)
    assert "/sys/fs/cgroup/cpu/parent" not in fs.dirs  # made by create, so removed
    assert cg.created == ()
    cg.destroy()  # idempotent


def test_destroy_leaves_a_shared_parent_and_retries_busy_leaves() -> None:
    fs = hybrid_fs()
    a = open_cgroup("berth/a", "a", HYBRID, fs=fs)
    b = open_cgroup("berth/b", "b", HYBRID, fs=fs)
    a.create()
    b.create()
    fs.busy[a.paths["memory"]] = 2
    a.destroy()
    assert f"{MEM}/berth" in fs.dirs and f"{MEM}/berth/b" in fs.dirs
    assert a.paths["memory"] not in fs.dirs
    assert ("sleep", "0.005") in fs.log


def test_destroy_gives_up_on_processes_that_stay() -> None:
    fs = hybrid_fs()
    cg = open_cgroup(None, "c1", HYBRID, fs=fs)
    cg.create()
    fs.busy[cg.paths["pids"]] = 10**9
    with pytest.raises(KernelError, match="processes are still in it"):
        cg.destroy(timeout=0.01)


def test_apply_writes_the_plan_in_order() -> None:
    fs = hybrid_fs()
    cg = open_cgroup(None, "c1", HYBRID, fs=fs)
    cg.create()
    res = Resources.from_json({"memory": {"limit": 1 << 26}, "pids": {"limit": 7}})
    before = len(fs.writes())
    cg.apply(res)
    assert fs.writes()[before:] == [(w.path, w.value) for w in cg.plan(res)]
    assert fs.filters == {}  # hybrid: v1 devices controller, no eBPF


def test_a_refused_write_names_file_and_value() -> None:
    fs = hybrid_fs()
    cg = open_cgroup(None, "c1", HYBRID, fs=fs)
    cg.create()
    path = f"{cg.paths['pids']}/pids.max"
    fs.fail[path] = 22
    with pytest.raises(KernelError, match=f"write '7' to {path}: Invalid argument"):
        cg.apply(Resources.from_json({"pids": {"limit": 7}}))


def test_add_joins_every_hierarchy_once_and_procs_walks_children() -> None:
    fs = hybrid_fs()
    cg = open_cgroup(None, "c1", HYBRID, fs=fs)
    cg.create()
    cg.add(42)
    joined = [p for p, v in fs.writes() if p.endswith("/cgroup.procs")]
    assert sorted(joined) == sorted(f"{d}/cgroup.procs" for d in cg.dirs)
    child = f"{cg.paths['freezer']}/inner"
    fs.mkdir(child)
    fs.files[f"{child}/cgroup.procs"] = "43\n44\n"
    assert cg.procs() == [42, 43, 44]


def test_freeze_polls_v1_freezer_state() -> None:
    fs = hybrid_fs()
    cg = open_cgroup(None, "c1", HYBRID, fs=fs)
    cg.create()
    state = f"{cg.paths['freezer']}/freezer.state"
    reads = iter(["FREEZING\n", "FREEZING\n", "FROZEN\n"])
    real_read = fs.read
    fs.read = lambda p: next(reads) if p == state else real_read(p)  # type: ignore[method-assign]
    cg.freeze()
    assert [v for p, v in fs.writes() if p == state] == ["FROZEN"] * 3
    fs.read = real_read  # type: ignore[method-assign]
    assert cg.frozen()
    cg.thaw()
    assert not cg.frozen()


def test_freeze_timeout_thaws_and_raises() -> None:
    fs = hybrid_fs()
    cg = open_cgroup(None, "c1", HYBRID, fs=fs)
    cg.create()
    state = f"{cg.paths['freezer']}/freezer.state"
    real_write = fs.write

    def stuck(path: str, value: str) -> None:
        real_write(path, value)
        if path == state and value == "FROZEN":
            fs.files[path] = "FREEZING\n"

    fs.write = stuck  # type: ignore[method-assign]
    with pytest.raises(KernelError, match="did not settle"):
        cg.freeze(timeout=0.01)
    assert fs.files[state] == "THAWED"


def test_kill_on_hybrid_goes_through_the_v1_freezer() -> None:
    # Not cgroup.kill: once used on a cgroup2 directory, this kernel kills every
    # process later born into it with CLONE_INTO_CGROUP (see Cgroup.kill).
    fs = hybrid_fs()
    cg = open_cgroup(None, "c1", HYBRID, fs=fs)
    cg.create()
    cg.add(42)
    cg.kill(9)
    assert (f"{cg.paths['unified']}/cgroup.kill", "1") not in fs.writes()
    assert fs.killed == [(42, 9)]
    cg.kill(15)
    assert fs.killed == [(42, 9), (42, 15)]


def test_kill_on_v1_freezes_around_sigkill() -> None:
    v1 = Layout.parse(t.V1_MOUNTINFO, t.V1_CGROUP)
    fs = FakeFS(
        {h.own_dir for h in v1.hierarchies},
        on_mkdir=lambda p: {"freezer.state": "THAWED\n"} if "/freezer/" in p else {},
    )
    fs.files["/sys/fs/cgroup/cpuset/cpuset.cpus"] = "0"
    fs.files["/sys/fs/cgroup/cpuset/cpuset.mems"] = "0"
    fs.on_mkdir = lambda p: (
        {"freezer.state": "THAWED\n"}
        if "/freezer/" in p
        else {"cpuset.cpus": "", "cpuset.mems": ""}
        if "/cpuset/" in p
        else {}
    )
    cg = open_cgroup(None, "c1", v1, fs=fs)
    cg.create()
    cg.add(42)
    cg.kill(9)
    states = [v for p, v in fs.writes() if p.endswith("freezer.state")]
    assert states[0] == "FROZEN" and states[-1] == "THAWED"
    assert fs.killed == [(42, 9)]


def test_oom_kills_and_to_json() -> None:
    fs = hybrid_fs()
    cg = open_cgroup(None, "c1", HYBRID, fs=fs)
    assert cg.oom_kills() == 0  # not created yet: nothing to read
    assert cg.procs() == [] and not cg.exists()
    cg.kill(15)  # nothing to signal
    cg.create()
    assert cg.exists()
    assert cg.oom_kills() == 3
    again = Cgroup.from_json(cg.to_json(), fs=fs)
    assert again.created == cg.created
    again.destroy()
    assert not any(d in fs.dirs for d in cg.dirs)


def test_update_reads_current_values_for_order() -> None:
    fs = hybrid_fs()
    cg = open_cgroup(None, "c1", HYBRID, fs=fs)
    cg.create()
    mem = cg.paths["memory"]
    fs.files[f"{mem}/memory.limit_in_bytes"] = str(64 << 20)
    fs.files[f"{mem}/memory.usage_in_bytes"] = str(100 << 20)
    cg.update(Resources.from_json({"memory": {"limit": 256 << 20, "swap": 512 << 20}}))
    files = [p.rsplit("/", 1)[1] for p, _ in fs.writes() if p.startswith(mem + "/memory.")]
    assert files[-2:] == ["memory.memsw.limit_in_bytes", "memory.limit_in_bytes"]
    with pytest.raises(InvalidArgument, match="checkBeforeUpdate"):
        cg.update(Resources.from_json({"memory": {"limit": 50 << 20, "checkBeforeUpdate": True}}))


# -- pure v2 ---------------------------------------------------------------------------------
def v2_fs(subtree: str = "") -> FakeFS:
    files = {
        f"{V2_OWN}/cgroup.controllers": t.V2_CONTROLLERS,
        f"{V2_OWN}/cgroup.subtree_control": subtree,
    }

    def on_mkdir(path: str) -> dict[str, str]:
        parent = path.rsplit("/", 1)[0]
        enabled = fs.files.get(f"{parent}/cgroup.subtree_control", "")
        return {
            "cgroup.controllers": enabled,
            "cgroup.subtree_control": "",
            "cgroup.events": "populated 0\nfrozen 0\n",
            "cgroup.freeze": "0",
            "memory.events": "low 0\nhigh 0\nmax 0\noom 1\noom_kill 1\n",
        }

    fs = FakeFS({V2_OWN}, files, on_mkdir)
    real_read = fs.read

    def read(path: str) -> str:  # as in the kernel: what the parent enabled, now
        d, name = path.rsplit("/", 1)
        if name == "cgroup.controllers" and d != V2_OWN and d in fs.dirs:
            return fs.files.get(f"{d.rsplit('/', 1)[0]}/cgroup.subtree_control", "")
        return real_read(path)

    fs.read = read  # type: ignore[method-assign]
    return fs


def test_v2_create_enables_basic_controllers_down_the_chain() -> None:
    fs = v2_fs()
    real_write = fs.write

    def write(path: str, value: str) -> None:  # subtree_control accumulates like the kernel's
        if path.endswith("cgroup.subtree_control"):
            old = set(fs.files.get(path, "").split())
            old.update(v.lstrip("+") for v in value.split())
            fs.log.append(("write", path, value))
            fs.files[path] = " ".join(sorted(old))
            return
        real_write(path, value)

    fs.write = write  # type: ignore[method-assign]
    cg = open_cgroup("berth/c1", "c1", V2, fs=fs)
    cg.create()
    enabled = [(p, v) for p, v in fs.writes() if p.endswith("subtree_control")]
    assert enabled == [
        (f"{V2_OWN}/cgroup.subtree_control", "+cpu +io +memory +pids"),
        (f"{V2_OWN}/berth/cgroup.subtree_control", "+cpu +io +memory +pids"),
    ]
    cg.apply(Resources.from_json({"cpu": {"cpus": "0"}}))
    assert (f"{V2_OWN}/cgroup.subtree_control", "+cpuset") in fs.writes()
    assert fs.files[f"{cg.paths['unified']}/cpuset.cpus"] == "0"
    assert f"{cg.paths['unified']}/cgroup.subtree_control" not in [p for p, _ in fs.writes()]


def test_v2_a_parent_that_refuses_is_left_alone() -> None:
    fs = v2_fs()
    fs.fail[f"{V2_OWN}/cgroup.subtree_control"] = 16
    cg = open_cgroup(None, "c1", V2, fs=fs)
    cg.create()  # no exception: the write that needs the controller will say what is missing
    assert cg.paths["unified"] in fs.dirs


def test_v2_devices_become_a_program_and_freeze_uses_cgroup_freeze() -> None:
    fs = v2_fs("cpu io memory pids")
    cg = open_cgroup(None, "c1", V2, fs=fs)
    cg.create()
    res = Resources.from_json({"devices": [{"allow": False, "access": "rwm"}]})
    assert cg.plan(res) == []
    cg.apply(res)
    assert fs.filters[cg.paths["unified"]] == cg.device_program(res)
    d = cg.paths["unified"]
    real_write = fs.write

    def write(path: str, value: str) -> None:
        real_write(path, value)
        if path == f"{d}/cgroup.freeze":
            fs.files[f"{d}/cgroup.events"] = f"populated 1\nfrozen {value}\n"

    fs.write = write  # type: ignore[method-assign]
    cg.freeze()
    assert cg.frozen()
    cg.thaw()
    assert not cg.frozen()
    assert cg.oom_kills() == 1


def test_hybrid_without_v1_devices_uses_ebpf_on_unified() -> None:
    mountinfo = "\n".join(line for line in t.HYBRID_MOUNTINFO.splitlines() if "devices" not in line)
    proc = "\n".join(line for line in t.HYBRID_CGROUP.splitlines() if "devices" not in line)
    layout = Layout.parse(mountinfo, proc)
    cg = open_cgroup(None, "c1", layout, fs=FakeFS())
    res = Resources.from_json({"devices": [{"allow": False, "access": "rwm"}]})
    assert cg.plan(res) == [] and cg.device_program(res) is not None
    assert open_cgroup(None, "c1", HYBRID).device_program(res) is None


def test_no_freezer_anywhere() -> None:
    v1 = Layout.parse(t.DOCKER_V1_MOUNTINFO, t.DOCKER_V1_CGROUP)
    cg = open_cgroup(None, "c1", v1, fs=FakeFS())
    with pytest.raises(NotFound, match="cannot pause"):
        cg.freeze()


def test_ignored_depends_on_the_mode() -> None:
    res = Resources.from_json({"memory": {"swappiness": 5}})
    assert open_cgroup(None, "c", V2).ignored(res) != []
    assert open_cgroup(None, "c", HYBRID).ignored(res) == []
