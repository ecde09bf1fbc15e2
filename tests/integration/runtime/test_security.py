"""Defences runc learned the hard way, each shown against the real kernel."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from support.fixtures_runtime import RuntimeHandle, reap


def test_no_runtime_fd_leaks_into_the_container(runtime: RuntimeHandle, tmp_path: Path) -> None:
    # An inheritable descriptor of the caller (fd 5 here) must not reach the program.
    leak = os.open(tmp_path, os.O_RDONLY)
    os.set_inheritable(leak, True)
    try:
        b = runtime.bundle(["sh", "-c", "ls /proc/self/fd"])
        r = subprocess.run(
            runtime.cmd("run", "--bundle", str(b.path), b.path.name),
            capture_output=True,
            text=True,
            close_fds=False,
            timeout=60,
        )
    finally:
        os.close(leak)
    fds = sorted(int(x) for x in r.stdout.split())
    assert fds[:3] == [0, 1, 2]
    assert len(fds) == 4  # 0-2 and the descriptor ls opens to read /proc/self/fd


def test_preserve_fds(runtime: RuntimeHandle, tmp_path: Path) -> None:
    src = tmp_path / "passed"
    src.write_text("handed over\n")
    b = runtime.bundle(["sh", "-c", "cat <&3; ls /proc/self/fd | wc -l"])
    code = (
        "import os, subprocess, sys\n"
        f"fd = os.open({str(src)!r}, os.O_RDONLY)\n"
        "if fd != 3:\n    os.dup2(fd, 3)\n    os.close(fd)\n"
        "os.set_inheritable(3, True)\n"
        f"cmd = {runtime.cmd('run', '--preserve-fds', '1', '-b', str(b.path), b.path.name)!r}\n"
        "sys.exit(subprocess.run(cmd, pass_fds=(3,)).returncode)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "handed over"
    assert int(lines[1]) == 5  # 0-2, the preserved 3, and ls's own


def test_cwd_through_a_magic_link_is_refused(runtime: RuntimeHandle) -> None:
    # CVE-2024-21626: a cwd of /proc/self/fd/N would land outside the rootfs.
    r = runtime.container(["pwd"], process={"cwd": "/proc/self/fd/3"})
    assert r.returncode == 1
    assert "process.cwd: /proc/self/fd/3" in r.stderr
    assert runtime.ids() == []


def test_cwd_symlink_escape_stays_inside(runtime: RuntimeHandle, rootfs: Path) -> None:
    (rootfs / "escape").symlink_to("../../../../../../../tmp")
    b = runtime.bundle(["sh", "-c", "pwd; ls -a"], process={"cwd": "/escape"})
    b.update(root={"path": str(rootfs), "readonly": False})
    r = runtime.run("run", "--bundle", str(b.path), b.path.name)
    assert r.returncode == 0, r.stderr
    # ../ stops at the container's root: /escape resolves to the container's /tmp
    assert r.stdout.splitlines()[0] in ("/tmp", "/escape")
    assert sorted(r.stdout.split()[1:]) == [".", ".."]  # the rootfs' empty /tmp, not the host's


def test_mount_destination_symlink_cannot_escape(
    runtime: RuntimeHandle, rootfs: Path, tmp_path: Path
) -> None:
    # CVE-2021-30465 family: a symlinked destination must resolve inside the rootfs.
    outside = tmp_path / "outside"
    outside.mkdir()
    (rootfs / "evil").symlink_to(str(outside))  # absolute: the host's path
    b = runtime.bundle(["sh", "-c", "grep ' /' /proc/self/mounts | grep tmpfs | cut -d' ' -f2"])
    b.update(
        root={"path": str(rootfs), "readonly": False},
        mounts=[
            *b.spec["mounts"],
            {"destination": "/evil/sub", "type": "tmpfs", "source": "tmpfs"},
        ],
    )
    r = runtime.run("run", "--bundle", str(b.path), b.path.name)
    assert r.returncode == 0, r.stderr
    assert not (outside / "sub").exists()  # nothing was created on the host side
    assert (rootfs / str(outside).lstrip("/") / "sub").is_dir()  # but inside the rootfs


def test_proc_must_be_procfs_before_writing(runtime: RuntimeHandle, tmp_path: Path) -> None:
    # A config (or image) that puts something else at /proc must not make the
    # runtime write a "sysctl" into a file of the host.
    fake = tmp_path / "fakeproc"
    (fake / "sys" / "kernel").mkdir(parents=True)
    target = fake / "sys" / "kernel" / "shmmni"
    target.write_text("untouched\n")
    mounts = [m for m in runtime.bundle(["true"]).spec["mounts"] if m["destination"] != "/proc"]
    mounts.insert(
        0, {"destination": "/proc", "type": "bind", "source": str(fake), "options": ["rbind"]}
    )
    r = runtime.container(["true"], mounts=mounts, linux={"sysctl": {"kernel.shmmni": "100"}})
    assert r.returncode == 1
    assert "/proc is not on procfs" in r.stderr
    assert target.read_text() == "untouched\n"


def _hash(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_runtime_binary_is_out_of_reach(runtime: RuntimeHandle, tmp_path: Path) -> None:
    """CVE-2019-5736: during create (init waiting) and during exec, no process of the
    container can open the runtime's own executable through /proc/<pid>/exe."""
    exe = os.path.realpath(sys.executable)
    before = _hash(exe)
    b = runtime.bundle(["sleep", "60"], process={"capabilities": None})
    cid = b.path.name
    runtime.run("create", "--bundle", str(b.path), cid, check=True)
    # The init is still the runtime's interpreter, waiting for start; from inside:
    probe = (
        "for p in /proc/[0-9]*; do "
        '  exe=$(readlink $p/exe 2>&1); echo "$p $exe"; '
        "  (echo x >> $p/exe) 2>/dev/null && echo WROTE $p; "
        "done; true"
    )
    # exec into the created container (its init has not exec'd yet)
    r = runtime.run("exec", cid, "sh", "-c", probe)
    assert r.returncode == 0, r.stderr
    assert "WROTE" not in r.stdout
    first = [line for line in r.stdout.splitlines() if line.startswith("/proc/1 ")]
    assert first and "python" not in first[0]  # the link is not even readable
    runtime.run("start", cid, check=True)
    # and a second exec cannot reach the first exec's process either
    r = runtime.run("exec", "-d", cid, "sleep", "30")
    assert r.returncode == 0
    r = runtime.run("exec", cid, "sh", "-c", probe)
    assert "WROTE" not in r.stdout
    # The detached exec's parent is this test process (the subreaper): it must reap
    # it before the container's pid 1 can finish dying, as conmon would.
    runtime.run("kill", "--all", cid, "KILL", check=True)
    deadline = time.monotonic() + 10
    while json.loads(runtime.run("state", cid, check=True).stdout)["status"] != "stopped":
        reap()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    runtime.run("delete", cid, check=True)
    assert _hash(exe) == before


