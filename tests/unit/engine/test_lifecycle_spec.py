"""Security and resource flags as data: run options -> create body -> OCI spec (no kernel)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.cli.flags import parse
from berth.cli.runopts import CREATE_FLAGS, build, parse_sysctl
from berth.engine.containers.config import validate_create
from berth.engine.containers.specgen import (
    DEFAULT_CAPS,
    IPC_SYSCTLS,
    SpecInput,
    capabilities,
    check_sysctls,
    generate,
    rlimits,
)
from berth.errors import InvalidArgument
from berth.kernel.consts import CAPABILITIES

EVERY = set(CAPABILITIES)
NO_RESOURCE = EVERY - {"CAP_SYS_RESOURCE"}


def body(*flags: str) -> dict[str, Any]:
    opts = parse(CREATE_FLAGS, [*flags, "busybox"], interspersed=False)
    doc, _ = build(opts, "busybox", [])
    return doc


def test_capability_sets_follow_dockers_precedence() -> None:
    assert capabilities({}, EVERY) == list(DEFAULT_CAPS)
    assert capabilities({"CapDrop": ["ALL"]}, EVERY) == []
    assert capabilities({"CapDrop": ["ALL"], "CapAdd": ["net_admin"]}, EVERY) == ["CAP_NET_ADMIN"]
    # an add beats a drop of the same capability (Docker's order: drop, then add)
    assert "CAP_CHOWN" in capabilities({"CapAdd": ["CHOWN"], "CapDrop": ["CHOWN"]}, EVERY)
    # add ALL beats drop ALL; explicit drops still apply
    every = capabilities({"CapAdd": ["ALL"], "CapDrop": ["ALL", "NET_RAW"]}, EVERY)
    assert set(every) == EVERY - {"CAP_NET_RAW"}
    with pytest.raises(InvalidArgument, match='unknown capability: "CAP_NOPE"'):
        capabilities({"CapAdd": ["nope"]}, EVERY)
    with pytest.raises(InvalidArgument, match='unknown capability: "CAP_NOPE"'):
        capabilities({"CapDrop": ["CAP_NOPE"]}, EVERY)


def test_everything_is_what_the_daemon_has() -> None:
    priv = capabilities({"Privileged": True}, NO_RESOURCE)
    assert set(priv) == NO_RESOURCE
    assert "CAP_SYS_RESOURCE" not in capabilities({"CapAdd": ["ALL"]}, NO_RESOURCE)
    with pytest.raises(InvalidArgument, match="cannot add CAP_SYS_RESOURCE: berthd does not"):
        capabilities({"CapAdd": ["SYS_RESOURCE"]}, NO_RESOURCE)
    # a default the daemon lacks is left out rather than failing every container
    assert "CAP_MKNOD" not in capabilities({}, EVERY - {"CAP_MKNOD"})


@given(
    add=st.lists(st.sampled_from([*sorted(CAPABILITIES), "ALL"]), max_size=5),
    drop=st.lists(st.sampled_from([*sorted(CAPABILITIES), "ALL"]), max_size=5),
)
def test_capability_sets_are_within_what_the_daemon_has(add: list[str], drop: list[str]) -> None:
    try:
        caps = capabilities({"CapAdd": add, "CapDrop": drop}, NO_RESOURCE)
    except InvalidArgument as e:
        assert "CAP_SYS_RESOURCE" in str(e)
        return
    assert set(caps) <= NO_RESOURCE and len(caps) == len(set(caps))
    for c in add:
        if c in ("ALL", "CAP_SYS_RESOURCE"):
            continue
        if "ALL" in add and c in drop:
            assert c not in caps  # Docker: with ALL added, the drops are what is left out
        else:
            assert c in caps


def test_sysctl_rules() -> None:
    check_sysctls(
        {"net.ipv4.ip_forward": "1", "kernel.shmmax": "1", "fs.mqueue.msg_max": "1"},
        host_net=False,
        host_ipc=False,
        host_uts=False,
    )
    check_sysctls({"kernel.domainname": "x"}, host_net=False, host_ipc=False, host_uts=False)
    cases = {
        "vm.swappiness": r'sysctl "vm\.swappiness" is not in a separate kernel namespace',
        "kernel.hostname": 'conflicts with the OCI "hostname" field',
    }
    for key, message in cases.items():
        with pytest.raises(InvalidArgument, match=message):
            check_sysctls({key: "1"}, host_net=False, host_ipc=False, host_uts=False)
    with pytest.raises(InvalidArgument, match="not allowed in host network namespace"):
        check_sysctls({"net.core.somaxconn": "1"}, host_net=True, host_ipc=False, host_uts=False)
    for key in sorted(IPC_SYSCTLS):
        with pytest.raises(InvalidArgument, match="hosts ipc namespace"):
            check_sysctls({key: "1"}, host_net=False, host_ipc=True, host_uts=False)
    with pytest.raises(InvalidArgument, match="not in a separate kernel namespace"):
        check_sysctls({"kernel.domainname": "x"}, host_net=False, host_ipc=False, host_uts=True)


@given(st.text(min_size=1, max_size=30))
def test_cli_sysctls_are_the_docker_clis_list(name: str) -> None:
    text = f"{name}=1"
    ok = name in IPC_SYSCTLS or name.startswith(("net.", "fs.mqueue."))
    if ok and "=" not in name:
        assert parse_sysctl(text) == (name, "1")
    elif "=" not in name:
        with pytest.raises(InvalidArgument, match="is not whitelisted"):
            parse_sysctl(text)


def test_userns_modes() -> None:
    assert body("--userns", "host")["HostConfig"]["UsernsMode"] == "host"
    with pytest.raises(InvalidArgument, match="--userns: invalid USER mode"):
        body("--userns", "keep-id")
    validate_create({"Image": "x", "HostConfig": {"UsernsMode": "host"}})
    with pytest.raises(InvalidArgument, match="invalid userns mode: remap"):
        validate_create({"Image": "x", "HostConfig": {"UsernsMode": "remap"}})


def test_ulimit_warnings() -> None:
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    warnings: list[str] = []
    out = rlimits({"Ulimits": [{"Name": "nofile", "Soft": 10, "Hard": 20}]}, warnings)
    assert out == [{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 20}] and warnings == []
    if hard == resource.RLIM_INFINITY:
        return
    out = rlimits({"Ulimits": [{"Name": "nofile", "Soft": hard + 5, "Hard": hard + 10}]}, warnings)
    assert out == [{"type": "RLIMIT_NOFILE", "soft": hard, "hard": hard}]
    assert warnings == [
        f"ulimit nofile: hard limit {hard + 10} is above the host's {hard}; using {hard}"
    ]
    with pytest.raises(InvalidArgument, match="invalid ulimit type: bogus"):
        rlimits({"Ulimits": [{"Name": "bogus", "Soft": 1, "Hard": 1}]}, [])


def spec(host_config: dict[str, Any], **inp: Any) -> dict[str, Any]:
    i = SpecInput("c" * 64, {"Image": "busybox", "Cmd": ["sh"]}, host_config)
    i.rootfs = "/nonexistent"
    for k, v in inp.items():
        setattr(i, k, v)
    return generate(i)


def test_spec_of_resource_and_security_flags() -> None:
    hc = validate_create(
        body(
            "--cpus",
            "0.5",
            "-m",
            "64m",
            "--memory-swap",
            "96m",
            "--memory-reservation",
            "32m",
            "--pids-limit",
            "50",
            "--cpuset-cpus",
            "0-1",
            "--cpu-shares",
            "512",
            "--read-only",
            "--shm-size",
            "1m",
            "--tmpfs",
            "/run:size=1m",
            "--security-opt",
            "no-new-privileges",
            "--sysctl",
            "net.ipv4.ip_forward=1",
            "--init",
        )
    )[1]
    s = spec(hc)
    res = s["linux"]["resources"]
    assert res["cpu"] == {"period": 100000, "quota": 50000, "shares": 512, "cpus": "0-1"}
    assert res["memory"] == {"limit": 64 << 20, "swap": 96 << 20, "reservation": 32 << 20}
    assert res["pids"] == {"limit": 50}
    assert s["root"]["readonly"] is True and s["process"]["noNewPrivileges"] is True
    assert s["linux"]["sysctl"] == {"net.ipv4.ip_forward": "1"}
    assert s["process"]["args"][:2] == ["/sbin/docker-init", "--"]
    mounts = {m["destination"]: m for m in s["mounts"]}
    assert f"size={1 << 20}" in mounts["/dev/shm"]["options"]
    assert mounts["/run"]["type"] == "tmpfs" and "size=1m" in mounts["/run"]["options"]
    assert "/proc/kcore" in s["linux"]["maskedPaths"]
    assert "/proc/sys" in s["linux"]["readonlyPaths"]
    assert s["linux"]["seccomp"]["defaultAction"] == "SCMP_ACT_ERRNO"


def test_spec_of_privileged() -> None:
    s = spec({"Privileged": True})
    assert "seccomp" not in s["linux"] and "maskedPaths" not in s["linux"]
    assert s["linux"]["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    paths = {d["path"] for d in s["linux"].get("devices", [])}
    assert "/dev/ptmx" not in paths and not any(p.startswith("/dev/pts/") for p in paths)
    sys_mount = next(m for m in s["mounts"] if m["destination"] == "/sys")
    assert "ro" not in sys_mount["options"]


def test_host_sysctl_refused_in_the_spec() -> None:
    with pytest.raises(InvalidArgument, match=r'"vm\.swappiness" is not in a separate'):
        spec({"Sysctls": {"vm.swappiness": "1"}})
    with pytest.raises(InvalidArgument, match="not allowed in host network namespace"):
        spec({"Sysctls": {"net.ipv4.ip_forward": "1"}}, netns_path="host")
