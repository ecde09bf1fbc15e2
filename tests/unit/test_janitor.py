"""The janitor: background cleanup in order, after a delay, drained on demand."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from berth.janitor import Janitor


def test_jobs_run_in_order_after_their_delay() -> None:
    j = Janitor("test-janitor", delay=0.2)
    done: list[int] = []
    for i in range(3):
        j.later(done.append, i)
    time.sleep(0.05)
    assert done == []  # not yet: the delay holds them back
    assert j.drain(5)
    assert done == [0, 1, 2]
    assert j.close()


def test_without_drain_a_job_runs_once_its_delay_is_over() -> None:
    j = Janitor("test-janitor", delay=0.05)
    ran = threading.Event()
    t0 = time.monotonic()
    j.later(ran.set)
    assert ran.wait(5)
    assert time.monotonic() - t0 >= 0.05
    assert j.close()


def test_drain_runs_the_jobs_now_and_close_ends_the_thread() -> None:
    j = Janitor("test-janitor", delay=60)
    done: list[str] = []
    j.later(done.append, "a")
    t0 = time.monotonic()
    assert j.drain(5)
    assert done == ["a"] and time.monotonic() - t0 < 5
    assert j.close()
    assert not [t for t in threading.enumerate() if t.name == "test-janitor"]
    j.later(done.append, "b")  # a job after close starts the thread again
    assert j.close() and done == ["a", "b"]


def test_a_failing_job_is_logged_and_the_next_runs(caplog: pytest.LogCaptureFixture) -> None:
    j = Janitor("test-janitor", delay=0)
    done: list[str] = []

    def boom() -> None:
        raise OSError("disk on fire")

    with caplog.at_level(logging.ERROR, logger="berth.janitor"):
        j.later(boom)
        j.later(done.append, "after")
        assert j.close()
    assert done == ["after"]
    assert "cleanup job boom failed" in caplog.text and "disk on fire" in caplog.text


def test_a_job_with_a_delay_of_its_own_runs_when_due_not_in_turn() -> None:
    j = Janitor("test-janitor", delay=0.01)
    done: list[str] = []
    j.later(done.append, "late", delay=0.3)
    j.later(done.append, "soon")
    j.later(done.append, "soon too")
    deadline = time.monotonic() + 5
    while len(done) < 2 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert done == ["soon", "soon too"]  # not held back by the later one before them
    assert j.drain(5)
    assert done == ["soon", "soon too", "late"]
    assert j.close()
