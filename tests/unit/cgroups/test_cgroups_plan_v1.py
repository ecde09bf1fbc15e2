"""cgroup v1 plans: the files and values for every resource, and the errors."""

from __future__ import annotations

from typing import Any

import pytest

from berth.cgroups import v1
from berth.errors import InvalidArgument
from berth.oci.runtime_spec import Resources

DIRS = {
    name: f"/sys/fs/cgroup/{name}/c1"
    for name in (
        "cpu",
        "cpuacct",
        "cpuset",
        "memory",
        "devices",
        "freezer",
        "blkio",
        "pids",
        "hugetlb",
        "net_cls",
        "net_prio",
        "rdma",
    )
}


def plan(doc: dict[str, Any], **kw: Any) -> list[tuple[str, str]]:
    return [
        (w.path.removeprefix("/sys/fs/cgroup/"), w.value)
        for w in v1.plan(Resources.from_json(doc), DIRS, **kw)
    ]


def test_nothing_to_do() -> None:
    assert plan({}) == []
    assert plan({"memory": {}, "cpu": {}, "blockIO": {"weight": 0}, "pids": {"limit": 0}}) == []


def test_cpu() -> None:
    got = plan(
        {
            "cpu": {
                "shares": 512,
                "quota": 50000,
                "period": 100000,
                "burst": 1000,
                "realtimePeriod": 1000000,
                "realtimeRuntime": 950000,
                "idle": 1,
                "cpus": "0-1",
                "mems": "0",
            }
        }
    )
    assert got == [
        ("cpuset/c1/cpuset.cpus", "0-1"),
        ("cpuset/c1/cpuset.mems", "0"),
        ("cpu/c1/cpu.shares", "512"),
        ("cpu/c1/cpu.cfs_period_us", "100000"),
        ("cpu/c1/cpu.cfs_quota_us", "50000"),
        ("cpu/c1/cpu.cfs_burst_us", "1000"),
        ("cpu/c1/cpu.rt_period_us", "1000000"),
        ("cpu/c1/cpu.rt_runtime_us", "950000"),
        ("cpu/c1/cpu.idle", "1"),
    ]
    assert plan({"cpu": {"quota": -1}}) == [("cpu/c1/cpu.cfs_quota_us", "-1")]


def test_memory_fresh_cgroup_writes_the_limit_first() -> None:
    got = plan(
        {
            "memory": {
                "limit": 64 << 20,
                "swap": 128 << 20,
                "reservation": 32 << 20,
                "kernelTCP": 1 << 20,
                "swappiness": 10,
                "disableOOMKiller": True,
            }
        }
    )
    assert got == [
        ("memory/c1/memory.limit_in_bytes", str(64 << 20)),
        ("memory/c1/memory.memsw.limit_in_bytes", str(128 << 20)),
        ("memory/c1/memory.soft_limit_in_bytes", str(32 << 20)),
        ("memory/c1/memory.kmem.tcp.limit_in_bytes", str(1 << 20)),
        ("memory/c1/memory.swappiness", "10"),
        ("memory/c1/memory.oom_control", "1"),
    ]


def test_memory_raising_above_the_current_limit_writes_swap_first() -> None:
    doc = {"memory": {"limit": 256 << 20, "swap": 512 << 20}}
    got = plan(doc, current={"memory.limit_in_bytes": str(64 << 20)})
    assert [f for f, _ in got] == [
        "memory/c1/memory.memsw.limit_in_bytes",
        "memory/c1/memory.limit_in_bytes",
    ]
    lowered = plan(
        {"memory": {"limit": 16 << 20, "swap": 32 << 20}},
        current={"memory.limit_in_bytes": str(64 << 20)},
    )
    assert [f for f, _ in lowered] == [
        "memory/c1/memory.limit_in_bytes",
        "memory/c1/memory.memsw.limit_in_bytes",
    ]


def test_memory_unlimited() -> None:
    assert plan({"memory": {"limit": -1}}) == [
        ("memory/c1/memory.memsw.limit_in_bytes", "-1"),
        ("memory/c1/memory.limit_in_bytes", "-1"),
    ]
    assert plan({"memory": {"limit": -1}}, memsw=False) == [
        ("memory/c1/memory.limit_in_bytes", "-1")
    ]


