"""Container stats: /proc parsers, Docker's StatsJSON assembly, the sampling loop (fakes)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from berth.engine.containers import stats as S

NET_DEV = """Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     100       2    0    0    0     0          0         0      100       2    0    0    0     0       0          0
  eth0:    5000      40    1    2    0     0          0         0     3000      30    3    4    0     0       0          0
"""  # noqa: E501


def test_parse_net_dev() -> None:
    assert S.parse_net_dev(NET_DEV) == {
        "eth0": {
            "rx_bytes": 5000,
            "rx_packets": 40,
            "rx_errors": 1,
            "rx_dropped": 2,
            "tx_bytes": 3000,
            "tx_packets": 30,
            "tx_errors": 3,
            "tx_dropped": 4,
        }
    }
    assert S.parse_net_dev("") == {}
    assert S.parse_net_dev("garbage\n  eth1: 1 2 3\n") == {}


counters = st.lists(st.integers(0, 2**63), min_size=16, max_size=16)


@given(st.dictionaries(st.from_regex(r"[a-z][a-z0-9]{0,8}", fullmatch=True), counters, max_size=4))
def test_parse_net_dev_round_trip(ifaces: dict[str, list[int]]) -> None:
    text = "Inter-| h\n face |h\n" + "".join(
        f"{name:>6}: " + " ".join(str(v) for v in values) + "\n" for name, values in ifaces.items()
    )
    got = S.parse_net_dev(text)
    assert set(got) == set(ifaces) - {"lo"}
    for name, c in got.items():
        v = ifaces[name]
        assert (c["rx_bytes"], c["rx_dropped"], c["tx_bytes"], c["tx_dropped"]) == (
            v[0],
            v[3],
            v[8],
            v[11],
        )


def test_parse_proc_stat_and_meminfo() -> None:
    text = (
        "cpu  100 2 30 400 5 6 7 8 0 0\ncpu0 50 1 15 200 2 3 3 4 0 0\n"
        "cpu1 50 1 15 200 3 3 4 4 0 0\nintr 1 2 3\n"
    )
    total, cpus = S.parse_proc_stat(text)
    assert total == (100 + 2 + 30 + 400 + 5 + 6 + 7) * 10_000_000 and cpus == 2
    assert S.parse_meminfo_total("MemFree: 1 kB\nMemTotal:  2048 kB\n") == 2 * 1024 * 1024
    assert S.parse_meminfo_total("") == 0


CGROUP = {
    "cpu_stats": {
        "cpu_usage": {"total_usage": 5_000, "usage_in_kernelmode": 1, "usage_in_usermode": 2},
        "throttling_data": {"periods": 1, "throttled_periods": 0, "throttled_time": 0},
    },
    "memory_stats": {"usage": 4096, "limit": None, "stats": {"total_inactive_file": 1024}},
    "pids_stats": {"current": 3, "limit": None},
    "blkio_stats": {"io_service_bytes_recursive": [{"major": 8, "minor": 0, "op": "Read"}]},
}


def test_document_shape() -> None:
    prev = S.Sample("2024-01-01T00:00:00.5Z", CGROUP, 1_000, 2, None)
    cur = S.Sample("2024-01-01T00:00:01.5Z", CGROUP, 2_000, 2, {"eth0": {"rx_bytes": 1}})
    doc = S.document("/web", "abc", cur, prev, host_memory=8192)
    assert doc["name"] == "/web" and doc["id"] == "abc"
    assert doc["read"] == cur.read and doc["preread"] == prev.read
    assert doc["memory_stats"]["limit"] == 8192  # no limit: the host's memory
    assert doc["pids_stats"] == {"current": 3}
    assert doc["cpu_stats"]["system_cpu_usage"] == 2_000 and doc["cpu_stats"]["online_cpus"] == 2
    assert doc["precpu_stats"]["system_cpu_usage"] == 1_000
    assert doc["networks"] == {"eth0": {"rx_bytes": 1}}
    assert set(doc["blkio_stats"]) >= {"io_service_bytes_recursive", "sectors_recursive"}
    first = S.document("/web", "abc", cur, None, host_memory=0)
    assert first["preread"] == S.ZERO_TIME and first["precpu_stats"] == S.empty_cpu()
    assert first["memory_stats"]["limit"] == 0 and first["networks"] == cur.networks
    limited = dict(CGROUP, memory_stats={"usage": 1, "limit": 100, "stats": {}})
    doc2 = S.document("/w", "i", S.Sample("t", limited, 0, 1, {}), None, host_memory=8192)
    assert doc2["memory_stats"]["limit"] == 100 and "networks" not in doc2


class FakeRow:
    def __init__(self) -> None:
        self.id = "c" * 64
        self.name = "web"
        self.state: dict[str, Any] = {"Running": True, "Pid": 0}
        self.host_config: dict[str, Any] = {"NetworkMode": "none"}


class FakeCgroup:
    def __init__(self) -> None:
        self.n = 0

    def stats(self) -> dict[str, Any]:
        self.n += 1
        usage = {"total_usage": self.n * 100, "usage_in_kernelmode": 0, "usage_in_usermode": 0}
        return {"cpu_stats": {"cpu_usage": usage}, "memory_stats": {"usage": 1, "limit": 10}}


class FakeService:
    def __init__(self, row: FakeRow) -> None:
        self.rows = {row.id: row}
        self.cg = FakeCgroup()

    def _cgroup(self, row: FakeRow) -> FakeCgroup:
        return self.cg


def test_one_document_waits_for_a_second_sample() -> None:
    row = FakeRow()
    svc = FakeService(row)
    slept: list[float] = []
    docs = list(S.stats(svc, row, stream=False, sleep=slept.append))  # type: ignore[arg-type]
    assert len(docs) == 1 and slept == [S.INTERVAL]
    d = docs[0]
    assert d["precpu_stats"]["cpu_usage"]["total_usage"] == 100
    assert d["cpu_stats"]["cpu_usage"]["total_usage"] == 200
    one = list(S.stats(svc, row, stream=False, one_shot=True, sleep=slept.append))  # type: ignore[arg-type]
    assert len(one) == 1 and len(slept) == 1 and one[0]["preread"] == S.ZERO_TIME


def test_stream_until_removed_and_empty_when_stopped() -> None:
    row = FakeRow()
    svc = FakeService(row)
    seen: list[dict[str, Any]] = []

    def sleep(_: float) -> None:
        if len(seen) == 2:
            row.state["Running"] = False
        if len(seen) == 3:
            del svc.rows[row.id]

    for doc in S.stats(svc, row, stream=True, sleep=sleep):  # type: ignore[arg-type]
        seen.append(doc)
    assert len(seen) == 3
    assert seen[1]["precpu_stats"]["cpu_usage"]["total_usage"] == 100
    assert seen[2] == S.empty_stats("/web", row.id)
    row.state["Running"] = False
    assert list(S.stats(svc, row, stream=False)) == [S.empty_stats("/web", row.id)]  # type: ignore[arg-type]
