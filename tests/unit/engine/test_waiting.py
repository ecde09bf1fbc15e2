"""Docker's wait conditions, on a fake container table (threads change the state)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from berth.engine.containers.waiting import ExitWaiter
from berth.errors import InvalidArgument


class Row:
    def __init__(self, running: bool) -> None:
        self.id = "c1"
        self.state: dict[str, Any] = {"Running": running, "ExitCode": 0, "FinishedAt": "t0"}


class Svc:
    def __init__(self, row: Row) -> None:
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.rows = {row.id: row}

    def later(self, delay: float, change: Any) -> None:
        def run() -> None:
            time.sleep(delay)
            with self.lock:
                change()
                self.changed.notify_all()

        threading.Thread(target=run, daemon=True).start()


def exited(row: Row, code: int, when: str) -> Any:
    def change() -> None:
        row.state.update(Running=False, ExitCode=code, FinishedAt=when)

    return change


def test_not_running_and_timeouts() -> None:
    row = Row(running=True)
    svc = Svc(row)
    w = ExitWaiter(svc, row, "not-running")  # type: ignore[arg-type]
    assert w.wait(0.05) is None  # still running
    svc.later(0.05, exited(row, 3, "t1"))
    assert w.wait(5) == {"StatusCode": 3, "Error": None}
    assert ExitWaiter(svc, row, "not-running").wait(0) == {"StatusCode": 3, "Error": None}  # type: ignore[arg-type]
    row.state.update(Running=True, Restarting=True)
    assert ExitWaiter(svc, row, "not-running").wait(0) is not None  # type: ignore[arg-type]


def test_next_exit_waits_for_an_exit_after_it_began() -> None:
    row = Row(running=False)  # exited before: that exit does not count
    svc = Svc(row)
    w = ExitWaiter(svc, row, "next-exit")  # type: ignore[arg-type]
    assert w.wait(0.05) is None
    row.state["Running"] = True  # started, not exited yet
    assert w.wait(0.05) is None
    svc.later(0.05, exited(row, 7, "t2"))
    assert w.wait(5) == {"StatusCode": 7, "Error": None}
    gone = ExitWaiter(svc, row, "next-exit")  # type: ignore[arg-type]
    svc.later(0.05, lambda: svc.rows.clear())  # removed before it ran again
    assert gone.wait(5) == {"StatusCode": 7, "Error": None}


def test_removed_and_bad_condition() -> None:
    row = Row(running=False)
    svc = Svc(row)
    w = ExitWaiter(svc, row, "removed")  # type: ignore[arg-type]
    assert w.wait(0.05) is None
    svc.later(0.05, lambda: svc.rows.clear())
    assert w.wait(5) == {"StatusCode": 0, "Error": None}
    with pytest.raises(InvalidArgument, match="invalid condition: 'soon'"):
        ExitWaiter(svc, row, "soon")  # type: ignore[arg-type]
