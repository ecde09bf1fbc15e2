from __future__ import annotations

import threading
import time

from berth.engine.events import EventBus, make_event, matches
from berth.engine.filters import Filters


def test_message_shape() -> None:
    ev = make_event("container", "start", "abc", {"image": "busybox", "name": "web"}, time_nano=5)
    assert ev.to_json() == {
        "status": "start",
        "id": "abc",
        "from": "busybox",
        "Type": "container",
        "Action": "start",
        "Actor": {"ID": "abc", "Attributes": {"image": "busybox", "name": "web"}},
        "scope": "local",
        "time": 0,
        "timeNano": 5,
    }
    daemon = make_event("daemon", "reload", "id1", {}, time_nano=2_000_000_001).to_json()
    assert "status" not in daemon and daemon["time"] == 2


def test_filter_semantics() -> None:
    c = make_event(
        "container", "start", "abcdef", {"image": "busybox:1.36", "name": "web", "a": "1"}
    )
    img = make_event("image", "pull", "sha256:1", {"name": "busybox:latest"})
    assert matches(Filters({"type": ["container"]}), c) and not matches(
        Filters({"type": ["image"]}), c
    )
    assert matches(Filters({"container": ["abc"]}), c)  # ID prefix
    assert matches(Filters({"container": ["web"]}), c)  # name
    assert not matches(Filters({"container": ["db"]}), c)
    assert matches(Filters({"image": ["busybox"]}), c)  # tag stripped
    assert matches(Filters({"image": ["busybox"]}), img)
    assert matches(Filters({"event": ["start", "die"]}), c)
    assert not matches(Filters({"event": ["die"]}), c)
    assert matches(Filters({"label": ["a=1"]}), c) and not matches(Filters({"label": ["a=2"]}), c)
    ex = make_event("container", "exec_start: sh", "abc", {})
    assert matches(Filters({"event": ["exec_start"]}), ex)
    assert matches(Filters({"scope": ["local"]}), c) and not matches(
        Filters({"scope": ["swarm"]}), c
    )


def test_since_until_backlog_and_live() -> None:
    bus = EventBus(limit=4)
    first = bus.publish("daemon", "reload", "d", {})
    for i in range(5):
        bus.publish("container", "create", f"c{i}", {})
    # only the last 4 are kept
    past = bus.subscribe(since_ns=0, until_ns=time.time_ns())
    assert [e.actor.id for e in past] == ["c1", "c2", "c3", "c4"]
    assert first.time_nano > 0
    live = bus.subscribe(match=lambda e: e.type == "container")
    got: list[str] = []

    def reader() -> None:
        for ev in live:
            got.append(ev.actor.id)
            if len(got) == 2:
                return

    t = threading.Thread(target=reader)
    t.start()
    bus.publish("daemon", "reload", "d", {})
    bus.publish("container", "start", "x", {})
    bus.publish("container", "die", "y", {})
    t.join(5)
    assert got == ["x", "y"]
    live.close()
    assert bus.subscribers == 0


def test_until_in_the_future_ends_the_stream_and_heartbeats() -> None:
    bus = EventBus()
    sub = bus.subscribe(until_ns=time.time_ns() + 300_000_000)
    items = list(sub.iter(heartbeat=0.1))
    assert items and all(i is None for i in items)
    assert bus.subscribers == 0


def test_close_ends_everything_and_slow_readers_lose_the_oldest() -> None:
    bus = EventBus(limit=3)
    sub = bus.subscribe()
    for i in range(5):
        bus.publish("volume", "create", f"v{i}", {})
    assert sub.dropped == 2
    bus.close()
    assert [e.actor.id for e in sub] == ["v2", "v3", "v4"]
    assert list(bus.subscribe()) == []
