"""Drive a CLI through a pseudo-terminal, as a user at a terminal would (exec -it, attach).

:class:`PtySession` starts a command with a pty as its stdin, stdout and
stderr (window size set), lets the test write keystrokes and wait for
output, and returns the exit status. The child is started with
``subprocess`` (not ``pty.fork``) and waited for by PID.
"""

from __future__ import annotations

import fcntl
import os
import struct
import subprocess
import termios
import time


class PtySession:
    def __init__(
        self, argv: list[str], env: dict[str, str], rows: int = 33, cols: int = 101
    ) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        try:
            self.proc = subprocess.Popen(
                argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True
            )
        finally:
            os.close(slave)
        self.out = b""

    def _read(self, timeout: float) -> bool:
        import select

        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            chunk = os.read(self.master, 65536)
        except OSError:
            return False  # the other side is gone
        if not chunk:
            return False
        self.out += chunk
        return True

    def read_until(self, marker: bytes, timeout: float = 30.0) -> bytes:
        """Read until ``marker`` shows up in the output (AssertionError after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while marker not in self.out:
            left = deadline - time.monotonic()
            assert left > 0, f"{marker!r} not seen; output so far: {self.out!r}"
            if not self._read(min(left, 0.5)) and marker not in self.out:
                raise AssertionError(f"{marker!r} not seen before EOF: {self.out!r}")
        return self.out

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def wait(self, timeout: float = 30.0) -> int:
        """Read to the end and return the exit status."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            assert time.monotonic() < deadline, f"still running; output: {self.out!r}"
            self._read(0.2)
        while self._pending() and self._read(0):
            pass
        return self.proc.returncode

    def _pending(self) -> bool:
        import select

        return bool(select.select([self.master], [], [], 0)[0])

    def text(self) -> str:
        return self.out.decode(errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)

    def __enter__(self) -> PtySession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
