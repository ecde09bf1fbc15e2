"""Fixtures of the images area (registered in tests/conftest.py).

- ``registry``: a real docker-registry on 127.0.0.1:<free port> for the session.
- ``image_store``: an empty ImageStore in a temporary root.
- ``busybox_layer_dir``: the busybox rootfs (session, read-only).
- ``make_busybox``: builds a busybox image in a store under given names.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from support.images_registry import LocalRegistry


@pytest.fixture(scope="session")
def registry(
    tmp_path_factory: pytest.TempPathFactory, kernel_lock: None
) -> Iterator[LocalRegistry]:
    """Takes the kernel-test lock first: other runs' leak checks must not see it start."""
    if not os.access("/usr/bin/docker-registry", os.X_OK):
        pytest.skip("docker-registry is not installed (scripts/setup installs it)")
    reg = LocalRegistry.start(str(tmp_path_factory.mktemp("registry")))
    try:
        yield reg
    finally:
        reg.stop()


@pytest.fixture
def image_store(tmp_path: Path) -> Iterator[object]:
    from berth.images.store import ImageStore

    store = ImageStore(str(tmp_path / "berth-root"))
    try:
        yield store
    finally:
        store.close()
        shutil.rmtree(tmp_path / "berth-root", ignore_errors=True)


@pytest.fixture
def make_busybox(busybox_rootfs: Path) -> Callable[..., str]:
    from berth.images.bases import image_from_rootfs

    def make(store: object, *names: str) -> str:
        return image_from_rootfs(store, str(busybox_rootfs), list(names), "busybox", "test busybox")

    return make
