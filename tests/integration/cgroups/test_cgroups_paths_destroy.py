"""cgroupsPath resolution on the real hierarchies, and destroy() leaving nothing behind."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from berth.cgroups import Cgroup, Layout
from berth.errors import KernelError
from berth.oci.runtime_spec import Resources
from support.cgroups_worker import Worker

MakeCgroup = Callable[..., Cgroup]


def own(layout: Layout, key: str) -> str:
    h = layout.hierarchy(key)
    assert h is not None
    return h.own_dir


def proc_cgroup(pid: int) -> list[str]:
    with open(f"/proc/{pid}/cgroup") as f:
        return f.read().splitlines()


def test_default_is_the_id_beneath_our_own(
    make_cgroup: MakeCgroup, cgroup_worker: Callable[[], Worker], cgroup_layout: Layout
) -> None:
    cg = make_cgroup()
    for key, d in cg.paths.items():
        assert d == f"{own(cgroup_layout, key)}/{cg.name}"
    cg.create()
    w = cgroup_worker()
    cg.add(w.pid)
    memory = cgroup_layout.hierarchy("memory")
    assert memory is not None
    lines = proc_cgroup(w.pid)
    assert any(line.endswith(f":memory:{memory.own}/{cg.name}") for line in lines)
    if cgroup_layout.unified is not None:  # hybrid: the process is in the unified hierarchy too
        assert f"0::{cgroup_layout.unified.own.rstrip('/')}/{cg.name}" in lines


def test_relative_nests_under_our_own_cgroup(
    make_cgroup: MakeCgroup, cgroup_layout: Layout
) -> None:
    parent = f"berth-test-rel-{os.getpid()}"
    cg = make_cgroup(f"{parent}/c1")
    memory_own = own(cgroup_layout, "memory")
    assert cg.paths["memory"] == f"{memory_own}/{parent}/c1"
    cg.create()
    assert os.path.isdir(f"{memory_own}/{parent}/c1")
    assert f"{memory_own}/{parent}" in cg.created
    cg.destroy()
    assert not os.path.exists(f"{memory_own}/{parent}")
    assert not any(os.path.exists(d) for d in cg.dirs)


def test_absolute_is_relative_to_the_hierarchy_root(
    make_cgroup: MakeCgroup, cgroup_layout: Layout
) -> None:
    memory = cgroup_layout.hierarchy("memory")
    assert memory is not None
    top = f"berth-test-abs-{os.getpid()}"
    cg = make_cgroup(f"{memory.own}/{top}/c1")
    # in memory this lands beneath our own cgroup, never in the memory root
    assert cg.paths["memory"] == f"{memory.own_dir}/{top}/c1"
    cpu = cgroup_layout.hierarchy("cpu")
    assert cpu is not None
    assert cg.paths["cpu"] == f"{cpu.mountpoint}{memory.own}/{top}/c1"
    cg.create()
    made = cg.created
    assert cg.paths["cpu"] in made and cg.paths["memory"] in made
    assert f"{memory.own_dir}/{top}" in made
    memory_made = [d for d in made if d.startswith(memory.mountpoint + "/")]
    assert all(d.startswith(memory.own_dir + "/") for d in memory_made)  # none in the memory root
    cg.destroy()
    for d in made:
        assert not os.path.exists(d), f"left {d}"


def test_a_pre_existing_parent_stays(make_cgroup: MakeCgroup, cgroup_layout: Layout) -> None:
    parent = f"berth-test-parent-{os.getpid()}"
    pre = [f"{h.own_dir}/{parent}" for h in cgroup_layout.hierarchies]
    for d in pre:
        os.mkdir(d)
    try:
        a = make_cgroup(f"{parent}/a")
        b = make_cgroup(f"{parent}/b")
        a.create()
        b.create()
        assert not any(d in a.created for d in pre)
        a.destroy()
        assert all(os.path.isdir(d) for d in b.dirs)
        b.destroy()
        assert all(os.path.isdir(d) for d in pre)
    finally:
        for d in pre:
            os.rmdir(d)


def test_shared_parent_goes_with_its_maker_last(make_cgroup: MakeCgroup) -> None:
    parent = f"berth-test-shared-{os.getpid()}"
    a = make_cgroup(f"{parent}/a")
    b = make_cgroup(f"{parent}/b")
    a.create()
    b.create()
    a.destroy()  # a made the parent, but b still uses it
    assert all(os.path.isdir(d) for d in b.dirs)
    b.destroy()  # b did not make it: it stays...
    leftover = [d.rsplit("/", 1)[0] for d in a.dirs]
    assert all(os.path.isdir(d) for d in leftover)
    a.destroy()  # ...until its maker is asked again
    assert not any(os.path.exists(d) for d in leftover)


def test_destroy_leaves_nothing_even_with_inner_cgroups(
    make_cgroup: MakeCgroup, cgroup_worker: Callable[[], Worker]
) -> None:
    cg = make_cgroup()
    cg.create()
    cg.apply(Resources.from_json({"pids": {"limit": 20}, "memory": {"limit": 1 << 30}}))
    for d in set(cg.dirs):
        os.mkdir(f"{d}/inner")  # as a container with its own sub-cgroups would
    w = cgroup_worker()
    cg.add(w.pid)
    with pytest.raises(KernelError, match="processes are still in it"):
        cg.destroy(timeout=0.2)
    cg.kill(9)
    assert w.proc.wait(timeout=10) == -9
    cg.destroy()
    assert not any(os.path.exists(d) for d in cg.dirs)
    assert cg.created == ()


def test_a_half_applied_plan_leaves_nothing_after_destroy(make_cgroup: MakeCgroup) -> None:
    cg = make_cgroup(f"berth-test-half-{os.getpid()}/c1")
    cg.create()
    res = Resources.from_json(
        {"memory": {"limit": 64 << 20}, "cpu": {"quota": 10, "period": 100000}}
    )
    quota = f"{cg.paths['cpu']}/cpu.cfs_quota_us"
    with pytest.raises(KernelError, match=f"write '10' to {quota}: Invalid argument"):
        cg.apply(res)
    with open(f"{cg.paths['memory']}/memory.limit_in_bytes") as f:
        assert f.read().strip() == str(64 << 20)  # the writes before the refused one happened
    cg.destroy()
    assert not any(os.path.exists(d) for d in cg.created)
    assert not any(os.path.exists(d.rsplit("/", 1)[0]) for d in cg.dirs)


def test_reopened_from_state_destroys_the_same_cgroup(make_cgroup: MakeCgroup) -> None:
    cg = make_cgroup(f"berth-test-state-{os.getpid()}/c1")
    cg.create()
    again = Cgroup.from_json(cg.to_json())
    assert again.paths == cg.paths
    again.destroy()
    assert not any(os.path.exists(d) for d in cg.created)
