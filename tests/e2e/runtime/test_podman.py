"""podman drives berth-runtime in place of runc (podman --runtime)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.fixtures_runtime import CGROUP_PARENT, RUNTIME, _remove_cgroup_parent

pytestmark = pytest.mark.peers

CONF = """\
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
cgroups = "no-conmon"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
"""


class Podman:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.env = dict(os.environ, CONTAINERS_CONF=str(base / "containers.conf"))

    def cmd(self, *args: str) -> list[str]:
        b = self.base
        return [
            "podman",
            "--root",
            str(b / "root"),
            "--runroot",
            str(b / "runroot"),
            "--tmpdir",
            str(b / "tmp"),
            "--storage-driver",
            "overlay",
            "--runtime",
            RUNTIME,
            # the runtime's state in the test's own directory (podman passes no --root
            # to a runtime it does not know, which would use /run/berth-runtime)
            "--runtime-flag",
            f"root={b / 'rt'}",
            *args,
        ]

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        r = subprocess.run(
            self.cmd(*args),
            capture_output=True,
            text=True,
            env=self.env,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        if check and r.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)} failed ({r.returncode}): {r.stderr}")
        return r


@pytest.fixture
def podman(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, busybox_rootfs: Path
) -> Iterator[Podman]:
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed (scripts/setup installs it)")
    # podman refuses a runroot longer than 50 characters: a short dir in the run's temp root
    base = Path(tempfile.mkdtemp(prefix="pm", dir=tmp_path_factory.getbasetemp()))
    (base / "containers.conf").write_text(CONF)
    p = Podman(base)
    archive = tmp_path / "busybox.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(busybox_rootfs, arcname=".")
    p.run("import", "-q", str(archive), "localhost/busybox:latest")
    try:
        yield p
    finally:
        p.run("rm", "-a", "-f", "-t", "0", check=False)
        p.run("system", "reset", "-f", check=False)
        shutil.rmtree(base, ignore_errors=True)
        _remove_cgroup_parent()


def test_podman_run_rm_echo(podman: Podman) -> None:
    r = podman.run(
        "run",
        "--rm",
        f"--cgroup-parent={CGROUP_PARENT}",
        "--network",
        "none",
        "localhost/busybox",
        "echo",
        "hi",
    )
    assert r.stdout == "hi\n"


def test_podman_lifecycle_exec_and_limits(podman: Podman) -> None:
    common = [f"--cgroup-parent={CGROUP_PARENT}", "--network", "none"]
    podman.run(
        "run",
        "-d",
        "--name",
        "web",
        "--pids-limit",
        "33",
        "--memory",
        "50m",
        *common,
        "localhost/busybox",
        "sleep",
        "300",
    )
    r = podman.run(
        "exec",
        "web",
        "sh",
        "-c",
        "cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/memory/memory.limit_in_bytes;"
        "ps -o pid,comm",
    )
    lines = r.stdout.split("\n")
    assert lines[0] == "33" and lines[1] == str(50 * 1024 * 1024)
    assert "    1 sleep" in r.stdout
    assert podman.run("exec", "web", "sh", "-c", "exit 9", check=False).returncode == 9
    podman.run("pause", "web")
    assert "paused" in podman.run("inspect", "--format", "{{.State.Status}}", "web").stdout
    podman.run("unpause", "web")
    top = podman.run("top", "web").stdout
    assert "sleep 300" in top
    podman.run("stop", "-t", "0", "web")
    assert "exited" in podman.run("inspect", "--format", "{{.State.Status}}", "web").stdout
    podman.run("rm", "web")


def test_podman_exit_codes(podman: Podman) -> None:
    common = ["--rm", f"--cgroup-parent={CGROUP_PARENT}", "--network", "none", "localhost/busybox"]
    assert podman.run("run", *common, "sh", "-c", "exit 42", check=False).returncode == 42
    missing = podman.run("run", *common, "nonexistent-cmd", check=False)
    assert missing.returncode == 127
    assert "executable file not found in $PATH" in missing.stderr
