"""SIGKILL in the middle of a pull: no half image is visible, and the next pull completes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import pytest

from berth.errors import NotFound
from berth.images.pull import pull
from berth.images.service import ImageService
from berth.images.store import ImageStore
from support.images_layers import entry, make_tar, push_image
from support.images_registry import LocalRegistry

CHILD = textwrap.dedent(
    """
    import sys, time
    from berth.content import stream
    from berth.images.pull import pull
    from berth.images.store import ImageStore

    real = stream.BlobTee.read
    def slow(self, n=-1):
        time.sleep(0.05)  # make the window wide enough to be killed in
        return real(self, 256 * 1024)
    stream.BlobTee.read = slow
    with ImageStore(sys.argv[1]) as store:
        for msg in pull(store, sys.argv[2]):
            print(msg.get("status"), flush=True)
    """
)


def test_sigkill_mid_pull_leaves_no_half_image(registry: LocalRegistry, tmp_path: Path) -> None:
    layers = [make_tar([entry(f"blob{i}", tarfile.REGTYPE, os.urandom(3 << 20))]) for i in range(3)]
    ref = f"{registry.host}/kill/test:v1"
    push_image(registry.host, "kill/test", "v1", layers)
    root = str(tmp_path / "root")
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, root, ref], stdout=subprocess.PIPE, text=True
    )
    try:
        seen = []
        assert child.stdout is not None
        for line in child.stdout:
            seen.append(line.strip())
            if line.startswith("Downloading") and len(seen) > 6:
                break
        else:
            pytest.fail(f"the pull ended before it could be killed: {seen}")
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
        if child.stdout is not None:
            child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    leftovers = os.listdir(os.path.join(root, "content", "ingest"))
    assert leftovers, "the kill should have interrupted a download in progress"
    with ImageStore(root) as store:  # opening sweeps what the dead process left
        svc = ImageService(store=store)
        assert svc.list_images() == []
        with pytest.raises(NotFound):
            store.resolve(ref)
        assert os.listdir(store.content.ingest_dir) == []
        assert not [n for n in os.listdir(store.snapshots.root) if n.startswith(".tmp-")]
        statuses = [m.get("status") for m in pull(store, ref)]
        assert statuses[-1] == f"Status: Downloaded newer image for {ref}"
        image = store.resolve(ref)
        assert len(image.layers) == 3
        for i, chain in enumerate(image.chain_ids):
            fs = Path(store.snapshots.fs(chain))
            assert (fs / f"blob{i}").stat().st_size == 3 << 20
