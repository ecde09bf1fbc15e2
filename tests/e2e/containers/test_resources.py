"""Resource flags end to end: flag -> API -> OCI spec -> cgroup, observed.

CPU limits are measured through the container's cpuacct usage over about two
seconds (with a generous margin); memory limits end in the OOM killer (137,
State.OOMKilled, an ``oom`` event); --pids-limit stops a fork loop; the other
limits are read back from the cgroup files the container sees; ulimits are
clamped to the host's hard limit with a warning.
"""

from __future__ import annotations

import json
import os
import time

import pytest

from support.engine_daemon import Engine

BUSY = "while :; do :; done"
HOG = 'x=a; while true; do x="$x$x"; done'


def run(e: Engine, *args: str, code: int = 0) -> str:
    r = e.run(["run", "--rm", *args])
    assert r.returncode == code, (args, r.returncode, r.stdout, r.stderr)
    return r.stdout


def detached(e: Engine, *args: str) -> str:
    r = e.run(["run", "-d", *args])
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def state(e: Engine, ref: str) -> dict[str, object]:
    doc: dict[str, object] = json.loads(e.run(["inspect", ref]).stdout)[0]["State"]
    return doc


def cgroup_dir(pid: int, controller: str) -> str:
    """The host path of a process's cgroup in one v1 hierarchy."""
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if controller in controllers.split(","):
                for mount in (controller, controllers):
                    d = f"/sys/fs/cgroup/{mount}{path}"
                    if os.path.isdir(d):
                        return d
    raise AssertionError(f"no {controller} cgroup for pid {pid}")


def cpu_share(e: Engine, cids: list[str], seconds: float = 2.0) -> list[float]:
    """The CPU each container used over ``seconds`` of wall time, in CPUs."""
    files = []
    for cid in cids:
        pid = int(state(e, cid)["Pid"])  # type: ignore[call-overload]
        files.append(os.path.join(cgroup_dir(pid, "cpuacct"), "cpuacct.usage"))

    def usage() -> list[int]:
        out = []
        for path in files:
            with open(path) as f:
                out.append(int(f.read()))
        return out

    time.sleep(0.3)  # past the first period
    u0, t0 = usage(), time.monotonic()
    time.sleep(seconds)
    u1, t1 = usage(), time.monotonic()
    return [(b - a) / 1e9 / (t1 - t0) for a, b in zip(u0, u1, strict=True)]


def test_cpu_quota_and_cpus_hold_a_busy_loop_to_a_fifth(lc: Engine) -> None:
    quota = detached(lc, "--cpu-period=100000", "--cpu-quota=20000", "busybox", "sh", "-c", BUSY)
    cpus = detached(lc, "--cpus", "0.2", "busybox", "sh", "-c", BUSY)
    shares = cpu_share(lc, [quota, cpus])
    for used in shares:
        assert 0.1 < used < 0.3, shares
    pid = int(state(lc, cpus)["Pid"])  # type: ignore[call-overload]
    d = cgroup_dir(pid, "cpu")
    with open(f"{d}/cpu.cfs_quota_us") as f1, open(f"{d}/cpu.cfs_period_us") as f2:
        assert (f1.read().strip(), f2.read().strip()) == ("20000", "100000")
    info = json.loads(lc.run(["inspect", cpus]).stdout)[0]
    assert info["HostConfig"]["NanoCpus"] == 200_000_000


def test_memory_limit_ends_in_the_oom_killer(lc: Engine) -> None:
    since = str(int(time.time()))
    r = lc.run(["run", "--name", "hog", "-m", "16m", "busybox", "sh", "-c", HOG])
    assert r.returncode == 137, r.stderr
    st = state(lc, "hog")
    assert st["OOMKilled"] is True and st["ExitCode"] == 137 and st["Status"] == "exited"
    events = lc.run(
        [
            "events",
            "--since",
            since,
            "--until",
            str(int(time.time()) + 1),
            "--filter",
            "container=hog",
            "--format",
            "{{.Action}}",
        ]
    ).stdout.split()
    assert "oom" in events and "die" in events
    assert events.index("oom") < events.index("die")
    # --memory-swap equal to the memory: no swap; the files say so; the hog dies the same way
    out = run(
        lc,
        "-m",
        "16m",
        "--memory-swap",
        "16m",
        "busybox",
        "sh",
        "-c",
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes"
        " /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes",
    )
    assert out.split() == [str(16 << 20), str(16 << 20)]
    out = run(
        lc, "-m", "16m", "busybox", "cat", "/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"
    )
    assert out.strip() == str(32 << 20)  # Docker's default: as much swap again
    r = lc.run(
        ["run", "--name", "hog2", "-m", "16m", "--memory-swap", "16m", "busybox", "sh", "-c", HOG]
    )
    assert r.returncode == 137
    assert state(lc, "hog2")["OOMKilled"] is True
    # a container killed with SIGKILL also exits 137, but was not OOM-killed
    detached(lc, "--name", "k", "busybox", "sleep", "60")
    assert lc.run(["kill", "k"]).returncode == 0
    assert lc.run(["wait", "k"]).stdout == "137\n"
    assert state(lc, "k")["OOMKilled"] is False
    err = lc.run(["run", "--rm", "-m", "1m", "busybox", "true"]).stderr
    assert "Minimum memory limit allowed is 6MB" in err


