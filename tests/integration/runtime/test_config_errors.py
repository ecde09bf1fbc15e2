"""A bad config gets a message naming the field, and nothing is left behind."""

from __future__ import annotations

import json

import pytest

from support.fixtures_runtime import RuntimeHandle


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"process": {"args": []}}, "process.args: must hold at least the program to run"),
        ({"process": {"cwd": "relative"}}, "process.cwd: 'relative' must be an absolute path"),
        ({"process": {"args": "sh"}}, "process.args: expected an array, got a string"),
        (
            {"process": {"env": ["NOEQUALS"]}},
            "process.env[0]: 'NOEQUALS' is not of the form NAME=value",
        ),
        (
            {"process": {"capabilities": {"bounding": ["CAP_NOPE"]}}},
            "process.capabilities.bounding[0]: unknown capability 'CAP_NOPE'",
        ),
        (
            {"process": {"rlimits": [{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 5}]}},
            "process.rlimits[0]: soft limit 10 is above the hard limit 5",
        ),
        ({"root": {"path": "/does/not/exist"}}, "root.path: rootfs /does/not/exist does not exist"),
        (
            {"linux": {"namespaces": [{"type": "mount"}, {"type": "bogus"}]}},
            "linux.namespaces[1].type: unknown namespace type 'bogus'",
        ),
        (
            {"hostname": None, "linux": {"namespaces": [{"type": "pid"}]}},
            "needs a mount namespace",
        ),
        (
            {"mounts": [{"destination": "relative/x", "type": "tmpfs"}]},
            "mounts[0].destination: 'relative/x' must be an absolute path",
        ),
        (
            {"linux": {"rootfsPropagation": "sideways"}},
            "linux.rootfsPropagation: 'sideways' is not a propagation type",
        ),
        ({"linux": {"cgroupsPath": "slice:prefix:name"}}, "systemd slice:prefix:name path"),
        ({"linux": {"seccomp": {"defaultAction": "SCMP_ACT_NOPE"}}}, "linux.seccomp.defaultAction"),
        (
            {"linux": {"timeOffsets": {"boottime": {"secs": 1}}}},
            "linux.timeOffsets: time offsets need a new time namespace",
        ),
        (
            {"linux": {"uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}},
            "linux.uidMappings: ID mappings need a new user namespace",
        ),
    ],
)
def test_bad_config(runtime: RuntimeHandle, changes: dict[str, object], message: str) -> None:
    b = runtime.bundle(["true"], **changes)
    r = runtime.run("create", "--bundle", str(b.path), b.path.name)
    assert r.returncode == 1
    assert message.replace('"', '\\"') in r.stderr, r.stderr
    assert runtime.ids() == []
    assert not (runtime.root / b.path.name).exists()


def test_not_json_and_not_a_bundle(runtime: RuntimeHandle) -> None:
    b = runtime.bundle(["true"])
    (b.path / "config.json").write_text('{"ociVersion": "1.2.0", "process": ')
    r = runtime.run("create", "--bundle", str(b.path), "x")
    assert r.returncode == 1 and "config.json: invalid JSON at line 1" in r.stderr
    r = runtime.run("create", "--bundle", str(runtime.tmp), "x")
    assert r.returncode == 1 and "config.json does not exist: is" in r.stderr
    assert runtime.ids() == []


def test_bad_container_id(runtime: RuntimeHandle) -> None:
    b = runtime.bundle(["true"])
    r = runtime.run("create", "--bundle", str(b.path), "../escape")
    assert r.returncode == 1 and "invalid container id" in r.stderr


def test_failure_after_the_fork_leaves_nothing(runtime: RuntimeHandle) -> None:
    # The init fails late (mounting onto a file that is not a directory): the cgroup,
    # the processes and the state must all be gone.
    b = runtime.bundle(["true"])
    b.update(
        mounts=[
            *b.spec["mounts"],
            {"destination": "/bin/busybox/sub", "type": "tmpfs", "source": "tmpfs"},
        ]
    )
    r = runtime.run("create", "--bundle", str(b.path), b.path.name)
    assert r.returncode == 1
    assert "at /bin/busybox/sub in the container" in r.stderr
    assert "Not a directory" in r.stderr
    assert runtime.ids() == []
    listed = json.loads(runtime.run("list", "--format", "json").stdout or "[]")
    assert listed == []
