"""Security flags and Docker's defaults, observed from inside containers run through the CLI.

Capabilities, --privileged, seccomp (default profile, unconfined, a profile
file), no-new-privileges, masked and read-only paths, devices, sysctls,
namespace modes, --userns, --init, --time-offset, users and groups, and the
process settings (-w, --entrypoint, -e/--env-file, --hostname).
"""

from __future__ import annotations

import json
import os
import time

import pytest

from berth.client.api import Client
from berth.errors import BerthError
from support.engine_daemon import Engine

DOCKER_CAPS = 0xA80425FB  # Docker's 14 default capabilities
CAP = {"NET_RAW": 13, "NET_ADMIN": 12, "SYS_ADMIN": 21, "SYS_RESOURCE": 24, "SYS_PTRACE": 19}


def run(e: Engine, *args: str, code: int = 0) -> str:
    r = e.run(["run", "--rm", *args])
    assert r.returncode == code, (args, r.returncode, r.stdout, r.stderr)
    return r.stdout if code == 0 else r.stderr


def status_field(text: str, name: str) -> str:
    for line in text.splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"{name} not in {text!r}")


def host_bounding() -> int:
    with open("/proc/self/status") as f:
        return int(status_field(f.read(), "CapBnd"), 16)


def caps(e: Engine, *flags: str) -> tuple[int, int]:
    text = run(e, *flags, "busybox", "cat", "/proc/self/status")
    return int(status_field(text, "CapEff"), 16), int(status_field(text, "CapBnd"), 16)


def test_capabilities(lc: Engine) -> None:
    assert caps(lc) == (DOCKER_CAPS, DOCKER_CAPS)
    assert caps(lc, "--cap-drop", "ALL") == (0, 0)
    assert caps(lc, "--cap-drop", "ALL", "--cap-add", "NET_ADMIN")[0] == 1 << CAP["NET_ADMIN"]
    eff, _ = caps(lc, "--cap-add", "SYS_ADMIN", "--cap-drop", "net_raw")
    assert eff == (DOCKER_CAPS | 1 << CAP["SYS_ADMIN"]) & ~(1 << CAP["NET_RAW"])
    assert caps(lc, "--cap-add", "CAP_SYS_PTRACE")[0] == DOCKER_CAPS | 1 << CAP["SYS_PTRACE"]
    # ALL is everything berthd itself has (this machine's bounding set lacks SYS_RESOURCE)
    assert caps(lc, "--cap-add", "ALL")[0] == host_bounding()
    assert caps(lc, "--cap-add", "ALL", "--cap-drop", "NET_RAW")[0] == host_bounding() & ~(
        1 << CAP["NET_RAW"]
    )
    err = run(lc, "--cap-add", "FOO", "busybox", "true", code=125)
    assert 'unknown capability: "CAP_FOO"' in err
    if not host_bounding() & 1 << CAP["SYS_RESOURCE"]:
        err = run(lc, "--cap-add", "SYS_RESOURCE", "busybox", "true", code=125)
        assert "cannot add CAP_SYS_RESOURCE: berthd does not have it" in err


def test_privileged(lc: Engine) -> None:
    out = run(
        lc,
        "--privileged",
        "busybox",
        "sh",
        "-c",
        "cat /proc/self/status; ls -l /dev/fuse; grep ' /sys ' /proc/self/mountinfo;"
        " echo 1 > /proc/sys/vm/drop_caches 2>&1 && echo sys-writable; ls /dev | wc -l",
    )
    assert int(status_field(out, "CapEff"), 16) == host_bounding()
    assert status_field(out, "Seccomp") == "0"
    assert out.split("/dev/fuse")[0].splitlines()[-1][0] == "c"  # the host's devices
    mountinfo = next(line for line in out.splitlines() if " /sys " in line)
    assert " /sys rw," in mountinfo  # /sys writable
    assert "sys-writable" in out  # no read-only /proc/sys
    assert int(out.split()[-1]) > 20


