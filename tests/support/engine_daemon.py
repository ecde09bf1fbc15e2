"""Run a whole berth engine (berthd) in temporary directories, for tests.

:class:`Engine` starts ``berthd`` with its own ``--data-root``, ``--exec-root``
and socket under a short temporary directory (unix socket paths are limited
to 107 bytes), waits until it answers, runs the ``berth`` CLI against it and
stops it by PID, leaving nothing behind. The container and image tests reuse
it through the ``berthd`` fixture (``tests/support/fixtures_engine.py``).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv").exists() else sys.executable


def ping(socket_path: str, timeout: float = 1.0) -> bool:
    import socket

    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(socket_path)
        s.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False
    finally:
        s.close()


class Engine:
    """One berthd on temporary directories. ``host`` is its ``unix://`` URL."""

    def __init__(self, base: str | None = None, config: str = "{}") -> None:
        self.base = base or tempfile.mkdtemp(prefix="berth-e-", dir="/tmp")
        os.makedirs(self.base, exist_ok=True)
        self.root = os.path.join(self.base, "root")
        self.exec_root = os.path.join(self.base, "exec")
        self.socket = os.path.join(self.exec_root, "berth.sock")
        self.host = f"unix://{self.socket}"
        self.config_file = os.path.join(self.base, "daemon.json")
        self.log_path = os.path.join(self.base, "berthd.log")
        with open(self.config_file, "w") as f:
            f.write(config)
        self.proc: subprocess.Popen[bytes] | None = None
        # sysctls the engine's networking turns on, to put back as they were
        self._sysctls: dict[str, str] = {}
        for path in ("/proc/sys/net/ipv4/ip_forward",):
            try:
                with open(path) as f:
                    self._sysctls[path] = f.read()
            except OSError:
                pass

    @property
    def env(self) -> dict[str, str]:
        """The environment for a CLI that talks to this engine (no autostart)."""
        env = dict(os.environ)
        for name in ("DOCKER_HOST", "BERTH_HOST", "DOCKER_API_VERSION", "BERTH_API_VERSION"):
            env.pop(name, None)
        env["BERTH_HOST"] = self.host
        env["BERTH_ROOT"] = self.root
        env["BERTH_EXEC_ROOT"] = self.exec_root
        env["BERTH_CONFIG_FILE"] = self.config_file
        env["BERTH_NO_AUTOSTART"] = "1"
        env["DOCKER_CONFIG"] = os.path.join(self.base, "docker-config")
        return env

    def daemon_argv(self, *extra: str) -> list[str]:
        return [
            PYTHON,
            "-m",
            "berth.cli.daemon",
            "--data-root",
            self.root,
            "--exec-root",
            self.exec_root,
            "-H",
            self.host,
            "--config-file",
            self.config_file,
            *extra,
        ]

    def start(self, *extra: str, timeout: float = 15.0) -> Engine:
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                self.daemon_argv(*extra), stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while not ping(self.socket):
            if self.proc.poll() is not None:
                raise RuntimeError(f"berthd exited ({self.proc.returncode}):\n{self.log()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"berthd did not answer within {timeout}s:\n{self.log()}")
            time.sleep(0.02)
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log(self) -> str:
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""

    def run(
        self, args: list[str], input: bytes | None = None, timeout: float = 60, **kw: object
    ) -> subprocess.CompletedProcess[str]:
        """Run the berth CLI against this engine."""
        env = kw.pop("env", None) or self.env
        return subprocess.run(
            [PYTHON, "-m", "berth.cli.main", *args],
            input=input.decode() if input is not None else None,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,  # type: ignore[arg-type]
            **kw,  # type: ignore[arg-type]
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        """Stop the daemon by PID (SIGKILL after ``timeout``); returns its status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        code = self.proc.returncode
        self.proc = None
        return code

    def stop_pidfile(self, timeout: float = 15.0) -> None:
        """Stop a daemon we did not start (autostarted) by the PID in its pid file."""
        path = os.path.join(self.exec_root, "berthd.pid")
        try:
            with open(path) as f:
                pid = int(f.read().strip())
        except (OSError, ValueError):
            return
        kill_and_wait(pid, timeout)

    def cleanup(self) -> None:
        self.stop()
        self.stop_pidfile()
        self.teardown()
        shutil.rmtree(self.base, ignore_errors=True)

    def teardown(self) -> list[str]:
        """Containers, monitor, mounts and networking of this engine, gone (daemon stopped)."""
        from berth.engine.teardown import teardown

        notes = teardown(self.root, self.exec_root)
        for path, value in self._sysctls.items():
            try:
                with open(path) as f:
                    now = f.read()
                if now != value:
                    with open(path, "w") as f:
                        f.write(value)
            except OSError:
                pass
        return notes


def kill_and_wait(pid: int, timeout: float = 15.0) -> None:
    """SIGTERM ``pid`` (not our child), then SIGKILL; wait until it is gone."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return
        time.sleep(0.02)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    while _alive(pid):
        time.sleep(0.02)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return False
