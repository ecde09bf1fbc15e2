"""Restart policies: Docker's ``--restart``, applied when a container exits and when berthd starts.

``HostConfig.RestartPolicy`` is ``{"Name": ..., "MaximumRetryCount": N}``:

==================  ===========================================================
policy              the container is started again
==================  ===========================================================
``no`` (or ``""``)  never
``always``          after every exit, unless the user stopped it (``stop``,
                    ``kill``); at daemon start even then
``unless-stopped``  like ``always``, but a container the user stopped stays
                    stopped across daemon restarts too
``on-failure[:N]``  after an exit with a non-zero code, at most N times in a
                    row (0: no limit)
==================  ===========================================================

What counts as "the user stopped it" is kept by the container service:
``ContainerService.exit_on_next`` holds the containers whose next exit the
user asked for (``stop``, ``kill`` with SIGKILL or the stop signal; cleared
by a start), and ``row.extra["manually_stopped"]`` (persisted) says the user
stopped or killed the container since they last started it.

Backoff (Docker's): the first restart waits 100 ms, each further one twice as
long as the one before (at most a minute); a run of 10 s or more resets the
wait to 100 ms. While it waits the container is *restarting*: ``State.Status
"restarting"``, ``Restarting`` and ``Running`` true (Docker shows a restarting
container as running), ``Pid`` 0. ``RestartCount`` counts the restarts since
the user last started the container (a user start resets it, and the wait).

At daemon start (:meth:`RestartManager.boot`, after ``ContainerService.
recover``), containers that ran before and are not running are started when
their policy says so: ``always`` ones, ``unless-stopped`` ones the user did
not stop, ``on-failure`` ones whose last exit failed and that have retries
left. A start at boot counts as a fresh start, as in Docker.
"""

from __future__ import annotations

import logging
import threading

from berth.errors import BerthError, InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from berth.engine.containers.service import ContainerService
    from berth.engine.containers.store import ContainerRow

log = logging.getLogger("berth.restart")

POLICIES = ("no", "always", "on-failure", "unless-stopped")
FIRST_DELAY = 0.1  # seconds
MAX_DELAY = 60.0
RESET_AFTER = 10.0  # a run at least this long resets the backoff
MANUALLY_STOPPED = "manually_stopped"  # key in ContainerRow.extra


class Policy:
    """A restart policy (``HostConfig.RestartPolicy``), checked."""

    __slots__ = ("max_retries", "name")

    def __init__(self, name: str = "no", max_retries: int = 0) -> None:
        self.name = name or "no"
        self.max_retries = max_retries

    @classmethod
    def parse(cls, doc: object) -> Policy:
        """From Docker's JSON (``None``/``{}``: ``no``); errors in Docker's words."""
        if doc is None:
            return cls()
        if not isinstance(doc, dict):
            raise InvalidArgument("RestartPolicy: expected an object")
        name = doc.get("Name") or "no"
        count = doc.get("MaximumRetryCount") or 0
        if not isinstance(name, str) or name not in POLICIES:
            raise InvalidArgument(f"invalid restart policy '{name}'")
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise InvalidArgument("invalid RestartPolicy.MaximumRetryCount: must be 0 or more")
        if count and name != "on-failure":
            raise InvalidArgument(
                f"maximum retry count cannot be used with restart policy '{name}'"
            )
        return cls(name, count)

    @classmethod
    def of(cls, host_config: dict[str, Any]) -> Policy:
        """The policy of a stored container (lenient: a bad stored value means ``no``)."""
        try:
            return cls.parse(host_config.get("RestartPolicy"))
        except InvalidArgument:
            return cls()

    def to_json(self) -> dict[str, Any]:
        return {"Name": self.name, "MaximumRetryCount": self.max_retries}

    def should_restart(self, exit_code: int, manually_stopped: bool, restart_count: int) -> bool:
        """After an exit (the user did not ask for this one), or at daemon start."""
        if self.name == "always":
            return True
        if self.name == "unless-stopped":
            return not manually_stopped
        if self.name == "on-failure":
            if self.max_retries and restart_count >= self.max_retries:
                return False
            return exit_code != 0
        return False

    def __repr__(self) -> str:
        return f"Policy({self.name!r}, {self.max_retries})"


def validate_update(policy_doc: object, host_config: dict[str, Any]) -> Policy:
    """A new policy for ``docker update --restart``: checked against the container."""
    policy = Policy.parse(policy_doc)
    if policy.name != "no" and host_config.get("AutoRemove"):
        raise InvalidArgument(
            "Restart policy cannot be updated because AutoRemove is enabled for the container"
        )
    return policy


class Backoff:
    """Docker's restart delay: 100 ms, doubling up to a minute; reset by a 10 s run."""

    __slots__ = ("delay",)

    def __init__(self) -> None:
        self.delay = 0.0

    def next(self, ran_for: float) -> float:
        if ran_for >= RESET_AFTER:
            self.delay = 0.0
        self.delay = FIRST_DELAY if self.delay == 0 else min(self.delay * 2, MAX_DELAY)
        return self.delay


