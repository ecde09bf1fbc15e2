"""rename / update / prune: Docker's rules and messages, on fakes."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest

from berth.engine.containers import ops
from berth.engine.filters import Filters
from berth.errors import Conflict, InvalidArgument, NotFound

MB = 1024 * 1024


def test_update_memory_needs_swap_as_docker() -> None:
    with pytest.raises(Conflict, match="update the memoryswap at the same time"):
        ops.merge_update({}, {"Memory": 64 * MB})
    hc, res, warnings = ops.merge_update({}, {"Memory": 64 * MB, "MemorySwap": 128 * MB})
    assert (hc["Memory"], hc["MemorySwap"]) == (64 * MB, 128 * MB)
    assert res == {"memory": {"limit": 64 * MB, "swap": 128 * MB}} and warnings == []
    # created with -m 100m: swap is twice that, so a limit up to 200m needs no swap
    hc, res, _ = ops.merge_update({"Memory": 100 * MB}, {"Memory": 150 * MB})
    assert res == {"memory": {"limit": 150 * MB}} and "MemorySwap" not in hc
    with pytest.raises(Conflict):
        ops.merge_update({"Memory": 100 * MB}, {"Memory": 250 * MB})
    # unlimited swap: any memory limit (berth's one difference)
    _, res, _ = ops.merge_update({"MemorySwap": -1}, {"Memory": 64 * MB})
    assert res == {"memory": {"limit": 64 * MB}}
    _, res, _ = ops.merge_update({"Memory": 64 * MB}, {"MemorySwap": -1})
    assert res == {"memory": {"limit": 64 * MB, "swap": -1}}


def test_update_value_checks() -> None:
    cases = [
        ({"Memory": MB}, "Minimum memory limit allowed is 6MB"),
        ({"Memory": 64 * MB, "MemorySwap": 32 * MB}, "Minimum memoryswap limit should be larger"),
        ({"MemoryReservation": MB}, "Minimum memory reservation allowed is 6MB"),
        ({"CpuPeriod": 10}, "CPU cfs period can not be less than 1ms"),
        ({"CpuQuota": 10}, "CPU cfs quota can not be less than 1ms"),
        ({"BlkioWeight": 5}, "Range of blkio weight is from 10 to 1000"),
        ({"NanoCpus": 10**15}, "Range of CPUs is from 0.01 to"),
        ({"NanoCpus": 10**9, "CpuQuota": 50000}, "Conflicting options"),
        ({"Memory": "1g"}, "Memory: expected an integer"),
        ({"RestartPolicy": {"Name": "sometimes"}}, "invalid restart policy 'sometimes'"),
        (
            {"RestartPolicy": {"Name": "always", "MaximumRetryCount": 3}},
            "maximum retry count cannot be used with restart policy 'always'",
        ),
    ]
    for body, message in cases:
        with pytest.raises(InvalidArgument, match=message):
            ops.merge_update({}, body)
    _, _, warnings = ops.merge_update({}, {"KernelMemory": 64 * MB})
    assert warnings and "Kernel memory" in warnings[0]


def test_update_cpu_pids_blkio_restart() -> None:
    hc, res, _ = ops.merge_update(
        {"CpuShares": 512},
        {
            "NanoCpus": 500_000_000,
            "CpusetCpus": "0",
            "PidsLimit": 50,
            "BlkioWeight": 300,
            "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2},
        },
    )
    assert res["cpu"] == {"period": 100000, "quota": 50000, "cpus": "0"}
    assert res["pids"] == {"limit": 50} and res["blockIO"] == {"weight": 300}
    assert hc["CpuShares"] == 512 and hc["NanoCpus"] == 500_000_000
    assert hc["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
    _, res, _ = ops.merge_update({}, {"PidsLimit": -1})
    assert res["pids"] == {"limit": -1}
    hc, res, _ = ops.merge_update({}, {"RestartPolicy": {"Name": "always"}})
    assert res == {} and hc["RestartPolicy"]["Name"] == "always"
    assert ops.merge_update({}, {})[1] == {}


def test_update_conflicts_with_what_is_set() -> None:
    with pytest.raises(Conflict, match="Nano CPUs cannot be updated as CPU Period"):
        ops.merge_update({"CpuPeriod": 100000}, {"NanoCpus": 10**9})
    with pytest.raises(Conflict, match="CPU Quota cannot be updated as NanoCPUs"):
        ops.merge_update({"NanoCpus": 10**9}, {"CpuQuota": 50000})
    with pytest.raises(Conflict, match="AutoRemove is enabled"):
        ops.merge_update({"AutoRemove": True}, {"RestartPolicy": {"Name": "always"}})


def test_prune_matching() -> None:
    f = Filters({"label": ["a=1"], "label!": ["keep"]})
    assert ops.prune_matches(f, {"a": "1"}, 100.0, None)
    assert not ops.prune_matches(f, {"a": "2"}, 100.0, None)
    assert not ops.prune_matches(f, {"a": "1", "keep": "x"}, 100.0, None)
    assert ops.prune_matches(Filters({"label!": ["keep=yes"]}), {"keep": "no"}, 1.0, None)
    assert ops.prune_matches(Filters(), {}, 100.0, 200.0)
    assert not ops.prune_matches(Filters(), {}, 300.0, 200.0)
    assert ops.until_of(Filters({"until": ["10m"]}), 10_000.0) == 9_400.0
    assert ops.until_of(Filters({"until": ["1700000000"]}), 0.0) == 1_700_000_000.0
    assert ops.until_of(Filters(), 0.0) is None
    with pytest.raises(InvalidArgument, match="invalid filter 'until=soon'"):
        ops.until_of(Filters({"until": ["soon"]}), 0.0)


# -- rename / prune on a fake service -----------------------------------------------------


class Row:
    def __init__(self, cid: str, name: str, running: bool = False, labels: Any = None) -> None:
        self.id = cid
        self.name = name
        self.state = {"Running": running, "Status": "running" if running else "exited"}
        self.config = {"Labels": labels or {}}
        self.host_config: dict[str, Any] = {}
        self.created = "2024-01-01T00:00:00Z"


class Store:
    def __init__(self) -> None:
        self.saved: list[str] = []

    def save(self, row: Row) -> None:
        self.saved.append(row.name)


class Svc:
    def __init__(self, rows: list[Row]) -> None:
        self.rows = {r.id: r for r in rows}
        self.lock = threading.RLock()
        self.store = Store()
        self.network = None
        self.events: Any = None
        self.published: list[tuple[str, str, dict[str, str]]] = []
        self.removed: list[str] = []

    def find(self, ref: str) -> Row:
        for r in self.rows.values():
            if ref in (r.id, r.name):
                return r
        raise NotFound(f"No such container: {ref}")

    def _publish(self, row: Row, action: str, extra: dict[str, str] | None = None) -> None:
        self.published.append((row.name, action, extra or {}))

    def dir_of(self, cid: str) -> str:
        return f"/nonexistent/{cid}"

    def remove(self, cid: str, force: bool = False, volumes: bool = False) -> None:
        self.removed.append(cid)
        del self.rows[cid]


def test_rename() -> None:
    svc = Svc([Row("a" * 64, "one"), Row("b" * 64, "two")])
    ops.rename(svc, "one", "/uno")  # type: ignore[arg-type]
    assert svc.rows["a" * 64].name == "uno" and svc.store.saved == ["uno"]
    assert svc.published == [("uno", "rename", {"oldName": "/one"})]
    with pytest.raises(Conflict, match='The container name "/two" is already in use'):
        ops.rename(svc, "uno", "two")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="same name as its current name"):
        ops.rename(svc, "uno", "uno")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="Invalid container name"):
        ops.rename(svc, "uno", "-bad")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="Neither old nor new names may be empty"):
        ops.rename(svc, "uno", "")  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        ops.rename(svc, "nope", "x")  # type: ignore[arg-type]


def test_prune_removes_what_does_not_run() -> None:
    from berth.engine.events import EventBus

    svc = Svc(
        [
            Row("a" * 64, "up", running=True),
            Row("b" * 64, "down", labels={"env": "test"}),
            Row("c" * 64, "kept", labels={"keep": "1"}),
        ]
    )
    svc.events = EventBus()
    sub = svc.events.subscribe()
    report = ops.prune(svc, Filters({"label!": ["keep"]}))  # type: ignore[arg-type]
    assert report == {"ContainersDeleted": ["b" * 64], "SpaceReclaimed": 0}
    ev = sub.get(1.0)
    assert ev is not None and ev.action == "prune" and ev.actor.attributes == {"reclaimed": "0"}
    assert ops.prune(svc, Filters({"label": ["env=none"]}))["ContainersDeleted"] is None  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="invalid filter 'status'"):
        ops.prune(svc, Filters({"status": ["exited"]}))  # type: ignore[arg-type]


def test_tree_size(tmp_path: Any) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_bytes(b"x" * 10)
    (tmp_path / "g").write_bytes(b"y" * 5)
    (tmp_path / "link").symlink_to("/etc/passwd")
    assert ops.tree_size(str(tmp_path)) == 15 + len("/etc/passwd")
    assert ops.tree_size(str(tmp_path / "missing")) == 0


def test_rw_size_counts_files_once_and_not_directories(tmp_path: Path) -> None:
    from berth.engine.volumes.store import dir_size as rw_size

    (tmp_path / "d" / "e").mkdir(parents=True)
    (tmp_path / "d" / "e" / "a").write_bytes(b"x" * 1000)
    os.link(tmp_path / "d" / "e" / "a", tmp_path / "hard")  # the same inode: counted once
    (tmp_path / "b").write_bytes(b"y" * 24)
    (tmp_path / "empty").write_bytes(b"")
    outside = tmp_path.parent / "rw-size-outside"
    outside.write_bytes(b"z" * 5000)
    try:
        (tmp_path / "link").symlink_to(outside)  # its own length, not its target's size
        assert rw_size(str(tmp_path)) == 1000 + 24 + len(str(outside))
    finally:
        outside.unlink()
    assert rw_size(str(tmp_path / "missing")) == 0
