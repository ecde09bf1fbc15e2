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


def _without_cgroupns(runtime: RuntimeHandle) -> list[dict[str, str]]:
    from berth.runtime.defaults import default_spec

    return [ns for ns in default_spec()["linux"]["namespaces"] if ns["type"] != "cgroup"]


def test_without_a_cgroup_namespace_the_init_joins_its_cgroup_before_it_uses_it(
    runtime: RuntimeHandle,
) -> None:
    # The fast path (runc spec's namespaces: no cgroup one): the v1 directories are made
    # while the init starts, and it joins them before its cgroup mounts and device nodes.
    b = runtime.bundle(
        [
            "sh",
            "-c",
            "cat /proc/self/cgroup; cat /sys/fs/cgroup/pids/pids.max;"
            " mknod /dev/blk b 7 0 && head -c1 /dev/blk; echo status=$?",
        ],
        linux={"namespaces": _without_cgroupns(runtime), "resources": {"pids": {"limit": 42}}},
    )
    r = runtime.run("run", "--bundle", str(b.path), b.path.name)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    hierarchies = [ln for ln in lines if ln.count(":") >= 2]
    assert len(hierarchies) >= 9  # the v1 ones and cgroup2
    for ln in hierarchies:
        assert ln.endswith(f"/berth-test/{b.path.name}"), ln
    assert "42" in lines
    assert lines[-1] == "status=1"  # the devices controller held: reading it is refused
    assert "Operation not permitted" in r.stderr


def test_a_created_container_without_a_cgroup_namespace_is_in_its_cgroup(
    runtime: RuntimeHandle,
) -> None:
    import json

    b = runtime.bundle(["true"], linux={"namespaces": _without_cgroupns(runtime)})
    r = runtime.run("create", "--bundle", str(b.path), b.path.name)
    assert r.returncode == 0, r.stderr
    state = json.loads(runtime.run("state", b.path.name, check=True).stdout)
    with open(f"/proc/{state['pid']}/cgroup") as f:
        lines = f.read().splitlines()
    assert len(lines) >= 9
    for ln in lines:
        assert ln.endswith(f"/berth-test/{b.path.name}"), ln
    assert runtime.run("delete", "--force", b.path.name).returncode == 0
