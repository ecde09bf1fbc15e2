"""Fixtures of the cgroups area (registered in tests/conftest.py).

- ``cgroup_layout``: the cgroup layout of this machine, as berth detects it.
- ``make_cgroup(cgroups_path=None, layout=None)``: an unopened-on-disk
  :class:`~berth.cgroups.Cgroup` with a unique container id; whatever the test
  creates is killed and destroyed at teardown.
- ``cgroup_worker()``: a :class:`~support.cgroups_worker.Worker` process (killed at teardown).
- ``cgroup_block_device``: ``(major, minor)`` of a real disk of this machine, from /sys/block.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator

import pytest

from berth.cgroups import Cgroup, Layout, open_cgroup
from berth.errors import BerthError
from support.cgroups_worker import Worker

_serial = itertools.count()


@pytest.fixture(scope="session")
def cgroup_layout() -> Layout:
    return Layout.detect()


@pytest.fixture
def make_cgroup(cgroup_layout: Layout) -> Iterator[Callable[..., Cgroup]]:
    made: list[Cgroup] = []

    def make(cgroups_path: str | None = None, layout: Layout | None = None) -> Cgroup:
        name = f"berth-test-{os.getpid()}-{next(_serial)}"
        cg = open_cgroup(cgroups_path, name, layout if layout is not None else cgroup_layout)
        made.append(cg)
        return cg

    yield make
    errors = []
    for cg in reversed(made):
        try:
            if cg.exists():
                cg.kill(9)
            cg.destroy()
        except BerthError as e:
            errors.append(str(e))
    assert not errors, errors


@pytest.fixture
def cgroup_worker() -> Iterator[Callable[[], Worker]]:
    started: list[Worker] = []

    def start() -> Worker:
        w = Worker()
        started.append(w)
        return w

    yield start
    for w in started:
        w.close()


@pytest.fixture(scope="session")
def cgroup_block_device() -> tuple[int, int]:
    names = sorted(os.listdir("/sys/block"))
    real = [n for n in names if os.path.exists(f"/sys/block/{n}/device")]
    others = [n for n in names if not n.startswith(("loop", "ram", "zram"))]
    for name in real + others:
        with open(f"/sys/block/{name}/dev") as f:
            major, minor = f.read().split(":")
        return int(major), int(minor)
    pytest.skip("this machine has no block device in /sys/block")
