"""Health checks: Docker's ``HEALTHCHECK`` / ``--health-*``, run by berthd.

``Config.Healthcheck`` (the image's, or the user's on top of it) is::

    {"Test": ["CMD", "prog", "arg"] | ["CMD-SHELL", "command"] | ["NONE"],
     "Interval": ns, "Timeout": ns, "StartPeriod": ns, "StartInterval": ns, "Retries": n}

While a container with a check runs, a thread of berthd runs the probe in it
as an exec (the same path as ``docker exec``, so ``exec_create`` and
``exec_start`` events appear as in Docker) every ``Interval`` (default 30 s;
``StartInterval``, default 5 s, while the container is in its start period
and not yet healthy), each run limited to ``Timeout`` (default 30 s; the probe
is killed after it). The results, as Docker keeps them, are in
``State.Health``::

    {"Status": "starting" | "healthy" | "unhealthy", "FailingStreak": n,
     "Log": [{"Start", "End", "ExitCode", "Output"}, ...]}   (the last 5)

Exit code 0 is healthy, anything else a failure; ``Retries`` (default 3)
failures in a row make the container unhealthy, except that failures inside
``StartPeriod`` (default 0) while it is still starting are not counted. A
probe that cannot be started, or runs out of time, is recorded with exit code
-1. Output is kept up to 4096 bytes. A change of status is published as the
event ``health_status: <status>``; ``docker ps`` shows it in STATUS (``Up 3
minutes (healthy)``, ``(health: starting)``) and filters by ``health=``.

A start sets the status to ``starting`` (the log is kept); the thread ends
with the container's exit, its removal, or berthd's shutdown. After a berthd
restart the checks of running containers resume where their state left them.
"""

from __future__ import annotations

import logging
import threading
import time

from berth.errors import BerthError, InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from berth.engine.containers.execs import ExecService
    from berth.engine.containers.service import ContainerService
    from berth.engine.containers.store import ContainerRow

log = logging.getLogger("berth.health")

SECOND = 1_000_000_000
DEFAULT_INTERVAL = 30 * SECOND
DEFAULT_TIMEOUT = 30 * SECOND
DEFAULT_START_INTERVAL = 5 * SECOND
DEFAULT_RETRIES = 3
MIN_DURATION = 1_000_000  # 1 ms: Docker refuses shorter (non-zero) durations
MAX_OUTPUT = 4096
MAX_LOG = 5
STARTING, HEALTHY, UNHEALTHY = "starting", "healthy", "unhealthy"
DURATIONS = ("Interval", "Timeout", "StartPeriod", "StartInterval")


class Probe:
    """A container's effective health check, with Docker's defaults applied."""

    __slots__ = ("cmd", "interval", "retries", "start_interval", "start_period", "timeout")

    def __init__(self, config: dict[str, Any]) -> None:
        test = [str(a) for a in config.get("Test") or []]
        if test[0] == "CMD-SHELL":
            self.cmd = ["/bin/sh", "-c", " ".join(test[1:])]
        else:
            self.cmd = test[1:]
        self.interval = int(config.get("Interval") or 0) or DEFAULT_INTERVAL
        self.timeout = int(config.get("Timeout") or 0) or DEFAULT_TIMEOUT
        self.start_period = int(config.get("StartPeriod") or 0)
        self.start_interval = int(config.get("StartInterval") or 0) or DEFAULT_START_INTERVAL
        self.retries = int(config.get("Retries") or 0) or DEFAULT_RETRIES

    @classmethod
    def of(cls, container_config: dict[str, Any]) -> Probe | None:
        """The probe of a container's config; None without a check (or ``["NONE"]``)."""
        hc = container_config.get("Healthcheck")
        if not isinstance(hc, dict):
            return None
        test = hc.get("Test") or []
        if not test or test[0] == "NONE":
            return None
        if test[0] not in ("CMD", "CMD-SHELL") or len(test) < 2:
            return None  # refused at create (validate); an old row cannot run it either
        return cls(hc)


