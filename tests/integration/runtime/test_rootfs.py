"""The container's filesystem: mounts, devices, masked and read-only paths, sysctls."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.fixtures_runtime import RuntimeHandle


def default_mounts(runtime: RuntimeHandle) -> list[dict[str, object]]:
    mounts: list[dict[str, object]] = runtime.bundle(["true"]).spec["mounts"]
    return mounts


def test_mount_kinds_and_options(runtime: RuntimeHandle, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "file").write_text("from the host\n")
    single = tmp_path / "single.txt"
    single.write_text("one file\n")
    mounts = [
        *default_mounts(runtime),
        {
            "destination": "/scratch",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["size=1m", "mode=700", "noexec"],
        },
        {"destination": "/data", "type": "bind", "source": str(data), "options": ["rbind", "ro"]},
        {
            "destination": "/etc/single.txt",
            "type": "none",
            "source": str(single),
            "options": ["bind"],
        },
        {"destination": "/rw", "source": str(data), "options": ["rbind", "rw", "rprivate"]},
    ]
    script = (
        "grep -E ' /(scratch|data|rw|etc/single.txt) ' /proc/self/mounts;"
        "cat /data/file /etc/single.txt;"
        "touch /data/x 2>&1 || echo ro-refused;"
        "stat -c %a /scratch;"
        "echo hello > /rw/written"
    )
    r = runtime.container(["sh", "-c", script], mounts=mounts)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    table = {
        line.split()[1]: line.split()[3].split(",")
        for line in lines
        if line.startswith(("tmpfs", "/dev"))
    }
    assert "noexec" in table["/scratch"] and "size=1024k" in table["/scratch"]
    assert "ro" in table["/data"]
    assert "rw" in table["/rw"]
    assert "from the host" in lines and "one file" in lines
    assert any("ro-refused" in line or "Read-only" in line for line in lines)
    assert "700" in lines
    assert (data / "written").read_text() == "hello\n"
    assert not (data / "x").exists()


def test_readonly_root_and_dev(runtime: RuntimeHandle) -> None:
    script = (
        "touch /newfile 2>/dev/null && echo root-writable || echo root-readonly;"
        "ls -l /dev/null /dev/zero /dev/urandom | cut -c1-10;"
        "readlink /dev/ptmx; readlink /dev/fd; readlink /dev/stdin;"
        "echo data > /dev/null && echo null-ok;"
        "head -c 4 /dev/zero | od -An -tx1"
    )
    r = runtime.container(["sh", "-c", script], root={"readonly": True})
    lines = r.stdout.splitlines()
    assert lines[0] == "root-readonly"
    assert lines[1:4] == ["crw-rw-rw-"] * 3
    assert lines[4:7] == ["pts/ptmx", "/proc/self/fd", "/proc/self/fd/0"]
    assert "null-ok" in lines
    assert lines[-1].split() == ["00", "00", "00", "00"]


def test_extra_device_node(runtime: RuntimeHandle) -> None:
    r = runtime.container(
        [
            "sh",
            "-c",
            "ls -ln /dev/mynull | cut -c1-10; stat -c '%t:%T %u %g' /dev/mynull;"
            "echo x > /dev/mynull && echo ok",
        ],
        linux={
            "devices": [
                {
                    "type": "c",
                    "path": "/dev/mynull",
                    "major": 1,
                    "minor": 3,
                    "fileMode": 0o622,
                    "uid": 7,
                    "gid": 8,
                }
            ]
        },
    )
    assert r.stdout.splitlines() == ["crw--w--w-", "1:3 7 8", "ok"]


def test_masked_and_readonly_paths(runtime: RuntimeHandle) -> None:
    script = (
        "wc -c < /proc/timer_list;"
        "ls /proc/acpi 2>/dev/null | wc -l;"
        "test -e /proc/kcore && echo kcore || echo no-kcore;"
        "echo 1 > /proc/sys/kernel/domainname 2>/dev/null && echo sys-writable || echo sys-readonly"
    )
    r = runtime.container(["sh", "-c", script])
    assert r.stdout.split() == ["0", "0", "no-kcore", "sys-readonly"]


def test_namespaced_sysctl(runtime: RuntimeHandle) -> None:
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        host = f.read()
    r = runtime.container(
        ["sh", "-c", "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni"],
        linux={"sysctl": {"net.ipv4.ip_forward": "1", "kernel.shmmni": "1234"}},
    )
    assert r.stdout.split() == ["1", "1234"]
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        assert f.read() == host


def test_host_sysctl_is_refused(runtime: RuntimeHandle) -> None:
    r = runtime.container(["true"], linux={"sysctl": {"vm.swappiness": "10"}})
    assert r.returncode == 1
    assert "linux.sysctl.vm.swappiness: not a namespaced sysctl" in r.stderr


def test_tmpcopyup_keeps_the_image_content(runtime: RuntimeHandle, rootfs: Path) -> None:
    (rootfs / "etc" / "keep").mkdir()
    (rootfs / "etc" / "keep" / "a.conf").write_text("kept\n")
    b = runtime.bundle(
        ["sh", "-c", "cat /etc/keep/a.conf; grep ' /etc/keep ' /proc/self/mounts | cut -d' ' -f3"]
    )
    b.update(
        root={"path": str(rootfs), "readonly": False},
        mounts=[
            *default_mounts(runtime),
            {
                "destination": "/etc/keep",
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["tmpcopyup"],
            },
        ],
    )
    r = runtime.run("run", "--bundle", str(b.path), b.path.name)
    assert r.stdout.splitlines() == ["kept", "tmpfs"]


def test_cgroup_mount_shows_the_container_cgroup(runtime: RuntimeHandle) -> None:
    r = runtime.container(
        [
            "sh",
            "-c",
            "cat /sys/fs/cgroup/pids/pids.max; grep pids /proc/self/cgroup; ls /sys/fs/cgroup",
        ],
        linux={"resources": {"pids": {"limit": 42}}},
    )
    lines = r.stdout.splitlines()
    assert lines[0] == "42"
    assert lines[1] == "8:pids:/"  # a cgroup namespace rooted at the container's cgroup
    assert {"memory", "pids", "cpu", "freezer"} <= set(lines[2:])


def test_without_a_cgroup_namespace_the_cgroup_mounts_are_read_only(
    runtime: RuntimeHandle,
) -> None:
    # the container's own cgroup dirs bound under a tmpfs; all of them made read-only,
    # nosuid, nodev and noexec by one recursive mount_setattr
    from berth.runtime.defaults import default_spec

    namespaces = [n for n in default_spec()["linux"]["namespaces"] if n["type"] != "cgroup"]
    r = runtime.container(
        [
            "sh",
            "-c",
            "grep ' /sys/fs/cgroup' /proc/self/mountinfo;"
            " touch /sys/fs/cgroup/x /sys/fs/cgroup/pids/x 2>/dev/null; echo touch=$?;"
            " cat /sys/fs/cgroup/pids/pids.max",
        ],
        linux={"namespaces": namespaces, "resources": {"pids": {"limit": 33}}},
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    mounts = [ln for ln in lines if " /sys/fs/cgroup" in ln]
    assert len(mounts) >= 10  # the tmpfs, the v1 hierarchies and cgroup2
    for ln in mounts:
        options = ln.split()[5].split(",")
        assert {"ro", "nosuid", "nodev", "noexec"} <= set(options), ln
    assert "touch=1" in lines
    assert lines[-1] == "33"


@pytest.mark.parametrize("propagation", ["rslave", "rprivate", "slave", "private", "rshared"])
def test_rootfs_propagation(runtime: RuntimeHandle, propagation: str) -> None:
    # pivot_root needs the new root's parent mount not shared: a recursive slave or
    # private / sees to that, the others have it made private; the container's / gets
    # the propagation asked for
    r = runtime.container(
        ["awk", '$5 == "/"', "/proc/self/mountinfo"],
        linux={"rootfsPropagation": propagation},
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("\n") == 1, r.stdout
    fields = r.stdout.split(" - ")[0].split()[6:]
    assert any(f.startswith("shared:") for f in fields) == (propagation == "rshared")
