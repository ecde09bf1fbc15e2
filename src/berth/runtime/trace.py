"""Opt-in timing of the container start path.

``BERTH_TRACE=1`` prints ``<monotonic seconds> <pid> <event>`` lines on
stderr from every process of a create/run; ``BERTH_TRACE=/some/file``
appends them to that file instead (use this for berthd and the monitor,
whose children's stderr is the container's). ``time.monotonic`` is
system-wide, so the lines of all processes line up.
"""

from __future__ import annotations

import os
import time

_TARGET = os.environ.get("BERTH_TRACE", "")
ENABLED = bool(_TARGET)
_FD = 2
if ENABLED and _TARGET != "1":
    # opened once: the container's init keeps writing to it after pivot_root
    _FD = os.open(_TARGET, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)


def trace(event: str) -> None:
    if not ENABLED:
        return
    try:
        os.write(_FD, f"{time.monotonic():.6f} {os.getpid()} {event}\n".encode())
    except OSError:
        pass
