"""Engines side by side for benchmarks: berth, podman, dockerd, runc -- each on its own
temporary directories, started and stopped by PID, the host put back as it was.

Used by bench/run_latency.py, bench/runtime_start.py and bench/density.py (not
a test). The machine's
rules are kept: containers only beneath our own cgroup (relative cgroup
parents), podman gets a containers.conf of ours through CONTAINERS_CONF,
dockerd a relative --cgroup-parent and --oom-score-adj 0.

``HostGuard`` records links, nft tables and the sysctls engines turn on, and
afterwards removes only what appeared meanwhile (docker0, podman's and
berth's bridges, their nft/iptables tables) and restores the sysctls.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv" / "bin" / "python")
BERTH = str(ROOT / ".venv" / "bin" / "berth")
BERTHD = str(ROOT / ".venv" / "bin" / "berthd")
CG_PARENT = "berth-bench"
SYSCTLS = (
    "/proc/sys/net/ipv4/ip_forward",
    "/proc/sys/net/bridge/bridge-nf-call-iptables",
    "/proc/sys/net/bridge/bridge-nf-call-ip6tables",
)
sys.path.insert(0, str(ROOT / "src"))


def quiet(cmd: list[str], env: dict[str, str] | None = None, check: bool = True) -> str:
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)
    if check and r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()}")
    return r.stdout


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    """Wall-clock ms of one run of ``cmd`` from here (stdin /dev/null); exits on failure."""
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True)
    ms = (time.perf_counter() - t0) * 1000
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {r.stderr.decode()[-400:]}")
    return ms


def busybox_archive() -> str:
    """The busybox image as a docker-archive tar (made once, cached in .cache/mkimage)."""
    from berth.images import mkimage
    from berth.images.store import ImageStore

    path = mkimage.archive_path("busybox", mkimage.default_cache())
    if not os.path.exists(path):
        tmp = tempfile.mkdtemp(prefix="bench-mk-")
        try:
            with ImageStore(tmp) as store:
                mkimage.build("busybox", store, mkimage.default_cache(), None, 1, False)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return path


def wait_socket(path: str, timeout: float = 30) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(path)
            return
        except OSError:
            time.sleep(0.05)
        finally:
            s.close()
    raise SystemExit(f"nothing answered on {path} within {timeout}s")


def stop_pid(pid: int, timeout: float = 20) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rpartition(")")[2].split()[0] == "Z":
                    break
        except OSError:
            break
        time.sleep(0.05)
    else:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


LOCK = "/run/lock/berth-kernel-tests.lock"


class HostGuard:
    """Remember the host's links, nft tables and sysctls; put them back at the end.

    Holds the kernel-test lock meanwhile, so that no test run on this machine
    changes the same things (or takes the engines for its own leaks).
    """

    def __init__(self) -> None:
        import fcntl

        os.makedirs(os.path.dirname(LOCK), exist_ok=True)
        self._lock = open(LOCK, "w")
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        self.links = set(os.listdir("/sys/class/net"))
        self.tables = self._tables()
        self.sysctls = {}
        for p in SYSCTLS:
            try:
                self.sysctls[p] = Path(p).read_text()
            except OSError:
                pass

    @staticmethod
    def _tables() -> set[str]:
        out = quiet(["nft", "list", "tables"], check=False)
        return {line.strip() for line in out.splitlines() if line.strip()}

    def restore(self) -> None:
        for link in set(os.listdir("/sys/class/net")) - self.links:
            subprocess.run(["ip", "link", "delete", link], capture_output=True)
        for table in self._tables() - self.tables:
            subprocess.run(["nft", "delete", *table.split()], capture_output=True)
        for p, v in self.sysctls.items():
            try:
                if Path(p).read_text() != v:
                    Path(p).write_text(v)
            except OSError:
                pass
        remove_cgroup_parent(CG_PARENT)
        self._lock.close()


def remove_cgroup_parent(parent: str) -> None:
    own = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _hid, ctrls, path = line.split(":", 2)
        for n in ctrls.split(",") if ctrls else ["unified"]:
            own[n.removeprefix("name=")] = path
    for name in os.listdir("/sys/fs/cgroup"):
        top = Path("/sys/fs/cgroup") / name / own.get(name, "/").lstrip("/") / parent
        if top.is_dir():
            for d in sorted(top.rglob("*"), key=lambda p: -len(p.parts)):
                if d.is_dir():
                    try:
                        d.rmdir()
                    except OSError:
                        pass
            try:
                top.rmdir()
            except OSError:
                pass


def stop_engines(engines: list[object]) -> None:
    """Stop the engines a benchmark started, last first; one that fails is reported and
    the rest are still stopped."""
    for eng in reversed(engines):
        try:
            eng.stop()  # type: ignore[attr-defined]
        except Exception as e:
            print(f"stopping {eng}: {e}", file=sys.stderr)


class Berth:
    """berthd with busybox loaded, on temporary directories."""

    name = "berth"

    def __init__(
        self,
        base: str,
        network: bool = True,
        debug: bool = False,
        *,
        berthd: str = BERTHD,
        berth: str = BERTH,
    ) -> None:
        self.base = base
        self.berthd, self.berth = berthd, berth  # the commands (another tree's: bench/ab.py)
        self.root = os.path.join(base, "root")
        self.exec_root = os.path.join(base, "run")
        self.sock = os.path.join(self.exec_root, "berth.sock")
        self.log_path = os.path.join(base, "berthd.log")
        self.env = dict(os.environ, BERTH_HOST=f"unix://{self.sock}")
        self.env.pop("DOCKER_HOST", None)
        self.network = network
        self.debug = debug  # berthd logs at debug level (its network timings, ...)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        from berth.images import mkimage
        from berth.images.store import ImageStore

        with ImageStore(self.root) as store:
            mkimage.build("busybox", store, mkimage.default_cache(), None, 1, False)
        env = dict(os.environ)
        if not self.network:
            env["BERTH_NO_NETWORK"] = "1"
        config = os.path.join(self.base, "daemon.json")
        doc: dict[str, object] = {"cgroup-parent": CG_PARENT}
        if self.debug:
            doc["debug"] = True
        Path(config).write_text(json.dumps(doc))
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(
                [
                    self.berthd,
                    "--data-root",
                    self.root,
                    "--exec-root",
                    self.exec_root,
                    "--config-file",
                    config,
                ],
                stdout=subprocess.DEVNULL,
                stderr=log,
                stdin=subprocess.DEVNULL,
                env=env,
            )
        wait_socket(self.sock)

    def cmd(self, *args: str) -> list[str]:
        return [self.berth, *args]

    def run_cmd(self, *args: str) -> list[str]:
        return [self.berth, "run", *args]

    def daemon_pids(self) -> list[int]:
        pids = [self.proc.pid] if self.proc else []
        try:
            pids.append(int(Path(self.exec_root, "shim.pid").read_text()))
        except (OSError, ValueError):
            pass
        return pids

    def stop(self) -> None:
        if self.proc is not None:
            stop_pid(self.proc.pid)
            self.proc = None
        from berth.engine.teardown import teardown

        teardown(self.root, self.exec_root)


def berth_spec_bundle(berth: Berth, dest: str) -> str:
    """A bundle in ``dest`` with the OCI config berth's engine gives its runtime for
    ``run --network none busybox true``: Docker's defaults (mounts, masked and
    read-only paths, capabilities, seccomp profile, ...). For runtimes to run the
    same container as ``berth run`` does (``berth`` started; the container is
    removed again). The rootfs is a plain busybox directory; /etc/hosts,
    resolv.conf and hostname are copied in; namespaces are new ones, not paths."""
    from berth.images.bases import busybox_rootfs

    os.makedirs(dest)
    cmd = berth.cmd("create", "--network", "none", "busybox", "true")
    cid = quiet(cmd, env=berth.env).strip()
    try:
        quiet(berth.cmd("start", "-a", cid), env=berth.env)
        cdir = os.path.join(berth.root, "containers", cid)
        spec = json.loads(Path(cdir, "bundle", "config.json").read_text())
        for m in spec["mounts"]:
            source = str(m.get("source") or "")
            if source.startswith(cdir + "/"):
                m["source"] = os.path.join(dest, os.path.basename(source))
                shutil.copyfile(source, m["source"])
    finally:
        quiet(berth.cmd("rm", "-f", cid), env=berth.env)
    busybox_rootfs(os.path.join(dest, "rootfs"))
    spec["root"] = {"path": os.path.join(dest, "rootfs"), "readonly": False}
    for ns in spec["linux"]["namespaces"]:
        ns.pop("path", None)
    spec.pop("hooks", None)
    Path(dest, "config.json").write_text(json.dumps(spec))
    return dest


class Podman:
    name = "podman"
    CONF = """\
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
cgroups = "no-conmon"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
"""

    def __init__(self, base: str) -> None:
        # podman refuses a runroot longer than 50 characters
        self.base = tempfile.mkdtemp(prefix="bpm", dir="/tmp")
        Path(self.base, "containers.conf").write_text(self.CONF)
        self.env = dict(os.environ, CONTAINERS_CONF=os.path.join(self.base, "containers.conf"))

    def cmd(self, *args: str) -> list[str]:
        b = self.base
        return [
            "podman",
            "--root",
            f"{b}/root",
            "--runroot",
            f"{b}/rr",
            "--tmpdir",
            f"{b}/tmp",
            "--storage-driver",
            "overlay",
            *args,
        ]

    def run_cmd(self, *args: str) -> list[str]:
        return self.cmd("run", f"--cgroup-parent={CG_PARENT}", *args)

    def start(self) -> None:
        quiet(self.cmd("load", "-q", "-i", busybox_archive()), env=self.env)

    def stop(self) -> None:
        subprocess.run(self.cmd("rm", "-a", "-f", "-t", "0"), env=self.env, capture_output=True)
        subprocess.run(self.cmd("system", "reset", "-f"), env=self.env, capture_output=True)
        shutil.rmtree(self.base, ignore_errors=True)


class Docker:
    name = "docker"

    def __init__(self, base: str) -> None:
        self.base = base
        self.sock = os.path.join(base, "docker.sock")
        self.env = dict(
            os.environ, DOCKER_HOST=f"unix://{self.sock}", DOCKER_CONFIG=os.path.join(base, "cfg")
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        b = self.base
        self.proc = subprocess.Popen(
            [
                "dockerd",
                "--data-root",
                f"{b}/root",
                "--exec-root",
                f"{b}/exec",
                "-H",
                f"unix://{self.sock}",
                "--pidfile",
                f"{b}/docker.pid",
                "--cgroup-parent",
                CG_PARENT,
                "--containerd-namespace",
                "berthbench",
                "--containerd-plugins-namespace",
                "berthbench-p",
            ],
            stdout=subprocess.DEVNULL,
            stderr=open(f"{b}/dockerd.log", "w"),
            stdin=subprocess.DEVNULL,
        )
        wait_socket(self.sock, 60)
        deadline = time.monotonic() + 60
        while subprocess.run(["docker", "version"], env=self.env, capture_output=True).returncode:
            if time.monotonic() > deadline:
                raise SystemExit("dockerd did not answer; see " + f"{b}/dockerd.log")
            time.sleep(0.2)
        quiet(["docker", "load", "-q", "-i", busybox_archive()], env=self.env)

    def cmd(self, *args: str) -> list[str]:
        return ["docker", *args]

    def run_cmd(self, *args: str) -> list[str]:
        return ["docker", "run", *args]

    def daemon_pids(self) -> list[int]:
        if self.proc is None:
            return []
        pids = [self.proc.pid]
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    stat = Path(f"/proc/{d}/stat").read_text()
                except OSError:
                    continue
                if int(stat.rpartition(")")[2].split()[1]) == self.proc.pid:
                    pids.append(int(d))  # its containerd
        return pids

    def stop(self) -> None:
        if self.proc is not None:
            subprocess.run(
                [
                    "docker",
                    "rm",
                    "-f",
                    *quiet(["docker", "ps", "-aq"], env=self.env, check=False).split(),
                ],
                env=self.env,
                capture_output=True,
            )
            stop_pid(self.proc.pid, 30)
            self.proc = None
        subprocess.run(["umount", "-R", f"{self.base}/exec"], capture_output=True)