def test_default_seccomp_profile_and_masked_paths(lc: Engine) -> None:
    for what in ("keyctl", "unshare-user", "unshare-mount", "mount"):
        assert run(lc, "--entrypoint", "/probe", "probe", what) == f"{what} EPERM\n"
    # normal work succeeds under the default profile
    out = run(
        lc,
        "busybox",
        "sh",
        "-c",
        "echo x > /tmp/f && cat /tmp/f && ps >/dev/null && date >/dev/null && echo fine;"
        " ls /proc/kcore 2>&1; wc -c < /proc/timer_list; cat /proc/keys 2>&1 | wc -c;"
        " (echo 1 > /proc/sys/kernel/domainname) 2>&1; grep Seccomp: /proc/self/status",
    )
    assert "x\nfine\n" in out
    assert "/proc/kcore: No such file or directory" in out
    assert "\n0\n0\n" in out  # /proc/timer_list and /proc/keys read empty
    assert "Read-only file system" in out
    assert status_field(out, "Seccomp") == "2"


def test_seccomp_options_and_no_new_privileges(lc: Engine, tmp_path: object) -> None:
    out = run(
        lc, "--security-opt", "seccomp=unconfined", "--entrypoint", "/probe", "probe", "keyctl"
    )
    assert out == "keyctl ok\n"
    out = run(lc, "--security-opt", "seccomp=unconfined", "busybox", "cat", "/proc/self/status")
    assert status_field(out, "Seccomp") == "0" and status_field(out, "NoNewPrivs") == "0"
    out = run(lc, "--security-opt", "no-new-privileges", "busybox", "cat", "/proc/self/status")
    assert status_field(out, "NoNewPrivs") == "1"
    # a profile file (Docker's format): everything allowed but mkdir(at), which fails EACCES
    profile = os.path.join(str(tmp_path), "profile.json")
    with open(profile, "w") as f:
        json.dump(
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [
                    {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}
                ],
            },
            f,
        )
    out = run(
        lc,
        "--security-opt",
        f"seccomp={profile}",
        "busybox",
        "sh",
        "-c",
        "mkdir /tmp/d 2>&1; echo still-here",
    )
    assert "Permission denied" in out and "still-here" in out


def test_devices(lc: Engine) -> None:
    out = run(lc, "--device", "/dev/fuse", "busybox", "ls", "-l", "/dev/fuse")
    assert out.startswith("crw") and "10, 229" in out
    out = run(lc, "--device", "/dev/fuse:/dev/myfuse:r", "busybox", "ls", "-l", "/dev/myfuse")
    assert out.startswith("crw")
    assert "No such file" in run(lc, "busybox", "ls", "/dev/fuse", code=1)
    err = run(lc, "--device", "/dev/nonexistent", "busybox", "true", code=125)
    assert "/dev/nonexistent" in err


def test_sysctls(lc: Engine) -> None:
    out = run(
        lc,
        "--sysctl",
        "net.ipv4.ip_forward=1",
        "--sysctl",
        "kernel.shmmax=1000",
        "busybox",
        "cat",
        "/proc/sys/net/ipv4/ip_forward",
        "/proc/sys/kernel/shmmax",
    )
    assert out == "1\n1000\n"
    err = run(lc, "--sysctl", "vm.swappiness=1", "busybox", "true", code=125)
    assert "sysctl 'vm.swappiness=1' is not whitelisted" in err
    err = run(
        lc, "--network", "host", "--sysctl", "net.ipv4.ip_forward=1", "busybox", "true", code=125
    )
    assert 'sysctl "net.ipv4.ip_forward" not allowed in host network namespace' in err
    # through the API (docker-py, compose send it as given): the daemon refuses it at start
    with Client(lc.host) as c:
        body = {
            "Image": "busybox",
            "Cmd": ["true"],
            "HostConfig": {"Sysctls": {"vm.swappiness": "1"}},
        }
        cid = c.post_json("/containers/create", None, body)["Id"]
        with pytest.raises(BerthError, match=r'"vm\.swappiness" is not in a separate'):
            c.post_json(f"/containers/{cid}/start")


def test_namespace_modes(lc: Engine) -> None:
    cid = lc.run(["run", "-d", "--name", "target", "busybox", "sleep", "60"]).stdout.strip()
    assert cid
    out = run(lc, "--pid", "container:target", "busybox", "ps", "-o", "pid,args")
    assert "1 sleep 60" in out
    out = run(lc, "--pid", "host", "busybox", "ps", "-o", "pid,args")
    assert len(out.splitlines()) > 20  # the host's processes
    assert run(lc, "--uts", "host", "busybox", "hostname") == os.uname().nodename + "\n"
    host_ipc = os.readlink("/proc/self/ns/ipc")
    assert run(lc, "--ipc", "host", "busybox", "readlink", "/proc/self/ns/ipc") == host_ipc + "\n"
    target_pid = json.loads(lc.run(["inspect", "target"]).stdout)[0]["State"]["Pid"]
    their_ipc = os.readlink(f"/proc/{target_pid}/ns/ipc")
    out = run(lc, "--ipc", "container:target", "busybox", "readlink", "/proc/self/ns/ipc")
    assert out == their_ipc + "\n" and their_ipc != host_ipc
    out = run(lc, "--uts", "container:target", "busybox", "hostname")
    assert out == cid[:12] + "\n"  # the other container's hostname
    assert lc.run(["rm", "-f", "target"]).returncode == 0
    err = run(lc, "--pid", "container:target", "busybox", "true", code=125)
    assert "No such container: target" in err


