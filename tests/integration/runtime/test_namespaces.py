"""User, time, joined and cgroup namespaces."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.fixtures_runtime import RuntimeHandle


def test_user_namespace_mappings(runtime: RuntimeHandle, rootfs: Path) -> None:
    # The mapped root (host uid 100000) must be able to reach the rootfs, as with runc.
    for parent in [rootfs, *rootfs.parents]:
        if parent == Path("/tmp"):
            break
        parent.chmod(parent.stat().st_mode | 0o011)
    b = runtime.bundle(
        ["sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; id -u; stat -c %u /bin/busybox"]
    )
    ns = [n for n in b.spec["linux"]["namespaces"]] + [{"type": "user"}]
    b.update(
        root={"path": str(rootfs), "readonly": False},
        linux={
            "namespaces": ns,
            "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
            "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
        },
    )
    r = runtime.run("run", "--bundle", str(b.path), b.path.name)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split("\n")
    assert lines[0].split() == ["0", "100000", "65536"]
    assert lines[1].split() == ["0", "100000", "65536"]
    assert lines[2] == "0"  # root inside ...
    assert lines[3] == "65534"  # ... and the host's root files belong to nobody


def test_time_namespace_offsets(runtime: RuntimeHandle) -> None:
    day = 86400
    b = runtime.bundle(["cat", "/proc/uptime"])
    b.update(
        linux={
            "namespaces": [*b.spec["linux"]["namespaces"], {"type": "time"}],
            "timeOffsets": {"boottime": {"secs": 10 * day, "nanosecs": 0}},
        }
    )
    with open("/proc/uptime") as f:
        host = float(f.read().split()[0])
    r = runtime.run("run", "--bundle", str(b.path), b.path.name)
    assert r.returncode == 0, r.stderr
    inside = float(r.stdout.split()[0])
    assert 10 * day <= inside - host < 10 * day + 30


@pytest.fixture
def netns_holder() -> Iterator[int]:
    """A process in a network namespace of its own (with a dummy link), killed at the end."""
    proc = subprocess.Popen(
        [
            "unshare",
            "--net",
            "sh",
            "-c",
            "ip link add dummy7 type dummy; echo ready; exec sleep 60",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    try:
        # unshare execs sh which execs sleep: the pid stays
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


def test_join_network_namespace_by_path(runtime: RuntimeHandle, netns_holder: int) -> None:
    path = f"/proc/{netns_holder}/ns/net"
    b = runtime.bundle(["sh", "-c", "readlink /proc/self/ns/net; ls /sys/class/net"])
    ns = [n for n in b.spec["linux"]["namespaces"] if n["type"] != "network"]
    b.update(linux={"namespaces": [*ns, {"type": "network", "path": path}]})
    # sysfs must be mounted in the joined netns: drop /sys (it shows the creator's netns)
    r = runtime.run("run", "--bundle", str(b.path), b.path.name)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[0] == os.readlink(path)


def test_missing_namespace_path_is_reported(runtime: RuntimeHandle) -> None:
    b = runtime.bundle(["true"])
    ns = [n for n in b.spec["linux"]["namespaces"] if n["type"] != "ipc"]
    b.update(linux={"namespaces": [*ns, {"type": "ipc", "path": "/proc/999999999/ns/ipc"}]})
    r = runtime.run("run", "--bundle", str(b.path), b.path.name)
    assert r.returncode == 1
    assert "linux.namespaces[5].path: /proc/999999999/ns/ipc does not exist" in r.stderr
    assert runtime.ids() == []


def test_host_namespaces_when_not_listed(runtime: RuntimeHandle) -> None:
    b = runtime.bundle(["readlink", "/proc/self/ns/net"])
    b.update(hostname=None, linux={"namespaces": [{"type": "mount"}, {"type": "pid"}]})
    r = runtime.run("run", "--bundle", str(b.path), b.path.name)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == os.readlink("/proc/self/ns/net")


def test_pid_namespace_join_runs_beside_the_other(runtime: RuntimeHandle) -> None:
    first = runtime.bundle(["sleep", "60"])
    runtime.run("run", "-d", "--bundle", str(first.path), first.path.name, check=True)
    import json

    pid = json.loads(runtime.run("state", first.path.name, check=True).stdout)["pid"]
    second = runtime.bundle(["ps", "-o", "pid,comm"])
    ns = [n for n in second.spec["linux"]["namespaces"] if n["type"] != "pid"]
    second.update(linux={"namespaces": [*ns, {"type": "pid", "path": f"/proc/{pid}/ns/pid"}]})
    r = runtime.run("run", "--bundle", str(second.path), second.path.name)
    assert r.returncode == 0, r.stderr
    assert "    1 sleep" in r.stdout
    runtime.run("delete", "-f", first.path.name, check=True)
    time.sleep(0)


def test_each_container_gets_a_new_network_namespace(runtime: RuntimeHandle) -> None:
    # (made by a thread of the runtime while it plans the container, then joined)
    import json

    first = runtime.bundle(["sleep", "60"])
    runtime.run("run", "-d", "--bundle", str(first.path), first.path.name, check=True)
    pid = json.loads(runtime.run("state", first.path.name, check=True).stdout)["pid"]
    r = runtime.container(["sh", "-c", "readlink /proc/self/ns/net; ls /sys/class/net"])
    assert r.returncode == 0, r.stderr
    ns, *links = r.stdout.split()
    assert links == ["lo"]
    assert ns not in (os.readlink(f"/proc/{pid}/ns/net"), os.readlink("/proc/self/ns/net"))
    assert os.readlink(f"/proc/{pid}/ns/net") != os.readlink("/proc/self/ns/net")
    runtime.run("delete", "-f", first.path.name, check=True)
