"""Fixtures of the container lifecycle tests (resources, security, restarts).

- ``lc_engine`` (module scope): one running engine for a whole test module,
  with ``busybox:latest`` and ``probe:latest`` (see ``support.lifecycle_probe``)
  loaded and warmed up (one container run, so the monitor, the network and
  the cgroup parent exist before the first test's host snapshot);
- ``lc``: that engine for one test; every container is removed when the test
  ends, so the test leaves the host as it found it.

Tests that restart berthd or kill the monitor use the function-scoped
``engine`` fixture instead: a new daemon or monitor process would count as
left behind by the test.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator

import pytest

from support.engine_daemon import Engine
from support.lifecycle_probe import probe_image_tar


def load_probe(e: Engine) -> None:
    path = f"{e.base}/probe.tar"
    with open(path, "wb") as f:
        f.write(probe_image_tar())
    r = e.run(["import", path, "probe:latest"])
    assert r.returncode == 0, r.stderr


@pytest.fixture(scope="module")
def lc_engine(kernel_lock: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    from berth.images import mkimage
    from berth.images.store import ImageStore

    e = Engine(base=tempfile.mkdtemp(prefix="l", dir=tmp_path_factory.getbasetemp()))
    try:
        with ImageStore(e.root) as store:
            mkimage.build("busybox", store, mkimage.default_cache(), None, 1, False)
        e.start()
        load_probe(e)
        r = e.run(["run", "--rm", "busybox", "true"])
        assert r.returncode == 0, r.stderr
        yield e
    finally:
        e.cleanup()


def remove_all(e: Engine) -> None:
    ids = e.run(["ps", "-aq"]).stdout.split()
    if ids:
        e.run(["rm", "-f", *ids])


@pytest.fixture
def lc(lc_engine: Engine) -> Iterator[Engine]:
    yield lc_engine
    if lc_engine.proc is None:  # a test stopped it: bring it back for the next one
        lc_engine.start()
    remove_all(lc_engine)