def test_userns(lc: Engine) -> None:
    """berth has Docker's --userns=host only (no daemon-wide remapping)."""
    assert run(lc, "--userns", "host", "busybox", "id", "-u") == "0\n"
    err = run(lc, "--userns", "remap", "busybox", "true", code=125)
    assert "--userns: invalid USER mode" in err


def test_init_reaps_zombies_and_forwards_signals(lc: Engine) -> None:
    assert run(lc, "--entrypoint", "/probe", "probe", "orphan") == "zombies 1\n"
    assert run(lc, "--init", "--entrypoint", "/probe", "probe", "orphan") == "zombies 0\n"
    out = run(lc, "--init", "busybox", "ps", "-o", "pid,comm")
    assert "1 docker-init" in out
    r = lc.run(
        [
            "run",
            "-d",
            "--init",
            "--name",
            "trapper",
            "busybox",
            "sh",
            "-c",
            "trap 'echo got TERM; exit 3' TERM; echo ready; while true; do sleep 0.1; done",
        ]
    )
    assert r.returncode == 0, r.stderr
    wait_for_log(lc, "trapper", "ready")
    r = lc.run(["stop", "-t", "10", "trapper"])
    assert r.returncode == 0
    info = json.loads(lc.run(["inspect", "trapper"]).stdout)[0]
    assert info["State"]["ExitCode"] == 3  # the shell got SIGTERM through the init
    assert "got TERM" in lc.run(["logs", "trapper"]).stdout


