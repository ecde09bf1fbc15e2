"""Opt-in timing of the container start path: ``BERTH_TRACE=1`` prints
``<monotonic seconds> <pid> <event>`` lines on stderr from every process of
a create/run, so the phases can be lined up (time.monotonic is system-wide)."""

from __future__ import annotations

import os
import time

ENABLED = bool(os.environ.get("BERTH_TRACE"))


def trace(event: str) -> None:
    if ENABLED:
        os.write(2, f"{time.monotonic():.6f} {os.getpid()} {event}\n".encode())
