"""Interop with skopeo, podman and buildah through a real registry (peers, no fakes)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from berth.images.pull import pull
from berth.images.push import push
from berth.images.store import ImageStore
from berth.kernel import fsmount
from berth.kernel.syscalls import SYSCALLS
from support.images_peers import Peers, tree
from support.images_registry import LocalRegistry

pytestmark = pytest.mark.peers


@pytest.fixture
def peers(tmp_path: Path) -> Iterator[Peers]:
    for tool in ("podman", "buildah", "skopeo"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is not installed (scripts/setup installs it)")
    p = Peers(str(tmp_path / "peers"))
    try:
        yield p
    finally:
        p.close()


def test_berth_push_is_read_by_skopeo_and_podman(
    image_store: ImageStore,
    registry: LocalRegistry,
    make_busybox: Callable[..., str],
    peers: Peers,
) -> None:
    ref = f"{registry.host}/interop/busybox:berth"
    image_id = make_busybox(image_store, ref)
    aux = next(m["aux"] for m in push(image_store, ref) if "aux" in m)
    image = image_store.resolve(ref)
    info = peers.json("skopeo", "inspect", "--tls-verify=false", f"docker://{ref}")
    assert info["Digest"] == aux["Digest"]  # type: ignore[index]
    config = peers.json("skopeo", "inspect", "--config", "--tls-verify=false", f"docker://{ref}")
    assert config["rootfs"]["diff_ids"] == image.diff_ids  # type: ignore[index]
    peers.run("podman", "pull", "-q", "--tls-verify=false", ref)
    inspected = peers.json("podman", "image", "inspect", ref)[0]  # type: ignore[index]
    assert inspected["Id"] == image_id.split(":", 1)[1]
    assert inspected["Digest"] == aux["Digest"]
    assert inspected["RootFS"]["Layers"] == image.diff_ids


def test_buildah_image_with_deletions_pulled_by_berth(
    image_store: ImageStore,
    registry: LocalRegistry,
    busybox_rootfs: Path,
    peers: Peers,
    tmp_path: Path,
) -> None:
    ref = f"{registry.host}/interop/layered:buildah"
    c1 = peers.run("buildah", "from", "scratch")
    peers.run("buildah", "copy", c1, str(busybox_rootfs), "/")
    peers.run("buildah", "commit", "-q", c1, "localhost/base:1")
    c2 = peers.run("buildah", "from", "localhost/base:1")
    mnt = Path(peers.run("buildah", "mount", c2))
    (mnt / "bin/ls").unlink()  # a file deleted in a later layer
    shutil.rmtree(mnt / "etc")  # a directory replaced: opaque in the new layer
    (mnt / "etc").mkdir()
    (mnt / "etc/only-new").write_text("new\n")
    (mnt / "added").write_text("added\n")
    peers.run("buildah", "umount", c2)
    peers.run("buildah", "commit", "-q", c2, "localhost/layered:1")
    c3 = peers.run("buildah", "from", "localhost/layered:1")
    c3_root = peers.run("buildah", "mount", c3)
    want = tree(c3_root)
    peers.run("buildah", "umount", c3)
    peers.run(
        "buildah", "push", "-q", "--tls-verify=false", "localhost/layered:1", f"docker://{ref}"
    )

    list(pull(image_store, ref))
    image = image_store.resolve(ref)
    assert len(image.layers) == 2
    target = tmp_path / "rootfs"
    target.mkdir()
    (op,) = image_store.rootfs_mounts(image, str(tmp_path / "ctr"), str(target))
    fsmount.apply(op, SYSCALLS)
    try:
        got = tree(str(target))
    finally:
        fsmount.umount(str(target))
    assert "bin/ls" not in got and "etc/passwd" not in got
    assert got["etc/only-new"] == "file:4" and got["added"] == "file:6"
    assert got == want


def test_archives_both_ways_with_podman(
    image_store: ImageStore, make_busybox: Callable[..., str], peers: Peers, tmp_path: Path
) -> None:
    from berth.images.archive import load, save

    image_id = make_busybox(image_store, "berthtest/bb:latest")
    archive = tmp_path / "berth.tar"
    with open(archive, "wb") as f:
        for chunk in save(image_store, ["berthtest/bb"]):
            f.write(chunk)
    peers.run("podman", "load", "-q", "-i", str(archive))
    inspected = peers.json("podman", "image", "inspect", "berthtest/bb:latest")[0]  # type: ignore[index]
    assert inspected["Id"] == image_id.split(":", 1)[1]
    out = tmp_path / "podman.tar"
    peers.run("podman", "save", "-q", "-o", str(out), "berthtest/bb:latest")
    other = ImageStore(str(tmp_path / "other"))
    with open(out, "rb") as f:
        messages = list(load(other, f))
    assert messages == [{"stream": "Loaded image: berthtest/bb:latest\n"}]
    assert other.resolve("berthtest/bb").id == image_id
    other.close()
