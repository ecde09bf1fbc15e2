"""containerd's runc shim drives berth-runtime as its runc binary (the road to Kubernetes)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.fixtures_runtime import CGROUP_PARENT, RUNTIME, _remove_cgroup_parent

pytestmark = pytest.mark.peers


class Containerd:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.sock = base / "c.sock"

    def ctr(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        r = subprocess.run(
            ["ctr", "-a", str(self.sock), *args],
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        if check and r.returncode != 0:
            raise AssertionError(f"ctr {' '.join(args)} failed ({r.returncode}): {r.stderr}")
        return r


@pytest.fixture
def containerd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Containerd]:
    if shutil.which("containerd") is None or shutil.which("ctr") is None:
        pytest.skip("containerd is not installed (scripts/setup installs it)")
    base = Path(tempfile.mkdtemp(prefix="ctd", dir=tmp_path_factory.getbasetemp()))
    (base / "config.toml").write_text(
        "version = 2\n"
        f'root = "{base}/root"\n'
        f'state = "{base}/state"\n'
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
        f'[grpc]\n  address = "{base}/c.sock"\n'
        f'[ttrpc]\n  address = "{base}/c.sock.ttrpc"\n'
    )
    log = open(base / "containerd.log", "w")
    proc = subprocess.Popen(
        ["containerd", "--config", str(base / "config.toml")],
        stdout=log,
        stderr=log,
        stdin=subprocess.DEVNULL,
    )
    c = Containerd(base)
    try:
        deadline = time.monotonic() + 20
        while c.ctr("version", check=False).returncode != 0:
            assert proc.poll() is None, (base / "containerd.log").read_text()
            assert time.monotonic() < deadline, "containerd did not come up"
            time.sleep(0.1)
        yield c
    finally:
        for line in c.ctr("tasks", "ls", "-q", check=False).stdout.split():
            c.ctr("tasks", "kill", "-s", "SIGKILL", line, check=False)
        for line in c.ctr("containers", "ls", "-q", check=False).stdout.split():
            c.ctr("tasks", "delete", "-f", line, check=False)
            c.ctr("containers", "delete", line, check=False)
        proc.terminate()
        proc.wait(timeout=20)
        log.close()
        shutil.rmtree(base, ignore_errors=True)
        _remove_cgroup_parent()


def test_ctr_run_with_berth_runtime(containerd: Containerd, busybox_rootfs: Path) -> None:
    r = containerd.ctr(
        "run",
        "--rm",
        "--rootfs",
        "--runc-binary",
        RUNTIME,
        "--cgroup",
        f"{CGROUP_PARENT}/ctr1",
        str(busybox_rootfs),
        "ctr1",
        "sh",
        "-c",
        "echo hello from containerd; grep pids /proc/self/cgroup; ps -o pid,comm; true",
    )
    lines = r.stdout.splitlines()
    assert lines[0] == "hello from containerd"
    assert lines[1] == f"8:pids:/{CGROUP_PARENT}/ctr1"
    assert any(line.split() == ["1", "sh"] for line in lines[2:])


def test_ctr_exec_and_kill(containerd: Containerd, busybox_rootfs: Path) -> None:
    containerd.ctr(
        "run",
        "-d",
        "--rootfs",
        "--runc-binary",
        RUNTIME,
        "--cgroup",
        f"{CGROUP_PARENT}/ctr2",
        str(busybox_rootfs),
        "ctr2",
        "sleep",
        "300",
    )
    r = containerd.ctr(
        "tasks", "exec", "--exec-id", "e1", "ctr2", "sh", "-c", "echo in; exit 4", check=False
    )
    assert r.stdout == "in\n" and r.returncode == 4
    ps = containerd.ctr("tasks", "ls").stdout
    assert "ctr2" in ps and "RUNNING" in ps
    containerd.ctr("tasks", "kill", "-s", "SIGKILL", "ctr2")
    deadline = time.monotonic() + 10
    while "STOPPED" not in containerd.ctr("tasks", "ls").stdout:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    containerd.ctr("tasks", "delete", "ctr2")
    containerd.ctr("containers", "delete", "ctr2")