def test_pids_limit_stops_a_fork_loop(lc: Engine) -> None:
    # the subshell forks until the limit stops it (busybox's shell gives up on a failed
    # fork); the rest uses builtins only, as no process can be forked at the limit
    r = lc.run(
        [
            "run",
            "--rm",
            "--pids-limit",
            "10",
            "busybox",
            "sh",
            "-c",
            "(for i in $(seq 30); do sleep 5 & done);"
            " read max < /sys/fs/cgroup/pids/pids.max;"
            " read cur < /sys/fs/cgroup/pids/pids.current;"
            " read ev n < /sys/fs/cgroup/pids/pids.events; echo $max $cur $n; kill -9 -1",
        ]
    )
    assert r.returncode == 0, r.stderr
    limit, current, refused = r.stdout.split()
    assert limit == "10" and int(current) <= 10 and int(refused) >= 1
    assert "can't fork" in r.stderr


def test_cgroup_limits_read_back(lc: Engine) -> None:
    out = run(
        lc,
        "--cpuset-cpus",
        "0",
        "--cpu-shares",
        "512",
        "--memory-reservation",
        "32m",
        "--device-read-bps",
        "/dev/vda:1mb",
        "--device-write-iops",
        "/dev/vda:100",
        "busybox",
        "sh",
        "-c",
        "cd /sys/fs/cgroup; cat cpuset/cpuset.cpus cpu/cpu.shares"
        " memory/memory.soft_limit_in_bytes blkio/blkio.throttle.read_bps_device"
        " blkio/blkio.throttle.write_iops_device; grep Cpus_allowed_list /proc/self/status",
    )
    vda = os.stat("/dev/vda").st_rdev
    dev = f"{os.major(vda)}:{os.minor(vda)}"
    assert out.splitlines() == [
        "0",
        "512",
        str(32 << 20),
        f"{dev} 1048576",
        f"{dev} 100",
        "Cpus_allowed_list:\t0",
    ]


def test_memory_options_read_back(lc: Engine) -> None:
    out = run(
        lc,
        "-m",
        "32m",
        "--oom-kill-disable",
        "--memory-swappiness",
        "10",
        "--cpuset-mems",
        "0",
        "busybox",
        "sh",
        "-c",
        "cd /sys/fs/cgroup; head -1 memory/memory.oom_control; cat memory/memory.swappiness"
        " cpuset/cpuset.mems",
    )
    assert out.splitlines() == ["oom_kill_disable 1", "10", "0"]


def test_blkio_weight(lc: Engine) -> None:
    out = run(lc, "--blkio-weight", "300", "busybox", "ls", "/sys/fs/cgroup/blkio")
    names = out.split()
    weight = next((n for n in ("blkio.weight", "blkio.bfq.weight") if n in names), None)
    if weight is None:
        pytest.skip("this kernel's blkio controller has no weight file (no CFQ/BFQ)")
    out = run(lc, "--blkio-weight", "300", "busybox", "cat", f"/sys/fs/cgroup/blkio/{weight}")
    assert out.split()[-1] == "300"


def test_ulimits_are_clamped_with_a_warning(lc: Engine) -> None:
    r = lc.run(
        ["run", "--rm", "--ulimit", "nofile=30000:40000", "busybox", "sh", "-c", "ulimit -n -H"]
    )
    assert r.returncode == 0, r.stderr
    import resource

    host_hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if host_hard == resource.RLIM_INFINITY or host_hard >= 40000:
        pytest.skip("the host allows this nofile limit: nothing to clamp")
    assert r.stderr == (
        f"WARNING: ulimit nofile: hard limit 40000 is above the host's {host_hard};"
        f" using {host_hard}\n"
    )
    out = run(
        lc,
        "--ulimit",
        "nofile=1024:2048",
        "--ulimit",
        "nproc=100",
        "busybox",
        "sh",
        "-c",
        "ulimit -n; ulimit -H -n; ulimit -u",
    )
    assert out.split() == ["1024", "2048", "100"]
    # the warning comes with the create answer (docker-py sees it too)
    r = lc.run(["create", "--ulimit", "nofile=50000", "busybox", "true"])
    assert r.returncode == 0 and "WARNING: ulimit nofile" in r.stderr
    r = lc.run(["run", "--rm", "--ulimit", "nosuch=1", "busybox", "true"])
    assert r.returncode == 125 and "invalid ulimit type: nosuch" in r.stderr


def test_shm_tmpfs_and_read_only(lc: Engine) -> None:
    out = run(lc, "busybox", "df", "-k", "/dev/shm")
    assert out.splitlines()[1].split()[1] == "65536"
    out = run(lc, "--shm-size", "1m", "busybox", "df", "-k", "/dev/shm")
    assert out.splitlines()[1].split()[1] == "1024"
    out = run(
        lc,
        "--read-only",
        "--tmpfs",
        "/run:size=1m",
        "busybox",
        "sh",
        "-c",
        "touch /x 2>&1; touch /run/x && echo run-writable; grep ' /run ' /proc/mounts;"
        " touch /dev/shm/x && echo shm-writable",
    )
    assert "touch: /x: Read-only file system" in out
    assert "run-writable" in out and "shm-writable" in out
    mount = next(line for line in out.splitlines() if " /run " in line)
    assert mount.startswith("tmpfs /run tmpfs rw,") and "size=1024k" in mount
    assert "nosuid" in mount and "nodev" in mount