def validate(config: dict[str, Any]) -> None:
    """Docker's checks of ``Config.Healthcheck`` at create, with its messages."""
    hc = config.get("Healthcheck")
    if hc is None:
        return
    if not isinstance(hc, dict):
        raise InvalidArgument("Healthcheck: expected an object")
    test = hc.get("Test")
    if test is not None:
        if not isinstance(test, list) or not all(isinstance(a, str) for a in test):
            raise InvalidArgument("Healthcheck.Test: expected a list of strings")
        if test and test[0] not in ("NONE", "CMD", "CMD-SHELL"):
            raise InvalidArgument(
                f"Healthcheck.Test: unknown kind {test[0]!r}: the first item must be"
                ' "NONE", "CMD" or "CMD-SHELL"'
            )
        if test and test[0] != "NONE" and len(test) < 2:
            raise InvalidArgument(f"Healthcheck.Test: {test[0]} needs a command after it")
    for key in DURATIONS:
        value = hc.get(key) or 0
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidArgument(f"Healthcheck.{key}: expected nanoseconds (an integer)")
        if value < 0 or 0 < value < MIN_DURATION:
            raise InvalidArgument(f"{key} in Healthcheck cannot be less than 1ms")
    retries = hc.get("Retries") or 0
    if not isinstance(retries, int) or isinstance(retries, bool):
        raise InvalidArgument("Healthcheck.Retries: expected an integer")
    if retries < 0:
        raise InvalidArgument("Retries in Healthcheck cannot be negative")


def merge(user: dict[str, Any] | None, image: dict[str, Any] | None) -> dict[str, Any] | None:
    """The user's check on top of the image's: what the user leaves unset (no Test, zero
    durations or retries) comes from the image, as in Docker."""
    if not user:
        return dict(image) if image else None
    if not image:
        return dict(user)
    out = dict(user)
    if not out.get("Test"):
        out["Test"] = image.get("Test")
    for key in (*DURATIONS, "Retries"):
        if not out.get(key) and image.get(key):
            out[key] = image[key]
    return out


def status_suffix(state: dict[str, Any]) -> str:
    """What ``docker ps`` adds after "Up ...": `` (healthy)``, `` (health: starting)``."""
    health = state.get("Health")
    if not isinstance(health, dict) or not health.get("Status"):
        return ""
    status = str(health["Status"])
    return f" (health: {status})" if status == STARTING else f" ({status})"


def health_status(state: dict[str, Any]) -> str:
    """The ``health=`` filter's value: starting, healthy, unhealthy or none."""
    health = state.get("Health")
    if isinstance(health, dict) and health.get("Status"):
        return str(health["Status"])
    return "none"


def apply_result(
    health: dict[str, Any], probe: Probe, result: dict[str, Any], since_start: float
) -> None:
    """Record one probe result in ``health`` (Docker's rules; see the module's text)."""
    logs = list(health.get("Log") or [])
    logs.append(result)
    health["Log"] = logs[-MAX_LOG:]
    if result["ExitCode"] == 0:
        health["FailingStreak"] = 0
        health["Status"] = HEALTHY
        return
    if health.get("Status") == STARTING and since_start * SECOND < probe.start_period:
        return  # still in its start period: not counted
    health["FailingStreak"] = int(health.get("FailingStreak") or 0) + 1
    if health["FailingStreak"] >= probe.retries:
        health["Status"] = UNHEALTHY


def _rfc3339(ns: int) -> str:
    from berth.engine.monitor.logfile import now_rfc3339

    return now_rfc3339(ns)


