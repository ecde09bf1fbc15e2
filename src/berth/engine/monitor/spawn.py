"""Start the monitor as a detached process (not berthd's child, in its own session).

The monitor must survive berthd: it is started through an intermediate
process that exits at once, so its parent becomes the nearest child
subreaper (or init), and in a new session, so signals to berthd's process
group do not reach it. It runs the same interpreter as berthd, with the same
import path, and logs to ``<exec-root>/shim.log``.
"""

from __future__ import annotations

import os
import sys


def command(root: str, exec_root: str, python: str | None = None) -> list[str]:
    paths = [p for p in sys.path if p]
    boot = (
        "import sys; sys.path[0:0] = " + repr(paths) + "; "
        "from berth.engine.monitor.shim import main; sys.exit(main(sys.argv[1:]))"
    )
    return [python or sys.executable, "-S", "-c", boot, "--root", root, "--exec-root", exec_root]


def spawn(root: str, exec_root: str, python: str | None = None) -> None:
    argv = command(root, exec_root, python)
    os.makedirs(exec_root, exist_ok=True)
    log = os.open(
        os.path.join(exec_root, "shim.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600
    )
    try:
        pid = os.fork()
        if pid == 0:
            try:
                os.setsid()
                if os.fork() != 0:
                    os._exit(0)
                null = os.open(os.devnull, os.O_RDONLY)
                os.dup2(null, 0)
                os.dup2(log, 1)
                os.dup2(log, 2)
                os.closerange(3, 65536)
                os.chdir("/")
                os.execv(argv[0], argv)
            finally:
                os._exit(127)
        os.waitpid(pid, 0)
    finally:
        os.close(log)