def wait_for_log(e: Engine, name: str, text: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while text not in e.run(["logs", name]).stdout:
        assert time.monotonic() < deadline, f"{name} never logged {text!r}"
        time.sleep(0.05)


def test_time_offset(lc: Engine) -> None:
    with open("/proc/uptime") as f:
        host = float(f.read().split()[0])
    out = run(lc, "--time-offset", "boottime=86400", "busybox", "cat", "/proc/uptime")
    inside = float(out.split()[0])
    assert 86400 + host - 5 < inside < 86400 + host + 60
    out = run(lc, "--time-offset", "boottime=2h", "busybox", "cat", "/proc/uptime")
    assert 7200 + host - 5 < float(out.split()[0]) < 7200 + host + 60
    err = run(lc, "--time-offset", "realtime=5", "busybox", "true", code=125)
    assert "invalid --time-offset" in err


def test_users_groups_and_process_settings(lc: Engine, tmp_path: object) -> None:
    assert run(lc, "-u", "nobody", "busybox", "id") == "uid=65534(nobody) gid=65534(nobody)\n"
    out = run(lc, "-u", "1000:nobody", "--group-add", "10", "busybox", "id")
    assert out.startswith("uid=1000 gid=65534(nobody)") and "10" in out
    err = run(lc, "-u", "nosuchuser", "busybox", "true", code=125)
    assert "unable to find user nosuchuser" in err
    assert run(lc, "-w", "/var/tmp/new", "busybox", "pwd") == "/var/tmp/new\n"
    assert run(lc, "--entrypoint", "echo", "busybox", "a", "b") == "a b\n"
    env_file = os.path.join(str(tmp_path), "env")
    with open(env_file, "w") as f:
        f.write("# comment\nFROM_FILE=1\n\nOVERRIDE=file\n")
    out = run(
        lc,
        "--env-file",
        env_file,
        "-e",
        "OVERRIDE=flag",
        "-e",
        "PLAIN=x y",
        "--hostname",
        "myhost",
        "busybox",
        "sh",
        "-c",
        'echo "$FROM_FILE $OVERRIDE $PLAIN $HOSTNAME"; hostname; cat /etc/hostname',
    )
    assert out == "1 flag x y myhost\nmyhost\nmyhost\n"


def test_a_user_is_looked_up_in_the_files_the_container_sees(lc: Engine, tmp_path: object) -> None:
    # berthd remembers what an image's /etc/passwd gave (a start need not wait for
    # the rootfs for it), but not for a container whose own layer changed the file
    plain = "uid=65534(nobody) gid=65534(nobody)\n"
    assert run(lc, "-u", "nobody", "busybox", "id") == plain
    assert run(lc, "-u", "nobody", "busybox", "id") == plain
    cid = lc.run(["create", "-u", "nobody", "busybox", "id"]).stdout.strip()
    passwd = os.path.join(str(tmp_path), "passwd")
    with open(passwd, "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\nnobody:x:4242:65534:nobody:/:/bin/false\n")
    try:
        assert lc.run(["cp", passwd, f"{cid}:/etc/passwd"]).returncode == 0
        r = lc.run(["start", "-a", cid])
        assert r.stdout == "uid=4242(nobody) gid=65534(nobody)\n", r.stderr
    finally:
        lc.run(["rm", "-f", cid])
    assert run(lc, "-u", "nobody", "busybox", "id") == plain


def test_stop_signal_and_timeout(lc: Engine) -> None:
    r = lc.run(
        [
            "run",
            "-d",
            "--name",
            "stubborn",
            "--stop-signal",
            "SIGUSR1",
            "--stop-timeout",
            "1",
            "busybox",
            "sh",
            "-c",
            "trap 'echo got USR1' USR1; echo ready; while true; do sleep 0.1; done",
        ]
    )
    assert r.returncode == 0, r.stderr
    wait_for_log(lc, "stubborn", "ready")
    t0 = time.monotonic()
    assert lc.run(["stop", "stubborn"]).returncode == 0
    took = time.monotonic() - t0
    info = json.loads(lc.run(["inspect", "stubborn"]).stdout)[0]
    assert info["Config"]["StopSignal"] == "SIGUSR1" and info["Config"]["StopTimeout"] == 1
    assert info["State"]["ExitCode"] == 137  # ignored the stop signal: SIGKILL after 1 s
    assert "got USR1" in lc.run(["logs", "stubborn"]).stdout
    assert took >= 1.0
    # stop -t overrides the container's timeout; --signal the signal
    r = lc.run(["run", "-d", "--name", "quick", "busybox", "sleep", "60"])
    assert r.returncode == 0
    assert lc.run(["stop", "-t", "0", "quick"]).returncode == 0
    assert json.loads(lc.run(["inspect", "quick"]).stdout)[0]["State"]["ExitCode"] == 137
    # kill of a paused container: it is thawed to die, as in Docker
    assert lc.run(["start", "quick"]).returncode == 0
    assert lc.run(["pause", "quick"]).returncode == 0
    assert lc.run(["kill", "quick"]).returncode == 0
    assert lc.run(["wait", "quick"]).stdout == "137\n"
    st = json.loads(lc.run(["inspect", "quick"]).stdout)[0]["State"]
    assert (st["Status"], st["Paused"]) == ("exited", False)


def test_the_monitor_execs_every_container_through_one_sealed_trampoline(lc: Engine) -> None:
    # CVE-2019-5736 through the engine: the monitor keeps one sealed memfd of the
    # trampoline, and each container's init inherits it for its exec.
    r = lc.run(
        [
            "run",
            "--name",
            "evil",
            "busybox",
            "sh",
            "-c",
            "printf '#!/proc/self/exe\\nhost interpreter ran\\n' > /evil && chmod +x /evil",
        ]
    )
    assert r.returncode == 0, r.stderr
    assert lc.run(["commit", "evil", "evil:1"]).returncode == 0
    lc.run(["rm", "evil"])
    try:
        for _ in range(3):
            r = lc.run(["run", "--rm", "evil:1", "/evil"])
            assert r.returncode == 126 and "host interpreter ran" not in r.stdout
        # only 0-2 in the container; ls itself opens the directory as 3
        assert run(lc, "busybox", "ls", "/proc/self/fd").split() == ["0", "1", "2", "3"]
        with open(os.path.join(lc.exec_root, "shim.pid")) as f:
            monitor = int(f.read())
        fds = os.listdir(f"/proc/{monitor}/fd")
        memfds = [
            fd
            for fd in fds
            if os.readlink(f"/proc/{monitor}/fd/{fd}").startswith("/memfd:berth-exec")
        ]
        assert len(memfds) == 1  # one for all the starts: none made per container
    finally:
        lc.run(["rmi", "evil:1"])