class HealthManager:
    """One checking thread per running container that has a health check."""

    def __init__(self, service: ContainerService, execs: Callable[[], ExecService]) -> None:
        self.service = service
        self.execs = execs
        self.lock = threading.Lock()
        self.stops: dict[str, threading.Event] = {}
        self.closed = False

    def install(self) -> HealthManager:
        self.service.start_hooks.append(self.on_start)
        self.service.exit_hooks.append(self.on_exit)
        return self

    def boot(self) -> None:
        """Resume the checks of the containers that run (after ``recover``)."""
        svc = self.service
        with svc.lock:
            rows = [r for r in svc.rows.values() if r.state.get("Running")]
        for row in rows:
            probe = Probe.of(row.config)
            if probe is not None:
                if not isinstance(row.state.get("Health"), dict):
                    row.state["Health"] = {"Status": STARTING, "FailingStreak": 0, "Log": []}
                self._spawn(row, probe)

    def close(self) -> None:
        with self.lock:
            self.closed = True
            for stop in self.stops.values():
                stop.set()
            self.stops.clear()

    # -- hooks (the service's lock is held) ------------------------------------------
    def on_start(self, row: ContainerRow) -> None:
        """A start: status "starting" (saved by the caller), and a thread that checks."""
        probe = Probe.of(row.config)
        if probe is None:
            row.state.pop("Health", None)
            self._stop(row.id)
            return
        old = row.state.get("Health")
        logs = list(old.get("Log") or []) if isinstance(old, dict) else []
        row.state["Health"] = {"Status": STARTING, "FailingStreak": 0, "Log": logs}
        self._spawn(row, probe)

    def on_exit(self, row: ContainerRow, event: dict[str, Any]) -> None:
        self._stop(row.id)

    # -- the checking thread -----------------------------------------------------------
    def _spawn(self, row: ContainerRow, probe: Probe) -> None:
        stop = threading.Event()
        with self.lock:
            if self.closed:
                return
            old = self.stops.pop(row.id, None)
            if old is not None:
                old.set()
            self.stops[row.id] = stop
        started_at = str(row.state.get("StartedAt") or "")
        t = threading.Thread(
            target=self._loop,
            args=(row.id, probe, stop, started_at),
            name=f"health-{row.id[:12]}",
            daemon=True,
        )
        t.start()

    def _stop(self, cid: str) -> None:
        with self.lock:
            stop = self.stops.pop(cid, None)
        if stop is not None:
            stop.set()

    def _loop(self, cid: str, probe: Probe, stop: threading.Event, started_at: str) -> None:
        from berth.engine.containers.service import _rfc3339_to_unix

        started = _rfc3339_to_unix(started_at) if started_at else time.time()
        while True:
            row = self.service.rows.get(cid)
            if row is None:
                break
            health = row.state.get("Health") or {}
            in_start = (time.time() - started) * SECOND < probe.start_period
            wait = (
                probe.start_interval
                if in_start and health.get("Status") == STARTING
                else (probe.interval)
            )
            if stop.wait(wait / SECOND):
                break
            try:
                result = self._run(cid, probe, stop)
            except BerthError as e:  # not running any more (or paused): skip this turn
                log.debug("health check of %s skipped: %s", cid[:12], e.message)
                continue
            if stop.is_set():
                break
            self._record(cid, probe, result, started, stop)
        self._stop_if(cid, stop)

    def _stop_if(self, cid: str, stop: threading.Event) -> None:
        with self.lock:
            if self.stops.get(cid) is stop:
                del self.stops[cid]

    def _record(
        self,
        cid: str,
        probe: Probe,
        result: dict[str, Any],
        started: float,
        stop: threading.Event,
    ) -> None:
        svc = self.service
        with svc.lock:
            row = svc.rows.get(cid)
            if row is None or stop.is_set() or not row.state.get("Running"):
                return
            health = row.state.get("Health")
            if not isinstance(health, dict):
                health = row.state["Health"] = {"Status": STARTING, "FailingStreak": 0, "Log": []}
            before = health.get("Status")
            since_start = time.time() - started
            apply_result(health, probe, result, since_start)
            svc.store.save(row)
            changed = health.get("Status") != before
            svc.changed.notify_all()
        if changed:
            svc._publish(row, f"health_status: {health['Status']}")

    def _run(self, cid: str, probe: Probe, stop: threading.Event) -> dict[str, Any]:
        """Run the probe once as an exec; its result (Docker's HealthcheckResult)."""
        import os
        import signal

        from berth.api.stdcopy import Demuxer

        execs = self.execs()
        begin = time.time_ns()
        created = execs.create(cid, {"Cmd": probe.cmd, "AttachStdout": True, "AttachStderr": True})
        rec = execs.prepare_start(created["Id"])
        try:
            sock, rest = execs.open_attached(rec)
        except BerthError as e:
            return self._result(begin, -1, e.message)
        output = bytearray()
        demux = Demuxer()
        deadline = time.monotonic() + probe.timeout / SECOND
        timed_out = False
        try:
            data = rest
            while True:
                for _stream, payload in demux.feed(data) if data else []:
                    if len(output) < MAX_OUTPUT:
                        output += payload[: MAX_OUTPUT - len(output)]
                left = deadline - time.monotonic()
                if left <= 0 or stop.is_set():
                    timed_out = not stop.is_set()
                    break
                sock.settimeout(min(left, 1.0))
                try:
                    data = sock.recv(65536)
                except TimeoutError:
                    data = b""
                    continue
                if not data:
                    break
        except (OSError, ValueError) as e:
            return self._result(begin, -1, f"health check output: {e}")
        finally:
            sock.close()
        if timed_out:
            if rec.exit_code is None and rec.pid:
                try:
                    os.kill(rec.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            from berth import durations

            shown = durations.format(probe.timeout)
            return self._result(begin, -1, f"Health check exceeded timeout ({shown})")
        code = execs.wait_exit(rec)
        return self._result(begin, -1 if code is None else code, output.decode("utf-8", "replace"))

    @staticmethod
    def _result(begin: int, code: int, output: str) -> dict[str, Any]:
        return {
            "Start": _rfc3339(begin),
            "End": _rfc3339(time.time_ns()),
            "ExitCode": code,
            "Output": output,
        }
