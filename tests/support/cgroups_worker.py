"""A child process that waits for commands on stdin: the subject of the cgroup kernel tests.

It starts (and so allocates its memory) before it joins a cgroup, then does
what it is told and answers one line per command:

    open PATH     -> "ok" or the errno of open(2)
    fork N        -> "<forks that succeeded> <errno of the first failure or 0>"
    alloc MB      -> "ok" once MB MiB are allocated and touched
    spin SECONDS  -> "done" after busy-looping that long
"""

from __future__ import annotations

import os
import signal
import subprocess
from types import TracebackType

PYTHON = "/usr/bin/python3"

SCRIPT = r"""
import os, sys, time
def fork(n):
    r, w = os.pipe()
    pids, err = [], 0
    for _ in range(n):
        try:
            pid = os.fork()
        except OSError as e:
            err = e.errno
            break
        if pid == 0:
            os.close(w)
            os.read(r, 1)
            os._exit(0)
        pids.append(pid)
    os.close(w)
    os.close(r)
    for pid in pids:
        os.waitpid(pid, 0)
    return f"{len(pids)} {err}"
keep = []
for line in sys.stdin:
    cmd, _, arg = line.strip().partition(" ")
    if cmd == "open":
        try:
            os.close(os.open(arg, os.O_RDONLY))
            out = "ok"
        except OSError as e:
            out = str(e.errno)
    elif cmd == "fork":
        out = fork(int(arg))
    elif cmd == "alloc":
        keep.append(b"x" * (int(arg) << 20))
        out = "ok"
    elif cmd == "spin":
        end = time.monotonic() + float(arg)
        while time.monotonic() < end:
            pass
        out = "done"
    else:
        out = "?"
    print(out, flush=True)
"""


class Worker:
    """The worker process; a context manager that kills and reaps it on exit."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [PYTHON, "-S", "-c", SCRIPT],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.pid = self.proc.pid

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def reply(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().strip()

    def ask(self, line: str) -> str:
        self.send(line)
        return self.reply()

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            if f is not None:
                try:
                    f.close()
                except OSError:
                    pass

    def __enter__(self) -> Worker:
        return self

    def __exit__(
        self,
        t: type[BaseException] | None,
        e: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