def test_init_is_not_dumpable_while_waiting(runtime: RuntimeHandle) -> None:
    b = runtime.bundle(["true"])
    cid = b.path.name
    runtime.run("create", "--bundle", str(b.path), cid, check=True)
    pid = json.loads(runtime.run("state", cid, check=True).stdout)["pid"]
    st = os.stat(f"/proc/{pid}")
    # a non-dumpable process's /proc entries belong to root:root and its exe is guarded
    assert (st.st_uid, st.st_gid) == (0, 0)
    with open(f"/proc/{pid}/status") as f:
        assert "State:" in f.read()
    runtime.run("delete", "-f", cid, check=True)
    time.sleep(0)


def test_proc_self_exe_script_does_not_reach_the_host_interpreter(
    runtime: RuntimeHandle, rootfs: Path
) -> None:
    # runc's CVE-2019-5736: a program "#!/proc/self/exe" used to run the runtime's own
    # binary inside the container. berth's init execs through a sealed memfd trampoline.
    script = rootfs / "evil.sh"
    script.write_text("#!/proc/self/exe\nprint('the host interpreter ran in the container')\n")
    script.chmod(0o755)
    b = runtime.bundle(["/evil.sh"])
    b.update(root={"path": str(rootfs), "readonly": False})
    r = runtime.run("run", "--bundle", str(b.path), b.path.name)
    assert "host interpreter ran" not in r.stdout
    assert r.returncode == 126
    # and a normal program sees its own binary as /proc/self/exe
    r = runtime.container(["readlink", "/proc/self/exe"])
    assert r.stdout == "/bin/busybox\n"
