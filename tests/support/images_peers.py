"""Run podman, buildah and skopeo with storage in a temporary directory, and clean up after."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile

CONTAINERS_CONF = """[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
"""


class Peers:
    def __init__(self, directory: str) -> None:
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        conf = os.path.join(directory, "containers.conf")
        with open(conf, "w") as f:
            f.write(CONTAINERS_CONF)
        self.env = {**os.environ, "CONTAINERS_CONF": conf}
        self.runroot = tempfile.mkdtemp(prefix="bp-", dir="/tmp")  # podman: < 50 characters
        self.storage = [
            "--root",
            os.path.join(directory, "root"),
            "--runroot",
            self.runroot,
            "--storage-driver",
            "overlay",
        ]

    def run(self, tool: str, *args: str) -> str:
        cmd = [tool, *(self.storage if tool in ("podman", "buildah") else []), *args]
        out = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=300)
        if out.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed: {out.stderr.strip()}")
        return out.stdout.strip()

    def json(self, tool: str, *args: str) -> object:
        return json.loads(self.run(tool, *args))

    def close(self) -> None:
        for tool in ("buildah", "podman"):
            if shutil.which(tool):
                cmd = [tool, *self.storage]
                subprocess.run([*cmd, "rm", "-a"], env=self.env, capture_output=True, check=False)
                subprocess.run(
                    [*cmd, "rmi", "-a", "-f"], env=self.env, capture_output=True, check=False
                )
        with open("/proc/self/mountinfo") as f:
            points = [line.split()[4] for line in f]
        for d in (self.dir, self.runroot):
            inside = (p for p in points if p.startswith(d + "/"))
            for p in sorted(inside, key=len, reverse=True):
                subprocess.run(["umount", "-l", p], check=False)
            shutil.rmtree(d, ignore_errors=True)


def tree(root: str) -> dict[str, str]:
    """rel path -> kind (and link target / size), for comparing root filesystems."""
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            if os.path.islink(p):
                out[rel] = "link:" + os.readlink(p)
            elif os.path.isdir(p):
                out[rel] = "dir"
            else:
                out[rel] = f"file:{os.path.getsize(p)}"
    return out