def test_memory_swap_only_and_hierarchy() -> None:
    assert plan({"memory": {"swap": 1 << 30, "useHierarchy": True}}) == [
        ("memory/c1/memory.memsw.limit_in_bytes", str(1 << 30)),
        ("memory/c1/memory.use_hierarchy", "1"),
    ]


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"memory": {"limit": 100, "swap": 50}}, "below the memory limit"),
        ({"memory": {"limit": -2}}, "not a size"),
        ({"memory": {"swappiness": 101}}, "within 0..100"),
        ({"cpu": {"quota": -5}}, "not a time"),
        ({"cpu": {"idle": 2}}, "not 0 or 1"),
        ({"cpu": {"cpus": "0-"}}, "CPU/memory-node list"),
        ({"blockIO": {"weight": 5}}, r"within 10\.\.1000"),
        ({"unified": {"memory.high": "1"}}, "only be set on cgroup v2"),
        ({"hugepageLimits": [{"pageSize": "2M", "limit": 1}]}, "hugepage size"),
        ({"network": {"priorities": [{"name": "eth 0", "priority": 1}]}}, "interface name"),
        ({"rdma": {"mlx": {"hcaHandles": -1}}}, "not a count"),
        (
            {"blockIO": {"throttleReadBpsDevice": [{"major": -1, "minor": 0, "rate": 1}]}},
            "block device number",
        ),
    ],
)
def test_refused(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        plan(doc)


def test_swap_without_swap_accounting() -> None:
    with pytest.raises(InvalidArgument, match="swap accounting"):
        plan({"memory": {"limit": 100, "swap": 200}}, memsw=False)


def test_missing_controller_is_named() -> None:
    res = Resources.from_json({"hugepageLimits": [{"pageSize": "2MB", "limit": 1 << 21}]})
    with pytest.raises(
        InvalidArgument, match=r"needs the hugetlb cgroup controller.*mounted: cpu, memory"
    ):
        v1.plan(res, {"cpu": "/x/cpu/c", "memory": "/x/memory/c", "unified": "/x/u/c"})


def test_pids() -> None:
    assert plan({"pids": {"limit": 100}}) == [("pids/c1/pids.max", "100")]
    assert plan({"pids": {"limit": -1}}) == [("pids/c1/pids.max", "max")]


def test_blkio_cfq_and_bfq() -> None:
    doc = {
        "blockIO": {
            "weight": 300,
            "leafWeight": 200,
            "weightDevice": [{"major": 8, "minor": 0, "weight": 500, "leafWeight": 100}],
            "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
            "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 2097152}],
            "throttleReadIOPSDevice": [{"major": 8, "minor": 16, "rate": 100}],
            "throttleWriteIOPSDevice": [{"major": 8, "minor": 16, "rate": 200}],
        }
    }
    assert plan(doc) == [
        ("blkio/c1/blkio.weight", "300"),
        ("blkio/c1/blkio.leaf_weight", "200"),
        ("blkio/c1/blkio.weight_device", "8:0 500"),
        ("blkio/c1/blkio.leaf_weight_device", "8:0 100"),
        ("blkio/c1/blkio.throttle.read_bps_device", "8:0 1048576"),
        ("blkio/c1/blkio.throttle.write_bps_device", "8:0 2097152"),
        ("blkio/c1/blkio.throttle.read_iops_device", "8:16 100"),
        ("blkio/c1/blkio.throttle.write_iops_device", "8:16 200"),
    ]
    bfq = {"blockIO": {"weight": 1, "weightDevice": [{"major": 8, "minor": 0, "weight": 500}]}}
    assert plan(bfq, bfq=True) == [
        ("blkio/c1/blkio.bfq.weight", "1"),
        ("blkio/c1/blkio.bfq.weight_device", "8:0 500"),
    ]
    with pytest.raises(InvalidArgument, match="BFQ"):
        plan({"blockIO": {"leafWeight": 10}}, bfq=True)


def test_hugetlb_network_rdma() -> None:
    doc = {
        "hugepageLimits": [{"pageSize": "2MB", "limit": 1 << 22}, {"pageSize": "1GB", "limit": 0}],
        "network": {"classID": 0x100001, "priorities": [{"name": "eth0", "priority": 5}]},
        "rdma": {"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000}, "mlx4_0": {"hcaObjects": 5}},
    }
    assert plan(doc) == [
        ("hugetlb/c1/hugetlb.2MB.limit_in_bytes", str(1 << 22)),
        ("hugetlb/c1/hugetlb.1GB.limit_in_bytes", "0"),
        ("net_cls/c1/net_cls.classid", str(0x100001)),
        ("net_prio/c1/net_prio.ifpriomap", "eth0 5"),
        ("rdma/c1/rdma.max", "mlx5_1 hca_handle=3 hca_object=10000"),
        ("rdma/c1/rdma.max", "mlx4_0 hca_object=5"),
    ]


def test_devices_docker_default() -> None:
    doc = {
        "devices": [
            {"allow": False, "access": "rwm"},
            {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
            {"allow": True, "type": "c", "major": 136, "access": "rwm"},
            {"allow": True, "type": "a", "major": 1, "minor": 5, "access": "r"},
            {"allow": False, "type": "c", "major": 1, "minor": 3, "access": "w"},
        ]
    }
    assert plan(doc) == [
        ("devices/c1/devices.deny", "a"),
        ("devices/c1/devices.allow", "c 1:3 rwm"),
        ("devices/c1/devices.allow", "c 136:* rwm"),
        ("devices/c1/devices.allow", "c 1:5 r"),
        ("devices/c1/devices.allow", "b 1:5 r"),
        ("devices/c1/devices.deny", "c 1:3 w"),
    ]


def test_ignored_kernel_memory() -> None:
    assert plan({"memory": {"kernel": 1 << 20}}) == []
    assert v1.ignored(Resources.from_json({"memory": {"kernel": 1}})) != []
    assert v1.ignored(Resources()) == []
