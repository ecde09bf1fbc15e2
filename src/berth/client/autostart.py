"""Start berthd in the background when nothing answers on its socket.

What ``berth run`` on a fresh machine relies on. :func:`ensure_daemon`:

1. takes ``<exec-root>/autostart.lock`` (so that CLIs started together start
   one daemon, not several), and checks the socket again under it;
2. spawns ``python -m berth.cli.daemon --data-root R --exec-root E -H unix://S``
   detached: double fork + ``setsid``, stdin from /dev/null, stdout and
   stderr appended to ``<exec-root>/berthd.log`` -- the daemon belongs to no
   terminal and is nobody's child, so the CLI can exit;
3. waits for the socket to accept (polling with a short backoff, up to
   ``BERTH_AUTOSTART_TIMEOUT`` seconds, default 10); fails early, with the log's
   last lines, when the daemon process dies.

The data root and exec root are the defaults unless ``BERTH_ROOT`` /
``BERTH_EXEC_ROOT`` say otherwise; ``BERTH_CONFIG_FILE`` names a config file.
``BERTH_NO_AUTOSTART=1`` turns autostart off (``berth.client.api``).
"""

from __future__ import annotations

import os

from berth.client.http import ConnectError, connect
from berth.errors import Unavailable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from berth.client.hosts import Host

DEFAULT_ROOT = "/var/lib/berth"
DEFAULT_EXEC_ROOT = "/run/berth"


def daemon_argv(host: Host, env: dict[str, str]) -> tuple[list[str], str]:
    """(berthd command line, exec root) for a daemon serving ``host``."""
    import sys

    root = env.get("BERTH_ROOT") or DEFAULT_ROOT
    exec_root = env.get("BERTH_EXEC_ROOT") or DEFAULT_EXEC_ROOT
    argv = [
        sys.executable,
        "-m",
        "berth.cli.daemon",
        "--data-root",
        root,
        "--exec-root",
        exec_root,
        "-H",
        f"unix://{host.address}",
    ]
    if env.get("BERTH_CONFIG_FILE"):
        argv += ["--config-file", env["BERTH_CONFIG_FILE"]]
    return argv, exec_root


def _answers(host: Host) -> bool:
    try:
        connect(host, timeout=2.0).close()
        return True
    except ConnectError:
        return False


def ensure_daemon(host: Host, timeout: float | None = None) -> int:
    """Make sure a daemon answers at ``host``; returns the pid started (0: none needed)."""
    import fcntl

    from berth.client.hosts import DEFAULT_SOCKET

    env = dict(os.environ)
    roots_given = bool(env.get("BERTH_ROOT") and env.get("BERTH_EXEC_ROOT"))
    if host.address != DEFAULT_SOCKET and not roots_given:
        # A daemon for another socket needs roots of its own: starting one on the
        # default roots would clash with (or create) the default engine's.
        raise ConnectError(
            f"Cannot connect to the berth daemon at {host.url}. Is the daemon running?"
            " (berth starts one itself only for the default socket, or when BERTH_ROOT"
            " and BERTH_EXEC_ROOT say where it keeps its data)",
            111,
        )
    argv, exec_root = daemon_argv(host, env)
    if timeout is None:
        timeout = float(env.get("BERTH_AUTOSTART_TIMEOUT") or 10)
    os.makedirs(exec_root, mode=0o700, exist_ok=True)
    log_path = os.path.join(exec_root, "berthd.log")
    lock_fd = os.open(os.path.join(exec_root, "autostart.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        if _answers(host):
            return 0
        pid = spawn_detached(argv, log_path)
        wait_for(host, pid, log_path, timeout)
        return pid
    finally:
        os.close(lock_fd)


def spawn_detached(argv: list[str], log_path: str) -> int:
    """Double-fork ``argv`` into its own session; returns the daemon's pid."""
    r, w = os.pipe()
    child = os.fork()
    if child == 0:  # first child: new session, fork again, report, exit
        try:
            os.close(r)
            os.setsid()
            grandchild = os.fork()
            if grandchild == 0:
                os.close(w)
                null = os.open("/dev/null", os.O_RDONLY)
                log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                os.dup2(null, 0)
                os.dup2(log, 1)
                os.dup2(log, 2)
                os.closerange(3, 65536)
                os.chdir("/")
                os.execv(argv[0], argv)
            os.write(w, str(grandchild).encode())
        finally:
            os._exit(0)
    os.close(w)
    data = b""
    while True:
        piece = os.read(r, 64)
        if not piece:
            break
        data += piece
    os.close(r)
    os.waitpid(child, 0)
    if not data.isdigit():
        raise Unavailable("could not start berthd: the spawning process failed")
    return int(data)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rpartition(")")[2].split()[0]
        return state != "Z"
    except (OSError, IndexError):
        return False


def wait_for(host: Host, pid: int, log_path: str, timeout: float) -> None:
    import time

    deadline = time.monotonic() + timeout
    delay = 0.002
    while True:
        if _answers(host):
            return
        if not _alive(pid):
            raise Unavailable(
                f"berthd (pid {pid}) exited before answering on {host.url}; its log"
                f" {log_path} ends with:\n{_tail(log_path)}"
            )
        if time.monotonic() > deadline:
            raise Unavailable(
                f"berthd (pid {pid}) did not answer on {host.url} within {timeout:g}s;"
                f" see its log {log_path}:\n{_tail(log_path)}"
            )
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def _tail(path: str, lines: int = 10) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 4096))
            text = f.read().decode(errors="replace")
    except OSError:
        return "  (no log)"
    return "\n".join("  " + line for line in text.splitlines()[-lines:])
