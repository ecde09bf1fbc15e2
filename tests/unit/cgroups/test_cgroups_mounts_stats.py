"""What the container sees at /sys/fs/cgroup, and the stats parsers."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from berth.cgroups import Layout, open_cgroup
from berth.cgroups import stats as s
from berth.kernel import consts as c
from berth.kernel.mountplan import MountOp
from support import cgroups_texts as t
from support.cgroups_fakefs import FakeFS

BASE = c.MS_NOSUID | c.MS_NODEV | c.MS_NOEXEC
V1 = Layout.parse(t.V1_MOUNTINFO, t.V1_CGROUP)
V2 = Layout.parse(t.V2_MOUNTINFO, t.V2_CGROUP, unified_controllers=t.V2_CONTROLLERS)
HYBRID = Layout.parse(t.HYBRID_MOUNTINFO, t.HYBRID_CGROUP)


def test_v2_mounts() -> None:
    cg = open_cgroup(None, "c1", V2)
    assert cg.container_mounts(cgroupns=True) == [
        MountOp("cgroup2", "/sys/fs/cgroup", "cgroup2", BASE | c.MS_RDONLY)
    ]
    assert cg.container_mounts(cgroupns=False, readonly=False) == [
        MountOp(cg.paths["unified"], "/sys/fs/cgroup", None, c.MS_BIND | c.MS_REC),
        MountOp(None, "/sys/fs/cgroup", None, c.MS_BIND | c.MS_REMOUNT | BASE),
    ]


def test_v1_mounts_bind_own_dirs_and_link_comounts() -> None:
    cg = open_cgroup(None, "c1", V1)
    ops = cg.container_mounts(cgroupns=False)
    assert ops[0] == MountOp("tmpfs", "/sys/fs/cgroup", "tmpfs", BASE, "mode=755")
    assert MountOp(cg.paths["cpu"], "/sys/fs/cgroup/cpu,cpuacct", None, c.MS_BIND | c.MS_REC) in ops
    assert (
        MountOp(
            None, "/sys/fs/cgroup/cpu,cpuacct", None, c.MS_BIND | c.MS_REMOUNT | BASE | c.MS_RDONLY
        )
        in ops
    )
    links = {(op.target, op.source) for op in ops if op.kind == "symlink"}
    assert links == {
        ("/sys/fs/cgroup/cpu", "cpu,cpuacct"),
        ("/sys/fs/cgroup/cpuacct", "cpu,cpuacct"),
        ("/sys/fs/cgroup/net_cls", "net_cls,net_prio"),
        ("/sys/fs/cgroup/net_prio", "net_cls,net_prio"),
    }
    assert ops[-1] == MountOp(
        None, "/sys/fs/cgroup", None, c.MS_REMOUNT | c.MS_RDONLY | BASE, "mode=755"
    )
    # every bind shows only the container's own cgroup
    binds = [op for op in ops if op.flags & c.MS_BIND and op.source]
    assert {op.source for op in binds} == set(cg.dirs)
    # the symlinks come after every mount they point into
    last_mount = max(
        i for i, op in enumerate(ops) if op.kind != "symlink" and op.target != "/sys/fs/cgroup"
    )
    first_link = min(i for i, op in enumerate(ops) if op.kind == "symlink")
    assert first_link > last_mount


def test_v1_mounts_with_a_cgroup_namespace() -> None:
    cg = open_cgroup(None, "c1", V1)
    ops = cg.container_mounts(cgroupns=True)
    assert (
        MountOp("cgroup", "/sys/fs/cgroup/cpu,cpuacct", "cgroup", BASE | c.MS_RDONLY, "cpu,cpuacct")
        in ops
    )
    assert (
        MountOp(
            "cgroup", "/sys/fs/cgroup/systemd", "cgroup", BASE | c.MS_RDONLY, "none,name=systemd"
        )
        in ops
    )
    assert not any(op.flags & c.MS_BIND for op in ops)


def test_hybrid_mounts_include_unified() -> None:
    cg = open_cgroup(None, "c1", HYBRID)
    ops = cg.container_mounts(cgroupns=True)
    assert MountOp("cgroup2", "/sys/fs/cgroup/unified", "cgroup2", BASE | c.MS_RDONLY) in ops
    assert not any(op.kind == "symlink" for op in ops)


# -- stats ---------------------------------------------------------------------------------
def test_parsers() -> None:
    assert s.parse_flat("cache 10\nrss 20\nbogus\nx y\n") == {"cache": 10, "rss": 20}
    assert s.parse_ints("1 2 3 \n") == [1, 2, 3]
    text = (
        "254:0 Read 4096\n254:0 Write 8192\n254:0 Sync 0\n254:0 Async 12288\n"
        "254:0 Total 12288\nTotal 12288\n"
    )
    assert s.parse_blkio_v1(text)[:2] == [
        {"major": 254, "minor": 0, "op": "Read", "value": 4096},
        {"major": 254, "minor": 0, "op": "Write", "value": 8192},
    ]
    io = s.parse_io_stat("8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0\n")
    assert io == {(8, 0): {"rbytes": 1, "wbytes": 2, "rios": 3, "wios": 4, "dbytes": 0, "dios": 0}}
    assert s.io_stat_to_blkio(io)["io_serviced_recursive"] == [
        {"major": 8, "minor": 0, "op": "read", "value": 3},
        {"major": 8, "minor": 0, "op": "write", "value": 4},
    ]


@given(
    st.dictionaries(
        st.text(st.sampled_from("abcdefgh_"), min_size=1, max_size=10),
        st.integers(0, 1 << 62),
        max_size=10,
    )
)
def test_parse_flat_reads_back(values: dict[str, int]) -> None:
    text = "".join(f"{k} {v}\n" for k, v in values.items())
    assert s.parse_flat(text) == values


@given(st.text(max_size=60))
@example("rss ²\n8:0 Read ²\n8:²\n8:0 rbytes=²\n")  # digits to isdigit(), not to int()
def test_stats_parsers_never_crash(text: str) -> None:
    s.parse_flat(text)
    s.parse_blkio_v1(text)
    s.parse_io_stat(text)


def test_collect_v1_from_files() -> None:
    cg = open_cgroup(None, "c1", HYBRID)
    p = cg.paths
    files = {
        f"{p['cpuacct']}/cpuacct.usage": "3000\n",
        f"{p['cpuacct']}/cpuacct.usage_percpu": "1000 2000 \n",
        f"{p['cpuacct']}/cpuacct.stat": "user 1\nsystem 2\n",
        f"{p['cpu']}/cpu.stat": "nr_periods 10\nnr_throttled 4\nthrottled_time 500\n",
        f"{p['memory']}/memory.usage_in_bytes": "4096\n",
        f"{p['memory']}/memory.max_usage_in_bytes": "8192\n",
        f"{p['memory']}/memory.failcnt": "0\n",
        f"{p['memory']}/memory.limit_in_bytes": "9223372036854771712\n",
        f"{p['memory']}/memory.stat": "cache 100\nrss 200\n",
        f"{p['pids']}/pids.current": "3\n",
        f"{p['pids']}/pids.max": "10\n",
        f"{p['blkio']}/blkio.throttle.io_service_bytes_recursive": "254:0 Read 1\nTotal 1\n",
    }
    cg.fs = FakeFS(set(cg.dirs), files)
    got = cg.stats()
    assert got["cpu_stats"] == {
        "cpu_usage": {
            "total_usage": 3000,
            "percpu_usage": [1000, 2000],
            "usage_in_usermode": 10**7,
            "usage_in_kernelmode": 2 * 10**7,
        },
        "throttling_data": {"periods": 10, "throttled_periods": 4, "throttled_time": 500},
    }
    assert got["memory_stats"] == {
        "usage": 4096,
        "max_usage": 8192,
        "failcnt": 0,
        "limit": None,
        "stats": {"cache": 100, "rss": 200},
    }
    assert got["pids_stats"] == {"current": 3, "limit": 10}
    assert got["blkio_stats"]["io_service_bytes_recursive"] == [
        {"major": 254, "minor": 0, "op": "Read", "value": 1}
    ]


def test_collect_v2_from_files() -> None:
    cg = open_cgroup(None, "c1", V2)
    d = cg.paths["unified"]
    files = {
        f"{d}/cpu.stat": (
            "usage_usec 5\nuser_usec 3\nsystem_usec 2\nnr_periods 1\nnr_throttled 1\n"
            "throttled_usec 7\n"
        ),
        f"{d}/memory.current": "100\n",
        f"{d}/memory.max": "max\n",
        f"{d}/memory.stat": "anon 10\nfile 20\n",
        f"{d}/pids.current": "1\n",
        f"{d}/pids.max": "max\n",
    }
    cg.fs = FakeFS({d}, files)
    got = cg.stats()
    assert got["cpu_stats"]["cpu_usage"] == {
        "total_usage": 5000,
        "usage_in_usermode": 3000,
        "usage_in_kernelmode": 2000,
    }
    assert got["cpu_stats"]["throttling_data"]["throttled_time"] == 7000
    assert got["memory_stats"] == {"usage": 100, "limit": None, "stats": {"anon": 10, "file": 20}}
    assert got["pids_stats"] == {"current": 1, "limit": None}
    assert "blkio_stats" not in got  # io not enabled: left out