def _timer(delay: float, fn: Callable[[], None]) -> None:
    t = threading.Timer(delay, fn)
    t.daemon = True
    t.name = "restart"
    t.start()


class RestartManager:
    """Applies the restart policies of one container service.

    ``install()`` adds :meth:`on_exit` to the service's exit hooks; ``boot()``
    is for daemon start. ``schedule(delay, fn)`` runs ``fn`` after ``delay``
    seconds (a timer thread; tests give their own).
    """

    def __init__(
        self,
        service: ContainerService,
        schedule: Callable[[float, Callable[[], None]], None] = _timer,
    ) -> None:
        self.service = service
        self.schedule = schedule
        self.backoff: dict[str, Backoff] = {}
        self.pending: dict[str, object] = {}  # container id -> token of its scheduled restart

    def install(self) -> RestartManager:
        self.service.exit_hooks.append(self.on_exit)
        return self

    # -- after an exit --------------------------------------------------------------
    def on_exit(self, row: ContainerRow, event: dict[str, Any]) -> None:
        svc = self.service
        with svc.lock:
            asked = row.id in svc.exit_on_next
            svc.exit_on_next.discard(row.id)
            if row.id not in svc.rows or row.state.get("Running"):
                return  # removed, or started again meanwhile
            if row.state.get("Status") == "removing" or row.host_config.get("AutoRemove"):
                return
            policy = Policy.of(row.host_config)
            if asked or policy.name == "no":
                return
            manually = bool((row.extra or {}).get(MANUALLY_STOPPED))
            code = int(row.state.get("ExitCode", 0))
            count = int(row.restart_count or 0)
            if not policy.should_restart(code, manually, count):
                return
            backoff = self.backoff.get(row.id)
            if backoff is None or count == 0:
                backoff = self.backoff[row.id] = Backoff()
            delay = backoff.next(_ran_for(row.state))
            row.restart_count = count + 1
            row.state.update(Status="restarting", Running=True, Restarting=True, Pid=0)
            svc.store.save(row)
            svc.changed.notify_all()
            token = object()
            self.pending[row.id] = token
        log.debug("restarting %s in %.1fs (restart %d)", row.id[:12], delay, count + 1)
        self.schedule(delay, lambda: self._fire(row.id, token))

    def _fire(self, cid: str, token: object) -> None:
        svc = self.service
        with svc.lock:
            if self.pending.get(cid) is not token:
                return
            del self.pending[cid]
            if getattr(svc, "_closing", False):
                return  # the daemon stops: the next one restarts it (boot)
            row = svc.rows.get(cid)
            if row is None or not row.state.get("Restarting"):
                return  # stopped, killed or removed while it waited
            if Policy.of(row.host_config).name == "no":  # updated while it waited
                row.state.update(Status="exited", Running=False, Restarting=False, Pid=0)
                svc.store.save(row)
                svc.changed.notify_all()
                return
            try:
                svc._start(row)
            except Exception as e:
                log.error("restarting container %s failed: %s", cid[:12], e)
                row.state.update(
                    Status="exited", Running=False, Restarting=False, Pid=0, Error=str(e)
                )
                svc.store.save(row)
                svc.changed.notify_all()
                return
        svc._publish(row, "start")

    def forget(self, cid: str) -> None:
        """The container is gone: drop its backoff and any scheduled restart."""
        with self.service.lock:
            self.backoff.pop(cid, None)
            self.pending.pop(cid, None)

    # -- at daemon start ------------------------------------------------------------
    def boot_candidates(self) -> list[ContainerRow]:
        """Containers the policy starts at daemon start (oldest first)."""
        from berth.engine.containers.service import ZERO_TIME

        svc = self.service
        out = []
        with svc.lock:
            for row in sorted(svc.rows.values(), key=lambda r: r.created):
                st = row.state
                if st.get("Running") or st.get("Status") in ("removing", "dead", "created"):
                    continue
                if str(st.get("StartedAt") or ZERO_TIME) == ZERO_TIME:
                    continue  # never started
                policy = Policy.of(row.host_config)
                manually = bool((row.extra or {}).get(MANUALLY_STOPPED))
                if policy.name == "always" or policy.should_restart(
                    int(st.get("ExitCode", 0)), manually, int(row.restart_count or 0)
                ):
                    out.append(row)
        return out

    def boot(self) -> list[str]:
        """Start what the policies say should run; returns the IDs started."""
        started = []
        for row in self.boot_candidates():
            try:
                self.service.start(row.id)
                started.append(row.id)
            except BerthError as e:
                log.error("starting container %s at daemon start failed: %s", row.id[:12], e)
        return started


def _ran_for(state: dict[str, Any]) -> float:
    from berth.engine.containers.service import _rfc3339_to_unix

    started = _rfc3339_to_unix(str(state.get("StartedAt") or ""))
    finished = _rfc3339_to_unix(str(state.get("FinishedAt") or ""))
    if not started or not finished:
        return 0.0
    return max(0.0, finished - started)
