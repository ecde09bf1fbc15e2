"""Fixtures of the engine area (registered in tests/conftest.py).

- ``berthd``: a running engine on temporary directories (an
  :class:`support.engine_daemon.Engine`): ``.host`` (``unix://...``),
  ``.root``, ``.exec_root``, ``.socket``, ``.env`` (for a CLI or docker
  client), ``.run(args) -> CompletedProcess`` of the berth CLI, ``.pid``,
  ``.log()``. Stopped by PID and removed at the end of the test.
- ``engine_factory``: makes more engines (not started; ``.start(*flags)``),
  all cleaned up at the end.

Both take the kernel-test lock first: a daemon is a process that other
runs' leak checks must not see.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from support.engine_daemon import Engine


@pytest.fixture
def engine_factory(
    kernel_lock: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Engine]]:
    made: list[Engine] = []

    def make(config: str = "{}", base: str | None = None) -> Engine:
        # beneath the run's temporary root (short: unix socket paths are limited),
        # so the host-state check sees whatever the engine leaves mounted there
        if base is None:
            import tempfile

            base = tempfile.mkdtemp(prefix="e", dir=tmp_path_factory.getbasetemp())
        e = Engine(base=base, config=config)
        made.append(e)
        return e

    try:
        yield make
    finally:
        for e in made:
            e.cleanup()


@pytest.fixture
def berthd(engine_factory: Callable[..., Engine]) -> Engine:
    return engine_factory().start()


@pytest.fixture
def engine(engine_factory: Callable[..., Engine]) -> Engine:
    """A running engine whose store holds ``busybox:latest`` (from Debian's busybox-static)."""
    from berth.images import mkimage
    from berth.images.store import ImageStore

    e = engine_factory()
    with ImageStore(e.root) as store:
        mkimage.build("busybox", store, mkimage.default_cache(), None, 1, False)
    return e.start()
