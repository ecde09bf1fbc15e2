"""What cgroup v2 core offers here, for real, on the unified hierarchy beneath our own cgroup:
mkdir, cgroup.procs, cgroup.freeze, cgroup.kill, cgroup.events, and eBPF device filters.

This machine's cgroup2 has no controllers, so the v2 resource files are tested as plans
(tests/unit/cgroups); the v2 driver runs here through Layout.unified_only().
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable

import pytest

from berth.cgroups import Cgroup, Layout
from berth.cgroups.stats import parse_flat
from berth.oci.runtime_spec import Resources
from support.cgroups_worker import Worker

MakeCgroup = Callable[..., Cgroup]


@pytest.fixture
def v2(cgroup_layout: Layout) -> Layout:
    if cgroup_layout.unified is None:
        pytest.skip("no cgroup2 hierarchy on this machine")
    return cgroup_layout.unified_only()


def usage_usec(cg: Cgroup) -> int:
    with open(f"{cg.paths['unified']}/cpu.stat") as f:
        return int(f.read().split()[1])


def events(cg: Cgroup) -> dict[str, int]:
    with open(f"{cg.paths['unified']}/cgroup.events") as f:
        return parse_flat(f.read())


def test_join_freeze_thaw_kill(
    make_cgroup: MakeCgroup, cgroup_worker: Callable[[], Worker], v2: Layout
) -> None:
    cg = make_cgroup(layout=v2)
    cg.create()
    assert events(cg)["populated"] == 0
    w = cgroup_worker()
    cg.add(w.pid)
    with open(f"/proc/{w.pid}/cgroup") as f:
        assert f"0::{cg.cgroup_paths[0]}" in f.read().splitlines()
    assert cg.procs() == [w.pid]
    assert events(cg)["populated"] == 1
    w.send("spin 30")
    time.sleep(0.1)
    cg.freeze()
    assert cg.frozen() and events(cg)["frozen"] == 1
    before = usage_usec(cg)
    time.sleep(0.3)
    assert usage_usec(cg) == before, "a frozen process kept running"
    cg.thaw()
    assert not cg.frozen()
    time.sleep(0.3)
    assert usage_usec(cg) - before > 100_000
    cg.kill(9)  # through cgroup.kill
    assert w.proc.wait(timeout=10) == -9
    deadline = time.monotonic() + 5
    while events(cg)["populated"] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert events(cg)["populated"] == 0
    cg.destroy()
    assert not os.path.exists(cg.paths["unified"])


def test_ebpf_device_filter(
    make_cgroup: MakeCgroup, cgroup_worker: Callable[[], Worker], v2: Layout
) -> None:
    cg = make_cgroup(layout=v2)
    cg.create()
    deny_all = {"allow": False, "access": "rwm"}
    zero = {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"}
    null = {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "r"}
    cg.apply(Resources.from_json({"devices": [deny_all, zero]}))
    programs = cg.fs.device_programs(cg.paths["unified"])
    assert len(programs) == 1
    w = cgroup_worker()
    cg.add(w.pid)
    assert w.ask("open /dev/null") == str(errno.EPERM)
    assert w.ask("open /dev/zero") == "ok"
    cg.update(Resources.from_json({"devices": [deny_all, null]}))
    after = cg.fs.device_programs(cg.paths["unified"])
    assert len(after) == 1 and after != programs  # replaced, not stacked
    assert w.ask("open /dev/null") == "ok"
    assert w.ask("open /dev/zero") == str(errno.EPERM)
    cg.update(Resources.from_json({"devices": [{"allow": True, "access": "rwm"}]}))
    assert w.ask("open /dev/zero") == "ok"
