"""Shared fixtures.

Tests are split by what they need (see the directory names):

- ``tests/unit``: no root, no kernel; must not touch the heavy fixtures.
- ``tests/integration``, ``tests/e2e``, ``tests/reliability``: marked
  ``kernel``; they run as root on the real kernel. Every one of them is
  wrapped by :func:`host_unchanged`, which fails the test when it leaves a
  mount, cgroup, link, netns, nft table or process behind. Kernel tests of
  concurrent runs on one machine are serialized by a lock file, so that one
  run's containers are not mistaken for another's leaks.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from support import hoststate  # noqa: E402

# Fixtures of each area live in their own plugin module under tests/support/.
pytest_plugins = [
    "support.fixtures_runtime",
    "support.fixtures_cgroups",
    "support.fixtures_images",
    "support.fixtures_network",
    "support.fixtures_engine",
    "support.fixtures_lifecycle",
]

KERNEL_DIRS = ("integration", "e2e", "reliability")
LOCK_PATH = "/run/lock/berth-kernel-tests.lock"
CACHE = ROOT / ".cache" / "fixtures"


def _become_subreaper() -> None:
    """Orphans of our tests (daemons, containers) become our children, so that the
    leak check can tell them from processes other runs on this machine started."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


def _reap_zombies() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def pytest_configure(config: pytest.Config) -> None:
    _become_subreaper()
    # Several pytest runs may share this machine: give each its own temporary
    # root (pytest's numbered dirs under /tmp/pytest-of-root are pruned by
    # whichever run ends last), and remove it when the run ends.
    if not config.option.basetemp:
        config.option.basetemp = f"/tmp/berth-pytest-{os.getpid()}"
        config._berth_basetemp = config.option.basetemp  # type: ignore[attr-defined]


def pytest_unconfigure(config: pytest.Config) -> None:
    path = getattr(config, "_berth_basetemp", None)
    if path:
        shutil.rmtree(path, ignore_errors=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).relative_to(ROOT / "tests").parts
        if parts and parts[0] in KERNEL_DIRS:
            item.add_marker(pytest.mark.kernel)
            if os.geteuid() != 0:
                item.add_marker(pytest.mark.skip(reason="kernel tests need root"))


@pytest.fixture(scope="session")
def kernel_lock() -> Iterator[None]:
    """Serialize kernel tests between concurrent pytest runs on this machine."""
    os.makedirs(os.path.dirname(LOCK_PATH), exist_ok=True)
    with open(LOCK_PATH, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@pytest.fixture(autouse=True)
def host_unchanged(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a kernel test that leaves the host changed."""
    if request.node.get_closest_marker("kernel") is None:
        yield
        return
    request.getfixturevalue("kernel_lock")
    before = hoststate.take()
    yield
    _reap_zombies()
    deadline = time.monotonic() + 3.0
    while True:
        diff = hoststate.describe(
            before, hoststate.take(), str(request.config.option.basetemp or "") or None
        )
        if not diff or time.monotonic() > deadline:
            break
        time.sleep(0.1)
        _reap_zombies()
    if diff:
        pytest.fail("the test left the host changed:\n  " + "\n  ".join(diff), pytrace=False)


@pytest.fixture(scope="session")
def busybox_rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A busybox rootfs built from Debian's busybox-static (read it, do not change it)."""
    from berth.images.bases import busybox_rootfs as build

    dest = tmp_path_factory.mktemp("busybox") / "rootfs"
    build(str(dest))
    return dest


@pytest.fixture
def rootfs(busybox_rootfs: Path, tmp_path: Path) -> Path:
    """A private copy of the busybox rootfs that a test may change."""
    dest = tmp_path / "rootfs"
    shutil.copytree(busybox_rootfs, dest, symlinks=True)
    return dest


@pytest.fixture(scope="session")
def fixture_cache() -> Path:
    """A cache for expensive fixtures (debootstrap trees), kept in the checkout."""
    CACHE.mkdir(parents=True, exist_ok=True)
    return CACHE
