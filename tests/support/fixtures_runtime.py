"""Fixtures of the runtime area: OCI bundles and a berth-runtime with its own state root."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = str(ROOT / ".venv" / "bin" / "berth-runtime")
# Containers of the tests go beneath our own cgroup, in a parent of their own.
CGROUP_PARENT = "berth-test"


def base_spec(args: list[str], rootfs: Path) -> dict[str, Any]:
    from berth.runtime.defaults import default_spec

    spec = default_spec()
    spec["process"]["args"] = args
    spec["process"]["terminal"] = False
    spec["root"] = {"path": str(rootfs), "readonly": False}
    return spec


def merge(spec: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``changes`` into a copy of ``spec`` (dicts merge, others replace)."""
    out = copy.deepcopy(spec)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


class Bundle:
    def __init__(self, path: Path, spec: dict[str, Any]) -> None:
        self.path = path
        self.spec = spec

    def write(self) -> Bundle:
        (self.path / "config.json").write_text(json.dumps(self.spec, indent=1))
        return self

    def update(self, **changes: Any) -> Bundle:
        self.spec = merge(self.spec, changes)
        return self.write()


class RuntimeHandle:
    """berth-runtime with a state root of its own; deletes what tests leave."""

    def __init__(self, root: Path, tmp: Path, rootfs: Path) -> None:
        self.root = root
        self.tmp = tmp
        self.rootfs = rootfs

    def bundle(self, args: list[str], **changes: Any) -> Bundle:
        path = self.tmp / f"bundle-{uuid.uuid4().hex[:8]}"
        path.mkdir()
        spec = base_spec(args, self.rootfs)
        cid_path = f"{CGROUP_PARENT}/{path.name}"
        spec["linux"]["cgroupsPath"] = cid_path
        return Bundle(path, merge(spec, changes)).write()

    def cmd(self, *args: str) -> list[str]:
        return [RUNTIME, "--root", str(self.root), *args]

    def run(
        self, *args: str, check: bool = False, input: str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run berth-runtime; its output goes through files, not pipes: a container
        started by create/run -d inherits them and would hold a pipe open."""
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            done = subprocess.run(
                self.cmd(*args),
                stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                text=True,
                input=input,
                timeout=timeout,
                check=False,
            )
            out.seek(0)
            err.seek(0)
            result = subprocess.CompletedProcess(done.args, done.returncode, out.read(), err.read())
        if check and result.returncode != 0:
            raise AssertionError(f"{args[0]} failed ({result.returncode}): {result.stderr}")
        return result

    def container(self, args: list[str], **changes: Any) -> subprocess.CompletedProcess[str]:
        """``run`` a container of ``args`` to completion; returns its output and status."""
        b = self.bundle(args, **changes)
        return self.run("run", "--bundle", str(b.path), b.path.name)

    def ids(self) -> list[str]:
        try:
            return [n for n in os.listdir(self.root) if (self.root / n / "state.json").exists()]
        except FileNotFoundError:
            return []

    def cleanup(self) -> None:
        reap()
        for cid in self.ids():
            subprocess.run(self.cmd("delete", "--force", cid), capture_output=True, timeout=30)
        _remove_cgroup_parent()


def reap() -> None:
    """Reap zombies the test process inherited as subreaper (tests/conftest.py).

    A container's pid 1 that is killed waits, in the kernel, until every
    process of its pid namespace is reaped — including exec'd ones whose
    parent is outside the namespace (here: this test process)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _remove_cgroup_parent() -> None:
    """rmdir the test cgroup parent (empty by now) in every hierarchy."""
    with open("/proc/self/cgroup") as f:
        own = {}
        for line in f.read().splitlines():
            _hid, ctrls, path = line.split(":", 2)
            for name in ctrls.split(",") if ctrls else ["unified"]:
                own[name.removeprefix("name=")] = path
    for name in os.listdir("/sys/fs/cgroup"):
        base = Path("/sys/fs/cgroup") / name / own.get(name, "/").lstrip("/") / CGROUP_PARENT
        if base.is_dir():
            for d in sorted(base.rglob("*"), key=lambda p: -len(p.parts)):
                if d.is_dir():
                    try:
                        d.rmdir()
                    except OSError:
                        pass
            try:
                base.rmdir()
            except OSError:
                pass


@pytest.fixture
def runtime(tmp_path: Path, busybox_rootfs: Path) -> Iterator[RuntimeHandle]:
    handle = RuntimeHandle(tmp_path / "state", tmp_path, busybox_rootfs)
    try:
        yield handle
    finally:
        handle.cleanup()
