"""The real Syscalls object against the kernel (each test forks: nothing leaks)."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from berth.errors import KernelError
from berth.kernel import consts as c
from berth.kernel.syscalls import SYSCALLS as k


def in_child(fn: Callable[[], object]) -> object:
    """Run fn in a forked child and return what it returned (repr'd)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            out = repr(fn())
        except BaseException as e:  # report anything to the parent
            out = f"!{type(e).__name__}: {e}"
        os.write(w, out.encode())
        os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return data.decode()


def test_unshare_uts_and_hostname() -> None:
    def child() -> str:
        k.unshare(c.CLONE_NEWUTS)
        k.sethostname("berth-test")
        return socket.gethostname()

    assert in_child(child) == "'berth-test'"
    assert socket.gethostname() != "berth-test"


def test_mount_tmpfs_in_private_namespace(tmp_path: Path) -> None:
    target = str(tmp_path)

    def child() -> int:
        k.unshare(c.CLONE_NEWNS)
        k.mount(None, "/", None, c.MS_REC | c.MS_PRIVATE)
        k.mount("tmpfs", target, "tmpfs", 0, "size=1m")
        return k.statfs_type(target)

    assert in_child(child) == repr(c.TMPFS_MAGIC)


def test_mount_error_names_the_target(tmp_path: Path) -> None:
    def child() -> None:
        k.unshare(c.CLONE_NEWNS)
        k.mount("none", str(tmp_path / "missing"), "tmpfs")

    out = str(in_child(child))
    assert out.startswith("!KernelError: mount none on ")
    assert "missing (type tmpfs): No such file or directory (ENOENT)" in out


def test_openat2_in_root_stays_inside(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "inside").write_text("in")
    (tmp_path / "escape").symlink_to("/../../etc")
    root = os.open(tmp_path, os.O_PATH | os.O_DIRECTORY)
    try:
        fd = k.openat2(root, "escape/inside", os.O_RDONLY, c.RESOLVE_IN_ROOT)
        assert os.read(fd, 10) == b"in"
        os.close(fd)
        with pytest.raises(KernelError) as e:
            k.openat2(root, "escape/inside", os.O_RDONLY, c.RESOLVE_BENEATH)
        assert e.value.errno == 18  # EXDEV: the symlink leaves the root
    finally:
        os.close(root)


def test_procfs_magic() -> None:
    fd = os.open("/proc/self/status", os.O_RDONLY)
    try:
        assert k.fstatfs_type(fd) == c.PROC_SUPER_MAGIC
    finally:
        os.close(fd)


def test_capset_drops_in_child() -> None:
    def child() -> str:
        k.capset(1 << c.CAPABILITIES["CAP_KILL"], 1 << c.CAPABILITIES["CAP_KILL"], 0)
        for line in open("/proc/self/status"):
            if line.startswith("CapEff"):
                return line.split()[1]
        return ""

    assert in_child(child) == "'0000000000000020'"
