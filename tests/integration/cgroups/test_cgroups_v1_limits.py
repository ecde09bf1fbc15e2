"""cgroup v1 limits on the real kernel: the files hold the values and the limits bite."""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable

import pytest

from berth.cgroups import Cgroup
from berth.oci.runtime_spec import Resources
from support.cgroups_worker import Worker

MakeCgroup = Callable[..., Cgroup]
StartWorker = Callable[[], Worker]


def read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def started(
    make_cgroup: MakeCgroup, cgroup_worker: StartWorker, doc: dict[str, object]
) -> tuple[Cgroup, Worker]:
    cg = make_cgroup()
    cg.create()
    cg.apply(Resources.from_json(doc))
    w = cgroup_worker()
    cg.add(w.pid)
    return cg, w


def test_files_hold_the_configured_values(
    make_cgroup: MakeCgroup, cgroup_worker: StartWorker, cgroup_block_device: tuple[int, int]
) -> None:
    dev = "{}:{}".format(*cgroup_block_device)
    major, minor = cgroup_block_device
    cg, w = started(
        make_cgroup,
        cgroup_worker,
        {
            "cpu": {"shares": 512, "quota": 30000, "period": 100000, "cpus": "0", "mems": "0"},
            "memory": {"limit": 64 << 20, "reservation": 32 << 20, "swap": 128 << 20},
            "pids": {"limit": 10},
            "blockIO": {
                "throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": 1 << 20}],
                "throttleWriteBpsDevice": [{"major": major, "minor": minor, "rate": 2 << 20}],
                "throttleReadIOPSDevice": [{"major": major, "minor": minor, "rate": 100}],
                "throttleWriteIOPSDevice": [{"major": major, "minor": minor, "rate": 200}],
            },
        },
    )
    p = cg.paths
    assert read(f"{p['cpu']}/cpu.shares") == "512"
    assert read(f"{p['cpu']}/cpu.cfs_quota_us") == "30000"
    assert read(f"{p['cpu']}/cpu.cfs_period_us") == "100000"
    assert read(f"{p['cpuset']}/cpuset.cpus") == "0"
    assert read(f"{p['cpuset']}/cpuset.mems") == "0"
    assert read(f"{p['memory']}/memory.limit_in_bytes") == str(64 << 20)
    assert read(f"{p['memory']}/memory.soft_limit_in_bytes") == str(32 << 20)
    assert read(f"{p['memory']}/memory.memsw.limit_in_bytes") == str(128 << 20)
    assert read(f"{p['pids']}/pids.max") == "10"
    assert read(f"{p['blkio']}/blkio.throttle.read_bps_device") == f"{dev} {1 << 20}"
    assert read(f"{p['blkio']}/blkio.throttle.write_bps_device") == f"{dev} {2 << 20}"
    assert read(f"{p['blkio']}/blkio.throttle.read_iops_device") == f"{dev} 100"
    assert read(f"{p['blkio']}/blkio.throttle.write_iops_device") == f"{dev} 200"
    # the process sits in the container's cgroup in every hierarchy, unified included
    lines = read(f"/proc/{w.pid}/cgroup").splitlines()
    for h, path in zip(cg.layout.hierarchies, cg.cgroup_paths, strict=True):
        if h.kind == 2:
            assert f"0::{path}" in lines
        else:
            assert any(line.endswith(f":{','.join(h.controllers)}:{path}") for line in lines)
    assert cg.procs() == [w.pid]
    own_memory = cg.layout.hierarchy("memory")
    assert own_memory is not None and p["memory"].startswith(own_memory.own_dir + "/")


def test_blkio_weight(make_cgroup: MakeCgroup) -> None:
    cg = make_cgroup()
    cg.create()
    d = cg.paths["blkio"]
    name = next(
        (n for n in ("blkio.weight", "blkio.bfq.weight") if os.path.exists(f"{d}/{n}")), None
    )
    if name is None:
        pytest.skip("this kernel has neither blkio.weight (CFQ) nor blkio.bfq.weight (BFQ)")
    assert (name == "blkio.bfq.weight") == cg.layout.bfq
    cg.apply(Resources.from_json({"blockIO": {"weight": 300}}))
    assert read(f"{d}/{name}").split()[-1] == "300"


def test_pids_limit_stops_forks(make_cgroup: MakeCgroup, cgroup_worker: StartWorker) -> None:
    _, w = started(make_cgroup, cgroup_worker, {"pids": {"limit": 4}})
    forked, err = w.ask("fork 10").split()
    assert int(forked) == 3  # the worker itself is the fourth
    assert int(err) == errno.EAGAIN


