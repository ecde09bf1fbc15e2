"""A container's directory is made ahead (a spare, renamed into place at create)."""

from __future__ import annotations

import json
import os
import stat
import time

from support.engine_daemon import Engine

START_DIRS = ("bundle", "rootfs", "upper", "work")
START_FILES = ("hostname", "hosts", "resolv.conf")  # (and bundle/config.json)
MADE_AHEAD = sorted(START_DIRS + START_FILES)


def spares(engine: Engine, timeout: float = 10) -> list[str]:
    """The spare directories, once the daemon has made one (it makes it in the background,
    once its container service runs: ``ps`` starts that)."""
    assert engine.run(["ps"]).returncode == 0
    path = os.path.join(engine.root, "spare")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        names = sorted(os.listdir(path)) if os.path.isdir(path) else []
        if names:
            return [os.path.join(path, n) for n in names]
        time.sleep(0.02)
    return []


def test_a_created_container_gets_the_spare_directory(engine: Engine) -> None:
    (spare,) = spares(engine)
    assert sorted(os.listdir(spare)) == MADE_AHEAD
    assert os.listdir(os.path.join(spare, "bundle")) == ["config.json"]
    r = engine.run(["create", "--name", "c1", "busybox", "true"])
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    cdir = os.path.join(engine.root, "containers", cid)
    assert not os.path.exists(spare)  # renamed into place
    assert sorted(os.listdir(cdir)) == MADE_AHEAD
    assert all(os.path.getsize(os.path.join(cdir, f)) == 0 for f in START_FILES)
    made = os.stat(cdir)
    assert stat.S_IMODE(made.st_mode) == 0o710 & ~_umask()
    r = engine.run(["start", "-a", "c1"])
    assert r.returncode == 0, r.stderr
    hostname = open(os.path.join(cdir, "hostname")).read()
    assert hostname == cid[:12] + "\n"  # written in place at the first start
    assert json.load(open(os.path.join(cdir, "bundle", "config.json")))["hostname"] == cid[:12]
    r = engine.run(["start", "-a", "c1"])  # a second start replaces them whole
    assert r.returncode == 0, r.stderr
    assert open(os.path.join(cdir, "hostname")).read() == hostname
    info = json.loads(engine.run(["inspect", "c1"]).stdout)[0]
    assert info["State"]["Status"] == "exited" and info["State"]["ExitCode"] == 0
    assert engine.run(["rm", "c1"]).returncode == 0
    assert len(spares(engine)) == 1  # the next one, made after the removal


def test_a_daemon_start_replaces_the_spares_it_finds(engine: Engine) -> None:
    (spare,) = spares(engine)
    engine.stop()
    stale = os.path.join(engine.root, "spare", "stale")
    os.makedirs(os.path.join(stale, "upper", "left-over"))
    engine.start()
    assert engine.run(["ps"]).returncode == 0  # (the container service starts, and recovers)
    deadline = time.monotonic() + 10
    while os.path.exists(stale) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not os.path.exists(stale) and not os.path.exists(spare)
    (fresh,) = spares(engine)
    assert sorted(os.listdir(fresh)) == MADE_AHEAD
    r = engine.run(["run", "--rm", "busybox", "true"])
    assert r.returncode == 0, r.stderr


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
