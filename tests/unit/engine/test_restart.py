"""Restart policies: parsing, decisions, Docker's backoff, the manager against a fake service."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.engine.containers.restart import (
    FIRST_DELAY,
    MAX_DELAY,
    Backoff,
    Policy,
    RestartManager,
    validate_update,
)
from berth.engine.containers.store import ContainerRow
from berth.errors import ContainerStartError, InvalidArgument

ZERO = "0001-01-01T00:00:00Z"


def test_parse_policies() -> None:
    assert Policy.parse(None).name == "no"
    assert Policy.parse({}).name == "no"
    assert Policy.parse({"Name": ""}).name == "no"
    p = Policy.parse({"Name": "on-failure", "MaximumRetryCount": 3})
    assert (p.name, p.max_retries) == ("on-failure", 3)
    assert p.to_json() == {"Name": "on-failure", "MaximumRetryCount": 3}
    for name in ("always", "unless-stopped", "no"):
        assert Policy.parse({"Name": name}).name == name
    with pytest.raises(InvalidArgument, match="invalid restart policy 'sometimes'"):
        Policy.parse({"Name": "sometimes"})
    with pytest.raises(InvalidArgument, match="cannot be used with restart policy 'always'"):
        Policy.parse({"Name": "always", "MaximumRetryCount": 2})
    with pytest.raises(InvalidArgument, match="MaximumRetryCount"):
        Policy.parse({"Name": "on-failure", "MaximumRetryCount": -1})
    with pytest.raises(InvalidArgument):
        Policy.parse("always")
    # a stored value that does not parse is "no", not an error at every exit
    assert Policy.of({"RestartPolicy": {"Name": 7}}).name == "no"


def test_update_refuses_a_policy_for_an_autoremove_container() -> None:
    assert validate_update({"Name": "always"}, {}).name == "always"
    assert validate_update({"Name": "no"}, {"AutoRemove": True}).name == "no"
    with pytest.raises(InvalidArgument, match="AutoRemove"):
        validate_update({"Name": "always"}, {"AutoRemove": True})


def test_decisions() -> None:
    always = Policy("always")
    unless = Policy("unless-stopped")
    failure = Policy("on-failure")
    failure2 = Policy("on-failure", 2)
    assert always.should_restart(0, False, 100) and always.should_restart(0, True, 0)
    assert unless.should_restart(0, False, 5) and not unless.should_restart(1, True, 0)
    assert failure.should_restart(1, False, 1000) and not failure.should_restart(0, False, 0)
    assert failure2.should_restart(137, False, 1) and not failure2.should_restart(137, False, 2)
    assert not Policy("no").should_restart(1, False, 0)


@given(st.lists(st.floats(min_value=0, max_value=30), max_size=40))
def test_backoff_doubles_caps_and_resets(runs: list[float]) -> None:
    b = Backoff()
    previous = 0.0
    for ran in runs:
        delay = b.next(ran)
        if ran >= 10 or previous == 0:
            assert delay == FIRST_DELAY
        else:
            assert delay == min(previous * 2, MAX_DELAY)
        assert FIRST_DELAY <= delay <= MAX_DELAY
        previous = delay


def test_backoff_sequence() -> None:
    b = Backoff()
    assert [b.next(0) for _ in range(5)] == [0.1, 0.2, 0.4, 0.8, 1.6]
    assert b.next(10.0) == 0.1
    for _ in range(20):
        b.next(1)
    assert b.delay == MAX_DELAY


# -- the manager against a fake container service ------------------------------------------
class FakeStore:
    def __init__(self) -> None:
        self.saved: list[str] = []

    def save(self, row: ContainerRow) -> None:
        self.saved.append(row.state["Status"])


class FakeService:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.rows: dict[str, ContainerRow] = {}
        self.store = FakeStore()
        self.exit_on_next: set[str] = set()
        self.exit_hooks: list[Any] = []
        self.started: list[str] = []
        self.events: list[tuple[str, str]] = []
        self.fail_start = False

    def _start(self, row: ContainerRow) -> None:
        if self.fail_start:
            raise ContainerStartError("exec failed")
        self.started.append(row.id)
        row.state.update(Status="running", Running=True, Restarting=False, Pid=42)

    def start(self, cid: str) -> None:
        row = self.rows[cid]
        row.restart_count = 0
        self._start(row)

    def _publish(self, row: ContainerRow, action: str) -> None:
        self.events.append((row.id, action))


def row(cid: str, policy: dict[str, Any] | None, **state: Any) -> ContainerRow:
    st = {
        "Status": "exited",
        "Running": False,
        "Restarting": False,
        "Pid": 0,
        "ExitCode": 0,
        "StartedAt": "2024-01-01T00:00:00Z",
        "FinishedAt": "2024-01-01T00:00:01Z",
    }
    st.update(state)
    return ContainerRow(
        id=cid,
        name=cid,
        created="2024-01-01T00:00:00Z",
        host_config={"RestartPolicy": policy} if policy else {},
        state=st,
        restart_count=0,
        extra={},
    )


def manager() -> tuple[FakeService, RestartManager, list[tuple[float, Any]]]:
    svc = FakeService()
    scheduled: list[tuple[float, Any]] = []
    rm = RestartManager(svc, lambda delay, fn: scheduled.append((delay, fn))).install()  # type: ignore[arg-type]
    return svc, rm, scheduled


def test_exit_schedules_a_restart_with_backoff() -> None:
    svc, rm, scheduled = manager()
    r = svc.rows["a"] = row("a", {"Name": "always"})
    assert svc.exit_hooks == [rm.on_exit]
    rm.on_exit(r, {})
    assert r.state["Status"] == "restarting" and r.state["Running"] and r.state["Restarting"]
    assert r.restart_count == 1 and scheduled[0][0] == FIRST_DELAY
    scheduled.pop()[1]()
    assert svc.started == ["a"] and r.state["Status"] == "running"
    assert svc.events == [("a", "start")]
    # a quick second exit waits twice as long
    r.state.update(Status="exited", Running=False)
    rm.on_exit(r, {})
    assert r.restart_count == 2 and scheduled[-1][0] == 2 * FIRST_DELAY
    # a long run resets the wait
    scheduled.pop()[1]()
    r.state.update(
        Status="exited",
        Running=False,
        StartedAt="2024-01-01T00:00:00Z",
        FinishedAt="2024-01-01T00:00:30Z",
    )
    rm.on_exit(r, {})
    assert scheduled[-1][0] == FIRST_DELAY and r.restart_count == 3


def test_no_restart_when_the_user_asked_for_the_exit() -> None:
    svc, rm, scheduled = manager()
    r = svc.rows["a"] = row("a", {"Name": "always"})
    svc.exit_on_next.add("a")
    rm.on_exit(r, {})
    assert scheduled == [] and r.state["Status"] == "exited"
    assert "a" not in svc.exit_on_next  # only that one exit
    rm.on_exit(r, {})
    assert len(scheduled) == 1


def test_unless_stopped_and_on_failure() -> None:
    svc, rm, scheduled = manager()
    u = svc.rows["u"] = row("u", {"Name": "unless-stopped"})
    u.extra["manually_stopped"] = True
    rm.on_exit(u, {})
    assert scheduled == []
    f = svc.rows["f"] = row("f", {"Name": "on-failure", "MaximumRetryCount": 2}, ExitCode=1)
    for _ in range(3):
        rm.on_exit(f, {})
        if scheduled:
            scheduled.pop()[1]()
            f.state.update(Status="exited", Running=False)
    assert f.restart_count == 2 and svc.started == ["f", "f"]
    ok = svc.rows["ok"] = row("ok", {"Name": "on-failure"}, ExitCode=0)
    rm.on_exit(ok, {})
    none = svc.rows["n"] = row("n", None, ExitCode=1)
    rm.on_exit(none, {})
    assert scheduled == []


def test_a_stop_while_waiting_cancels_the_restart() -> None:
    svc, rm, scheduled = manager()
    r = svc.rows["a"] = row("a", {"Name": "always"})
    rm.on_exit(r, {})
    # what ContainerService.stop does to a restarting container
    r.state.update(Status="exited", Running=False, Restarting=False)
    scheduled.pop()[1]()
    assert svc.started == []
    # a removed container: nothing either
    rm.on_exit(r, {})
    del svc.rows["a"]
    rm.forget("a")
    scheduled.pop()[1]()
    assert svc.started == []


def test_a_policy_updated_to_no_while_waiting_cancels_the_restart() -> None:
    svc, rm, scheduled = manager()
    r = svc.rows["a"] = row("a", {"Name": "always"})
    rm.on_exit(r, {})
    r.host_config["RestartPolicy"] = {"Name": "no"}
    scheduled.pop()[1]()
    assert svc.started == [] and r.state["Status"] == "exited" and not r.state["Running"]


def test_a_failed_restart_leaves_it_exited_with_the_error() -> None:
    svc, rm, scheduled = manager()
    r = svc.rows["a"] = row("a", {"Name": "always"}, ExitCode=3)
    rm.on_exit(r, {})
    svc.fail_start = True
    scheduled.pop()[1]()
    assert r.state["Status"] == "exited" and not r.state["Running"]
    assert r.state["Error"] == "exec failed" and r.state["ExitCode"] == 3
    assert svc.events == []


def test_boot_starts_what_the_policies_say() -> None:
    svc, rm, _ = manager()
    stopped = {"manually_stopped": True}
    rows = [
        row("always", {"Name": "always"}),
        row("always-stopped", {"Name": "always"}),
        row("unless", {"Name": "unless-stopped"}),
        row("unless-stopped", {"Name": "unless-stopped"}),
        row("fail", {"Name": "on-failure"}, ExitCode=2),
        row("fail-ok", {"Name": "on-failure"}, ExitCode=0),
        row("fail-spent", {"Name": "on-failure", "MaximumRetryCount": 1}, ExitCode=2),
        row("never-started", {"Name": "always"}, Status="created", StartedAt=ZERO),
        row("running", {"Name": "always"}, Status="running", Running=True),
        row("no", None, ExitCode=1),
    ]
    rows[1].extra = dict(stopped)
    rows[3].extra = dict(stopped)
    rows[6].restart_count = 1
    for i, r in enumerate(rows):
        r.created = f"2024-01-01T00:00:{i:02d}Z"
        svc.rows[r.id] = r
    assert rm.boot() == ["always", "always-stopped", "unless", "fail"]
    svc.fail_start = True
    svc.rows["always"].state.update(Running=False, Status="exited")
    assert rm.boot() == []  # errors are logged, not raised