def test_memory_limit_oom_kills_a_hog(make_cgroup: MakeCgroup, cgroup_worker: StartWorker) -> None:
    cg, w = started(make_cgroup, cgroup_worker, {"memory": {"limit": 48 << 20, "swap": 48 << 20}})
    assert cg.oom_kills() == 0
    w.send("alloc 256")
    assert w.reply() == ""  # killed before it could answer
    assert w.proc.wait(timeout=10) == -9
    assert cg.oom_kills() >= 1
    assert cg.stats()["memory_stats"]["max_usage"] > 40 << 20  # it reached the limit


def cpuacct_usage(cg: Cgroup) -> int:
    return int(read(f"{cg.paths['cpuacct']}/cpuacct.usage"))


def test_cpu_quota_holds_a_busy_loop(make_cgroup: MakeCgroup, cgroup_worker: StartWorker) -> None:
    cg, w = started(make_cgroup, cgroup_worker, {"cpu": {"quota": 20000, "period": 100000}})
    w.send("spin 1.5")
    time.sleep(0.2)
    u0, t0 = cpuacct_usage(cg), time.monotonic()
    time.sleep(1.0)
    u1, t1 = cpuacct_usage(cg), time.monotonic()
    share = (u1 - u0) / 1e9 / (t1 - t0)
    assert 0.08 < share < 0.35, f"used {share:.0%} of a CPU under a 20% quota"
    assert w.reply() == "done"
    throttling = cg.stats()["cpu_stats"]["throttling_data"]
    assert throttling["throttled_periods"] > 0


def test_freeze_stops_and_thaw_resumes(make_cgroup: MakeCgroup, cgroup_worker: StartWorker) -> None:
    cg, w = started(make_cgroup, cgroup_worker, {})
    w.send("spin 30")
    time.sleep(0.1)
    cg.freeze()
    assert cg.frozen()
    before = cpuacct_usage(cg)
    time.sleep(0.3)
    assert cpuacct_usage(cg) == before, "a frozen process kept running"
    cg.thaw()
    assert not cg.frozen()
    time.sleep(0.3)
    assert cpuacct_usage(cg) - before > 0.1e9
    cg.kill(15)
    assert w.proc.wait(timeout=10) == -15


def test_device_rules_deny_then_allow(make_cgroup: MakeCgroup, cgroup_worker: StartWorker) -> None:
    deny_all = {"allow": False, "access": "rwm"}
    cg, w = started(make_cgroup, cgroup_worker, {"devices": [deny_all]})
    assert w.ask("open /dev/null") == str(errno.EPERM)
    cg.update(
        Resources.from_json(
            {
                "devices": [
                    deny_all,
                    {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                ]
            }
        )
    )
    assert w.ask("open /dev/null") == "ok"
    assert w.ask("open /dev/zero") == str(errno.EPERM)
    assert "c 1:3 rwm" in read(f"{cg.paths['devices']}/devices.list")


def test_stats_see_the_process(make_cgroup: MakeCgroup, cgroup_worker: StartWorker) -> None:
    cg, w = started(make_cgroup, cgroup_worker, {"pids": {"limit": 50}})
    assert w.ask("alloc 20") == "ok"
    assert w.ask("spin 0.1") == "done"
    st = cg.stats()
    assert st["memory_stats"]["usage"] >= 20 << 20
    assert st["memory_stats"]["limit"] is None
    assert st["pids_stats"] == {"current": 1, "limit": 50}
    usage = st["cpu_stats"]["cpu_usage"]
    assert usage["total_usage"] > 0 and len(usage["percpu_usage"]) == os.cpu_count()
    assert "io_service_bytes_recursive" in st["blkio_stats"]


def test_update_raises_memory_above_memsw(make_cgroup: MakeCgroup) -> None:
    cg = make_cgroup()
    cg.create()
    cg.apply(Resources.from_json({"memory": {"limit": 32 << 20, "swap": 64 << 20}}))
    cg.update(Resources.from_json({"memory": {"limit": 128 << 20, "swap": 256 << 20}}))
    assert read(f"{cg.paths['memory']}/memory.limit_in_bytes") == str(128 << 20)
    cg.update(Resources.from_json({"memory": {"limit": 16 << 20, "swap": 16 << 20}}))
    assert read(f"{cg.paths['memory']}/memory.memsw.limit_in_bytes") == str(16 << 20)
