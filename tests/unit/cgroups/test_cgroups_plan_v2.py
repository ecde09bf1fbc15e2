"""cgroup v2 plans: conversions from the OCI (v1-shaped) values, and the errors."""

from __future__ import annotations

from typing import Any

import pytest

from berth.cgroups import v2
from berth.errors import InvalidArgument
from berth.oci.runtime_spec import Resources

D = "/sys/fs/cgroup/machine/c1"
ALL = ("cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc")


def plan(doc: dict[str, Any], **kw: Any) -> list[tuple[str, str]]:
    kw.setdefault("controllers", ALL)
    return [(w.filename, w.value) for w in v2.plan(Resources.from_json(doc), D, **kw)]


def test_nothing_to_do() -> None:
    assert plan({}) == []
    assert plan({"memory": {}, "cpu": {}, "pids": {"limit": 0}, "blockIO": {}}) == []


def test_memory() -> None:
    got = plan({"memory": {"limit": 64 << 20, "swap": 96 << 20, "reservation": 32 << 20}})
    assert got == [
        ("memory.swap.max", str(32 << 20)),
        ("memory.max", str(64 << 20)),
        ("memory.low", str(32 << 20)),
    ]
    assert plan({"memory": {"limit": 100, "swap": 100}}) == [
        ("memory.swap.max", "0"),
        ("memory.max", "100"),
    ]
    assert plan({"memory": {"limit": -1}}) == [("memory.swap.max", "max"), ("memory.max", "max")]
    assert plan({"memory": {"limit": 100, "swap": -1}}) == [
        ("memory.swap.max", "max"),
        ("memory.max", "100"),
    ]


def test_cpu() -> None:
    got = plan(
        {
            "cpu": {
                "shares": 1024,
                "quota": 50000,
                "period": 100000,
                "burst": 10,
                "idle": 0,
                "cpus": "0",
                "mems": "0",
            }
        }
    )
    assert got == [
        ("cpuset.cpus", "0"),
        ("cpuset.mems", "0"),
        ("cpu.weight", "39"),
        ("cpu.idle", "0"),
        ("cpu.max", "50000 100000"),
        ("cpu.max.burst", "10"),
    ]
    assert plan({"cpu": {"quota": -1, "period": 100000}}) == [("cpu.max", "max 100000")]
    assert plan({"cpu": {"quota": 20000}}) == [("cpu.max", "20000")]


def test_cpu_period_only_keeps_the_quota_in_force() -> None:
    assert plan({"cpu": {"period": 50000}}, current={"cpu.max": "20000 100000\n"}) == [
        ("cpu.max", "20000 50000")
    ]
    assert plan({"cpu": {"period": 50000}}) == [("cpu.max", "max 50000")]


def test_pids_io_hugetlb_rdma_unified_order() -> None:
    doc = {
        "pids": {"limit": 5},
        "blockIO": {
            "weight": 500,
            "weightDevice": [{"major": 8, "minor": 0, "weight": 1000}],
            "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
            "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 0}],
            "throttleReadIOPSDevice": [{"major": 8, "minor": 0, "rate": 10}],
            "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 20}],
        },
        "hugepageLimits": [{"pageSize": "2MB", "limit": 1 << 21}],
        "rdma": {"mlx5_1": {"hcaHandles": 1}},
        "unified": {"memory.high": "1000000", "cgroup.max.descendants": "10"},
        "memory": {"limit": 1 << 30},
    }
    assert plan(doc) == [
        ("memory.max", str(1 << 30)),
        ("pids.max", "5"),
        ("io.weight", "4950"),
        ("io.weight", "8:0 10000"),
        ("io.max", "8:0 rbps=1048576"),
        ("io.max", "8:0 wbps=max"),
        ("io.max", "8:0 riops=10"),
        ("io.max", "8:0 wiops=20"),
        ("hugetlb.2MB.max", str(1 << 21)),
        ("rdma.max", "mlx5_1 hca_handle=1"),
        ("memory.high", "1000000"),
        ("cgroup.max.descendants", "10"),
    ]


def test_bfq_weights() -> None:
    doc = {"blockIO": {"weight": 500, "weightDevice": [{"major": 8, "minor": 0, "weight": 100}]}}
    assert plan(doc, bfq=True) == [("io.bfq.weight", "500"), ("io.bfq.weight", "8:0 100")]


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"cpu": {"realtimeRuntime": 1000}}, "no realtime"),
        ({"unified": {"../memory.max": "1"}}, "not a cgroup v2 file name"),
        ({"unified": {"memorymax": "1"}}, "not a cgroup v2 file name"),
        ({"memory": {"swap": 100}}, "needs a memory limit"),
        ({"cpu": {"quota": -7}}, "not a time"),
        ({"blockIO": {"weight": 2000}}, "within"),
    ],
)
def test_refused(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        plan(doc)


def test_controller_must_be_available() -> None:
    with pytest.raises(InvalidArgument, match=r"needs the memory controller.*available: cpu, pids"):
        plan({"memory": {"limit": 100}}, controllers=("cpu", "pids"))
    with pytest.raises(InvalidArgument, match="needs the hugetlb controller"):
        plan({"unified": {"hugetlb.2MB.max": "0"}}, controllers=("cpu",))
    assert plan({"unified": {"cgroup.max.depth": "3"}}, controllers=()) == [
        ("cgroup.max.depth", "3")
    ]
    assert plan({"memory": {"limit": 100}}, controllers=None) == [("memory.max", "100")]


def test_ignored_settings() -> None:
    res = Resources.from_json(
        {
            "memory": {"swappiness": 10, "kernelTCP": 5, "disableOOMKiller": True},
            "network": {"classID": 1},
            "blockIO": {"leafWeight": 10},
        }
    )
    assert plan(res.to_json()) == []
    notes = v2.ignored(res)
    assert len(notes) == 5 and all("cgroup v2" in n for n in notes)
    assert v2.ignored(Resources()) == []


def test_plan_is_pure() -> None:
    res = Resources.from_json({"memory": {"limit": 100}, "cpu": {"shares": 2}})
    assert v2.plan(res, D) == v2.plan(res, D)
