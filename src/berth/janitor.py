"""Cleanup that need not hold up the request that caused it.

Removing a container's directory tree takes ~1 ms of syscalls; once the
container is gone from the store, nothing reads that tree again, so ``rm``
(and ``run --rm``, whose client waits for the removal) need not wait for it.
Deleting a veth waits for the kernel (an RCU grace period); the container's
exit need not. :class:`Janitor` runs such work on one background thread, in
order (berth.engine.containers.service and berth.network.host use one each).

A job waits ``delay`` seconds before it runs (5 ms by default): the
janitor's Python code would otherwise take the interpreter's lock from the
threads that are still answering the request (the removal's own response).
Not much longer, though: a job should be done before the client's next
request comes in, and a new command line process takes ~15 ms to send one
(with 50 ms, ``berth run --rm`` after ``berth run --rm`` met the previous
one's cleanup half-way through its start: ~0.5 ms slower). The thread is
started by the first job and stays a while after its last (starting a thread
costs its starter ~1 ms: ``Thread.start`` waits for the new thread to run).
:meth:`Janitor.drain` waits until every job handed in has run; the daemon
drains at shutdown, so a stopped daemon has left nothing half done. A job's
exception is logged, never raised to the caller.
"""

from __future__ import annotations

import logging
import threading
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

IDLE = 30.0  # seconds the thread waits for more work before it ends

log = logging.getLogger("berth.janitor")


class Janitor:
    def __init__(self, name: str = "berth-janitor", delay: float = 0.005) -> None:
        self.name = name
        self.delay = delay
        self._jobs: list[tuple[float, Callable[..., object], tuple[object, ...]]] = []
        self._draining = 0
        self._busy = False
        self._thread: threading.Thread | None = None
        self._cond = threading.Condition(threading.Lock())
        self._closing = False

    def later(self, fn: Callable[..., object], *args: object, delay: float | None = None) -> None:
        """Run ``fn(*args)`` on the janitor's thread, after the jobs before it (in the
        order they are due: ``delay`` seconds from now, the janitor's by default)."""
        due = time.monotonic() + (self.delay if delay is None else delay)
        with self._cond:
            at = len(self._jobs)
            while at and self._jobs[at - 1][0] > due:
                at -= 1
            self._jobs.insert(at, (due, fn, args))
            self._cond.notify_all()
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name=self.name, daemon=True)
                self._thread.start()

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until every job handed in so far has run; False on timeout."""
        with self._cond:
            self._draining += 1  # the jobs run now, without their delay
            self._cond.notify_all()
            try:
                return self._cond.wait_for(lambda: not self._jobs and not self._busy, timeout)
            finally:
                self._draining -= 1

    def close(self, timeout: float = 30.0) -> bool:
        """Drain, then end the thread; later jobs start a new one."""
        done = self.drain(timeout)
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(5)
        with self._cond:
            self._closing = False
        return done

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._jobs:
                    self._busy = False
                    self._cond.notify_all()  # drain() waiters
                    if (self._closing or not self._cond.wait(IDLE)) and not self._jobs:
                        self._thread = None
                        return
                self._busy = True
                while not self._draining and self._jobs and time.monotonic() < self._jobs[0][0]:
                    self._cond.wait(self._jobs[0][0] - time.monotonic())
                if not self._jobs:
                    continue
                _, fn, args = self._jobs.pop(0)
            try:
                fn(*args)
            except Exception:
                log.exception("cleanup job %s failed", getattr(fn, "__name__", fn))
