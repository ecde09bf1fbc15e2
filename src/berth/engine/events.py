"""The engine's event bus: what ``GET /events`` and ``berth events`` stream.

Components publish what happens to their objects, Docker's way::

    daemon.events.publish("container", "start", cid, {"name": "web", "image": "busybox"})
    daemon.events.publish("image", "pull", "busybox:latest", {"name": "busybox"})
    daemon.events.publish("network", "connect", net_id, {"container": cid, "name": "bridge"})

``type`` is one of container, image, volume, network, daemon, plugin, ...;
``action`` Docker's verb (create, start, die, destroy, pull, tag, untag,
delete, mount, connect, reload, ...); ``actor_id`` the object's ID; and
``attributes`` its name, image, labels (labels go in as attributes too, as
Docker does: that is what ``--filter label=...`` matches).

The bus keeps the last ``limit`` events (Docker keeps 256) so that
``since`` can replay them; it keeps nothing across daemon restarts.
:meth:`EventBus.subscribe` returns a :class:`Subscription` that yields the
matching past events, then live ones, until ``until``, ``close()`` or the
bus closes. A subscriber that falls ``limit`` events behind loses the oldest
(it never blocks a publisher).

The message document is :class:`Event` (Docker's ``events.Message``),
including the deprecated ``status``/``id``/``from`` fields for container and
image events that old clients read.
"""

from __future__ import annotations

import threading
import time
from collections import deque

from berth.oci.record import Record, field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from berth.engine.filters import Filters

EVENTS_LIMIT = 256


class Actor(Record):
    id: str = field(json="ID")
    attributes: dict[str, str] = field(json="Attributes", default_factory=dict)


class Event(Record):
    status: str | None = None
    id: str | None = None
    from_: str | None = field(json="from", default=None)
    type: str = field(json="Type")
    action: str = field(json="Action")
    actor: Actor = field(json="Actor")
    scope: str = "local"
    time: int = 0
    time_nano: int = 0


def make_event(
    type: str,
    action: str,
    actor_id: str,
    attributes: Mapping[str, str] | None = None,
    scope: str = "local",
    time_nano: int | None = None,
) -> Event:
    now = time.time_ns() if time_nano is None else time_nano
    attrs = dict(attributes or {})
    legacy: dict[str, str] = {}
    if type in ("container", "image"):
        legacy = {"status": action, "id": actor_id}
        if type == "container" and attrs.get("image"):
            legacy["from_"] = attrs["image"]
    return Event(
        type=type,
        action=action,
        actor=Actor(id=actor_id, attributes=attrs),
        scope=scope,
        time=now // 1_000_000_000,
        time_nano=now,
        **legacy,
    )


def _strip_tag(ref: str) -> str:
    """``busybox:1.36`` -> ``busybox``; ``host:5000/a`` stays (the colon is a port)."""
    colon = ref.rfind(":")
    if colon > ref.rfind("/"):
        return ref[:colon]
    return ref


def matches(f: Filters, ev: Event) -> bool:
    """Docker's event filter semantics (moby ``daemon/events/filter.go``)."""
    attrs = ev.actor.attributes
    name = attrs.get("name", "")
    if f.contains("event") and f.fields["event"] & {"health_status", "exec_create", "exec_start"}:
        if not f.fuzzy("event", ev.action):
            return False
    elif not f.exact("event", ev.action):
        return False
    if not f.exact("type", ev.type):
        return False
    if f.contains("scope") and not f.exact("scope", ev.scope):
        return False
    for kind in ("daemon", "container", "plugin", "volume", "network", "node", "service"):
        values = f.fields.get(kind)
        if values and not (f.fuzzy(kind, ev.actor.id) or (name and f.fuzzy(kind, name))):
            return False
    for kind in ("secret", "config"):
        values = f.fields.get(kind)
        if values and not (f.fuzzy(kind, ev.actor.id) or (name and f.fuzzy(kind, name))):
            return False
    if f.fields.get("image"):
        image = attrs.get("name" if ev.type == "image" else "image", "")
        candidates = {ev.actor.id, _strip_tag(ev.actor.id)}
        if image:
            candidates |= {image, _strip_tag(image)}
        if not any(f.exact("image", c) for c in candidates):
            return False
    return f.labels("label", attrs)


