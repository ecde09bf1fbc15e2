"""Snapshots mounted as overlayfs: whiteouts take effect; 100+ layers through fsconfig."""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from berth.images.compose import make_image
from berth.images.layers import store_tar_stream
from berth.images.store import ImageStore
from berth.kernel import fsmount
from berth.kernel.syscalls import SYSCALLS
from berth.oci import image_spec as spec
from berth.oci import reference
from support.images_layers import entry, make_tar

D, F = tarfile.DIRTYPE, tarfile.REGTYPE


@contextmanager
def mounted(ops: list, target: Path) -> Iterator[Path]:
    target.mkdir(exist_ok=True)
    for op in ops:
        assert op.target == str(target)
        fsmount.apply(op, SYSCALLS)
    try:
        yield target
    finally:
        fsmount.umount(str(target))


def image_of(store: ImageStore, layers: list[bytes], name: str) -> str:
    rows = [store_tar_stream(store, io.BytesIO(t)) for t in layers]
    return make_image(store, rows, spec.ImageConfig(), [reference.parse(name)])


def test_container_rootfs_with_whiteouts(image_store: ImageStore, tmp_path: Path) -> None:
    image_of(
        image_store,
        [
            make_tar(
                [
                    entry("etc/", D),
                    entry("etc/a", F, b"1"),
                    entry("etc/b", F, b"2"),
                    entry("opt/", D),
                    entry("opt/old", F, b"o"),
                ]
            ),
            make_tar(
                [
                    entry("etc/", D),
                    entry("etc/.wh.a", F),
                    entry("opt/", D),
                    entry("opt/.wh..wh..opq", F),
                    entry("opt/new", F, b"n"),
                ]
            ),
        ],
        "wh:test",
    )
    image = image_store.resolve("wh:test")
    ops = image_store.rootfs_mounts(image, str(tmp_path / "c1"), str(tmp_path / "rootfs"))
    with mounted(ops, tmp_path / "rootfs") as root:
        assert sorted(os.listdir(root / "etc")) == ["b"]
        assert sorted(os.listdir(root / "opt")) == ["new"]
        (root / "etc/b").write_text("changed")  # lands in the container's upper dir
    assert (tmp_path / "c1/upper/etc/b").read_text() == "changed"
    lower_b = Path(image_store.snapshots.fs(image.chain_ids[0])) / "etc/b"
    assert lower_b.read_bytes() == b"2"


def test_one_hundred_and_twenty_layers(image_store: ImageStore, tmp_path: Path) -> None:
    layers = [make_tar([entry(f"f{i:03d}", F, str(i).encode())]) for i in range(120)]
    layers[119] = make_tar([entry("f119", F, b"119"), entry(".wh.f000", F)])
    image_of(image_store, layers, "many:layers")
    image = image_store.resolve("many:layers")
    ops = image_store.rootfs_mounts(image, str(tmp_path / "c"), str(tmp_path / "rootfs"))
    assert len((ops[0].data or "").encode()) > fsmount.PAGE_LIMIT  # too long for mount(2)
    with mounted(ops, tmp_path / "rootfs") as root:
        names = sorted(os.listdir(root))
        assert names == [f"f{i:03d}" for i in range(1, 120)]
        assert (root / "f077").read_text() == "77"


def test_rootfs_mounts_by_image_id_match_the_image_and_refuse_an_unknown_one(
    image_store: ImageStore, tmp_path: Path
) -> None:
    from berth.errors import NotFound

    image_of(
        image_store, [make_tar([entry("a", F, b"1")]), make_tar([entry("b", F, b"2")])], "by:id"
    )
    image = image_store.resolve("by:id")
    args = (str(tmp_path / "c"), str(tmp_path / "rootfs"))
    assert image_store.rootfs_mounts(image.id, *args) == image_store.rootfs_mounts(image, *args)
    with pytest.raises(NotFound, match=r"No such image: sha256:0{64}$"):
        image_store.rootfs_mounts("sha256:" + "0" * 64, *args)


def test_a_volatile_rootfs_is_not_synced_and_mounts_again(
    image_store: ImageStore, tmp_path: Path
) -> None:
    image_of(image_store, [make_tar([entry("a", F, b"1")])], "vol:test")
    image = image_store.resolve("vol:test")
    cdir, target = tmp_path / "c", tmp_path / "rootfs"
    ops = image_store.rootfs_mounts(image.id, str(cdir), str(target), volatile=True)
    assert ops[0].data is not None and ops[0].data.split(",")[-1] == "volatile"
    with mounted(ops, target) as root:
        line = next(
            x
            for x in Path("/proc/self/mountinfo").read_text().splitlines()
            if x.split()[4] == str(root)
        )
        # (newer kernels show the option as fsync=volatile)
        options = line.split(" - ")[1].split()[2].split(",")
        assert {"volatile", "fsync=volatile"} & set(options)
        (root / "new").write_text("kept in the upper dir")
    # the kernel marked the work dir; a mount refuses it until the next start clears it
    mark = cdir / "work" / "work" / "incompat" / "volatile"
    assert mark.is_dir()
    ops = image_store.rootfs_mounts(image.id, str(cdir), str(target), volatile=True)
    assert not mark.exists()
    with mounted(ops, target) as root:
        assert (root / "new").read_text() == "kept in the upper dir"
        assert (root / "a").read_bytes() == b"1"
    # a container that is kept is mounted as before, and its mark is not touched
    ops = image_store.rootfs_mounts(image.id, str(tmp_path / "kept"), str(target))
    assert ops[0].data is not None and "volatile" not in ops[0].data.split(",")
