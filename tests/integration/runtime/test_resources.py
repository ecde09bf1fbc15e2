"""linux.resources applied by the runtime, observed from inside and on the host."""

from __future__ import annotations

from support.fixtures_runtime import RuntimeHandle


def test_limits_are_in_the_container_cgroup(runtime: RuntimeHandle) -> None:
    res = {
        "memory": {"limit": 64 * 1024 * 1024},
        "cpu": {"quota": 20000, "period": 100000, "shares": 512, "cpus": "0"},
        "pids": {"limit": 20},
    }
    script = (
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us"
        " /sys/fs/cgroup/cpu/cpu.cfs_period_us /sys/fs/cgroup/cpu/cpu.shares"
        " /sys/fs/cgroup/cpuset/cpuset.cpus /sys/fs/cgroup/pids/pids.max"
    )
    r = runtime.container(["sh", "-c", script], linux={"resources": res})
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [str(64 * 1024 * 1024), "20000", "100000", "512", "0", "20"]


def test_pids_limit_stops_a_fork_bomb(runtime: RuntimeHandle) -> None:
    # Start more sleepers than the limit allows: the fork beyond the limit fails
    # (EAGAIN) and the shell gives up; the container never held more than 10.
    script = (
        "cat /sys/fs/cgroup/pids/pids.max; i=0;"
        " while [ $i -lt 30 ]; do sleep 5 & i=$((i+1)); echo $i; done"
    )
    r = runtime.container(["sh", "-c", script], linux={"resources": {"pids": {"limit": 10}}})
    lines = r.stdout.split()
    assert lines[0] == "10"
    assert r.returncode != 0
    assert "can't fork" in r.stderr
    assert int(lines[-1]) < 10  # forks that succeeded before the limit bit


def test_memory_limit_oom_kills(runtime: RuntimeHandle) -> None:
    # A 16 MiB limit without swap: a 64 MiB allocation dies (SIGKILL -> 137).
    res = {"memory": {"limit": 16 * 1024 * 1024, "swap": 16 * 1024 * 1024}}
    r = runtime.container(
        ["sh", "-c", "x=$(head -c 67108864 /dev/zero | tr '\\0' a); echo survived ${#x}"],
        linux={"resources": res},
    )
    assert "survived" not in r.stdout
    assert r.returncode == 137
