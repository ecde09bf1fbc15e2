"""What the engine asks of images for a container: diff, commit, export, references."""

from __future__ import annotations

import io
import os
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from berth.errors import Conflict
from berth.images.container_fs import ADDED, DELETED, MODIFIED, changes, commit, export_tar
from berth.images.service import ImageService
from berth.images.store import ImageStore
from berth.kernel import fsmount
from berth.kernel.syscalls import SYSCALLS


def mount(store: ImageStore, name: str, ctr: Path, target: Path) -> None:
    target.mkdir(exist_ok=True)
    (op,) = store.rootfs_mounts(store.resolve(name), str(ctr), str(target))
    fsmount.apply(op, SYSCALLS)


def test_diff_commit_export(
    image_store: ImageStore, make_busybox: Callable[..., str], tmp_path: Path
) -> None:
    make_busybox(image_store, "busybox:latest")
    root = tmp_path / "rootfs"
    mount(image_store, "busybox", tmp_path / "c1", root)
    try:
        (root / "etc/passwd").write_text("changed\n")
        (root / "new-file").write_text("new\n")
        (root / "bin/ls").unlink()
        shutil.rmtree(root / "var")
        (root / "var").mkdir()
        (root / "var/fresh").write_text("x")
        exported = b"".join(export_tar(str(root)))
    finally:
        fsmount.umount(str(root))
    names = tarfile.open(fileobj=io.BytesIO(exported)).getnames()
    assert "new-file" in names and "bin/busybox" in names and "bin/ls" not in names
    image = image_store.resolve("busybox")
    lowers = image_store.snapshots.lowerdirs(image.chain_ids)
    diff = {c["Path"]: c["Kind"] for c in changes(str(tmp_path / "c1/upper"), lowers)}
    assert diff["/etc"] == MODIFIED and diff["/etc/passwd"] == MODIFIED
    assert diff["/new-file"] == ADDED
    assert diff["/bin/ls"] == DELETED
    assert diff["/var"] == MODIFIED and diff["/var/fresh"] == ADDED
    new_id = commit(
        image_store,
        str(tmp_path / "c1/upper"),
        image,
        repo="committed",
        tag="v1",
        author="me",
        comment="snap",
        changes_=["ENV X=1"],
        created_by="sh -c edit",
    )
    new = image_store.resolve("committed:v1")
    assert new.id == new_id and len(new.layers) == 2
    assert new.layers[0].chain_id == image.chain_ids[0]
    assert new.container_config.env is not None and "X=1" in new.container_config.env
    assert new.meta["parent"] == image.id
    root2 = tmp_path / "rootfs2"
    mount(image_store, "committed:v1", tmp_path / "c2", root2)
    try:
        assert (root2 / "etc/passwd").read_text() == "changed\n"
        assert not (root2 / "bin/ls").exists()
        assert sorted(os.listdir(root2 / "var")) == ["fresh"]  # the opaque dir survived
    finally:
        fsmount.umount(str(root2))
    history = ImageService(store=image_store).history("committed:v1")
    assert history[0]["CreatedBy"] == "sh -c edit" and history[0]["Comment"] == "snap"


def test_images_in_use_are_kept(image_store: ImageStore, make_busybox: Callable[..., str]) -> None:
    svc = ImageService(store=image_store)
    image_id = make_busybox(image_store, "busybox:latest")
    image_store.add_container_ref("c" * 64, image_id)
    with pytest.raises(Conflict, match="being used by stopped container cccccccccccc"):
        svc.remove(image_id)
    svc.tag("busybox", "other", "x")
    assert svc.remove("other:x") == [{"Untagged": "other:x"}]  # another tag remains
    with pytest.raises(Conflict, match="is using its referenced image"):
        svc.remove("busybox:latest")  # the last tag of an image in use
    assert svc.prune({"dangling": ["false"]})["ImagesDeleted"] is None
    out = svc.remove(image_id, force=True)
    assert {"Untagged": "busybox:latest"} in out and not any("Deleted" in o for o in out)
    assert image_store.exists(image_id)  # kept, now dangling, for the container
    image_store.remove_container_ref("c" * 64)
    report = svc.prune()
    assert {"Deleted": image_id} in report["ImagesDeleted"]
    assert report["SpaceReclaimed"] > 0
    assert list(image_store.content.walk()) == [] and list(image_store.snapshots.walk()) == []


def test_gc_spares_leased_work(image_store: ImageStore, make_busybox: Callable[..., str]) -> None:
    image_id = make_busybox(image_store, "busybox:latest")
    image = image_store.resolve(image_id)
    with image_store.lease() as lease:
        for lr in image.layers:
            lease.snapshot(lr.chain_id)
            lease.blob(lr.blob or "")
        image_store.meta.delete_image(image_id)
        snaps, blobs, _ = image_store.gc()
        assert snaps == [] and image.layers[0].blob not in blobs
        assert image_store.snapshots.exists(image.chain_ids[0])
    snaps, _, _ = image_store.gc()
    assert snaps == image.chain_ids