class Subscription:
    """Past events (``backlog``) and then live ones; iterate, or ``get(timeout)``."""

    def __init__(
        self,
        bus: EventBus,
        backlog: list[Event],
        until_ns: int | None,
        match: Callable[[Event], bool] | None,
    ) -> None:
        self._bus = bus
        self._queue: deque[Event] = deque(backlog)
        self._until = until_ns
        self._match = match
        self.closed = False
        self.dropped = 0

    def _offer(self, ev: Event) -> None:  # called with the bus lock held
        if self._match is not None and not self._match(ev):
            return
        if len(self._queue) >= self._bus.limit:
            self._queue.popleft()
            self.dropped += 1
        self._queue.append(ev)

    def get(self, timeout: float | None = None) -> Event | None:
        """The next event; None after ``timeout`` seconds without one.

        Raises StopIteration when the subscription is over (closed, the bus
        closed, or ``until`` passed).
        """
        cond = self._bus._cond
        deadline = None if timeout is None else time.monotonic() + timeout
        with cond:
            while True:
                if self._queue:
                    ev = self._queue.popleft()
                    if self._until is not None and ev.time_nano > self._until:
                        self._close_locked()
                        raise StopIteration
                    return ev
                if self.closed:
                    raise StopIteration
                now_ns = time.time_ns()
                if self._until is not None and now_ns >= self._until:
                    self._close_locked()
                    raise StopIteration
                wait = None if deadline is None else deadline - time.monotonic()
                if self._until is not None:
                    until_wait = (self._until - now_ns) / 1e9
                    wait = until_wait if wait is None else min(wait, until_wait)
                if wait is not None and wait <= 0:
                    if deadline is not None and time.monotonic() >= deadline:
                        return None
                    continue
                cond.wait(wait)

    def iter(self, heartbeat: float = 1.0) -> Iterator[Event | None]:
        """Events, with a ``None`` every ``heartbeat`` seconds without one."""
        try:
            while True:
                try:
                    yield self.get(heartbeat)
                except StopIteration:
                    return
        finally:
            self.close()

    def __iter__(self) -> Iterator[Event]:
        for ev in self.iter():
            if ev is not None:
                yield ev

    def _close_locked(self) -> None:
        self.closed = True
        self._bus._subs.discard(self)

    def close(self) -> None:
        with self._bus._cond:
            self._close_locked()
            self._bus._cond.notify_all()


class EventBus:
    def __init__(self, limit: int = EVENTS_LIMIT) -> None:
        self.limit = limit
        self._cond = threading.Condition()
        self._recent: deque[Event] = deque(maxlen=limit)
        self._subs: set[Subscription] = set()
        self._closed = False

    def publish(
        self,
        type: str,
        action: str,
        actor_id: str,
        attributes: Mapping[str, str] | None = None,
        scope: str = "local",
    ) -> Event:
        """Record an event and hand it to every subscriber. Never blocks long."""
        ev = make_event(type, action, actor_id, attributes, scope)
        with self._cond:
            self._recent.append(ev)
            for sub in self._subs:
                sub._offer(ev)
            self._cond.notify_all()
        return ev

    def subscribe(
        self,
        since_ns: int | None = None,
        until_ns: int | None = None,
        match: Callable[[Event], bool] | None = None,
    ) -> Subscription:
        """Live events matching ``match``; with ``since_ns`` or ``until_ns``,
        first the kept events in [since, until]."""
        with self._cond:
            backlog: list[Event] = []
            if since_ns is not None or until_ns is not None:
                lo = since_ns or 0
                for ev in self._recent:
                    if ev.time_nano < lo or (until_ns is not None and ev.time_nano > until_ns):
                        continue
                    if match is None or match(ev):
                        backlog.append(ev)
            sub = Subscription(self, backlog, until_ns, match)
            if self._closed:
                sub.closed = True
            else:
                self._subs.add(sub)
            return sub

    @property
    def subscribers(self) -> int:
        with self._cond:
            return len(self._subs)

    def close(self) -> None:
        """End every subscription (daemon shutdown); later ones end at once."""
        with self._cond:
            self._closed = True
            for sub in list(self._subs):
                sub.closed = True
            self._subs.clear()
            self._cond.notify_all()
