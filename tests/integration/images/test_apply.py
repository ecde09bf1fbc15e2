"""Layer unpack on the real filesystem: attributes, whiteouts, and hostile layers."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from berth.errors import CorruptContent
from berth.kernel.syscalls import SYSCALLS
from berth.snapshots.apply import apply_layer
from berth.snapshots.store import Snapshotter
from support.images_layers import entry, make_tar

D, F, S, L = tarfile.DIRTYPE, tarfile.REGTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE


def unpack(tmp_path: Path, entries: list[tuple]) -> Path:
    root = tmp_path / "root"
    root.mkdir()
    apply_layer(io.BytesIO(make_tar(entries)), str(root), SYSCALLS)
    return root


def test_attributes_are_preserved(tmp_path: Path) -> None:
    root = unpack(
        tmp_path,
        [
            entry("etc/", D, mode=0o750, uid=5, gid=6, mtime=1_500_000_000),
            entry("etc/passwd", F, b"root:x:0:0\n", mode=0o644),
            entry("bin/su", F, b"\x7fELF", mode=0o4755, uid=0, gid=0),
            entry("bin/grp", F, b"g", mode=0o2711, uid=7, gid=8),
            entry("tmp/", D, mode=0o1777),
            entry("bin/sh", S, linkname="/bin/busybox"),
            entry("bin/hard", L, linkname="bin/su"),
            entry("dev/null", tarfile.CHRTYPE, mode=0o666, devmajor=1, devminor=3),
            entry("dev/loop0", tarfile.BLKTYPE, mode=0o660, devmajor=7, devminor=0),
            entry("run/fifo", tarfile.FIFOTYPE, mode=0o600),
            entry(
                "x",
                F,
                b"x",
                pax={
                    "SCHILY.xattr.user.test": "v",
                    "SCHILY.xattr.trusted.overlay.redirect": "/etc",
                },
            ),
        ],
    )
    st = os.stat(root / "etc")
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o750, 5, 6)
    assert int(st.st_mtime) == 1_500_000_000  # set after its children were written
    assert stat.S_IMODE(os.stat(root / "bin/su").st_mode) == 0o4755
    g = os.stat(root / "bin/grp")
    assert (stat.S_IMODE(g.st_mode), g.st_uid, g.st_gid) == (0o2711, 7, 8)
    assert stat.S_IMODE(os.stat(root / "tmp").st_mode) == 0o1777
    assert os.readlink(root / "bin/sh") == "/bin/busybox"
    assert os.stat(root / "bin/hard").st_ino == os.stat(root / "bin/su").st_ino
    null = os.stat(root / "dev/null")
    assert (
        stat.S_ISCHR(null.st_mode) and os.major(null.st_rdev) == 1 and os.minor(null.st_rdev) == 3
    )
    assert stat.S_ISBLK(os.stat(root / "dev/loop0").st_mode)
    assert stat.S_ISFIFO(os.stat(root / "run/fifo").st_mode)
    assert os.getxattr(root / "x", "user.test") == b"v"
    assert "trusted.overlay.redirect" not in os.listxattr(root / "x")
    assert int(os.stat(root / "etc/passwd").st_mtime) == 1_600_000_000


def test_whiteouts_become_overlay_whiteouts(tmp_path: Path) -> None:
    root = unpack(
        tmp_path,
        [
            entry("a/", D),
            entry("a/.wh.gone", F),
            entry("opq/", D),
            entry("opq/.wh..wh..opq", F),
            entry("opq/new", F, b"n"),
            entry(".wh.toplevel", F),
        ],
    )
    for p in ("a/gone", "toplevel"):
        st = os.lstat(root / p)
        assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert not (root / "a/.wh.gone").exists()
    assert os.getxattr(root / "opq", "trusted.overlay.opaque") == b"y"
    assert (root / "opq/new").read_bytes() == b"n"


def test_later_entries_replace_earlier_ones(tmp_path: Path) -> None:
    root = unpack(
        tmp_path,
        [
            entry("d/", D),
            entry("d/f", F, b"1"),
            entry("d", S, linkname="/elsewhere"),  # a dir replaced by a symlink
            entry("f", S, linkname="/etc/passwd"),
            entry("f", F, b"plain"),  # a symlink replaced by a file: no write through it
        ],
    )
    assert os.readlink(root / "d") == "/elsewhere"
    assert (root / "f").read_bytes() == b"plain" and not (root / "f").is_symlink()


HOSTILE = {
    "dotdot": [entry("../escape", F, b"x")],
    "nested-dotdot": [entry("a/", D), entry("a/../../escape", F, b"x")],
    "hardlink-out": [entry("h", L, linkname="../../escape")],
    "hardlink-dotdot-nested": [entry("a/", D), entry("a/h", L, linkname="a/../../x")],
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_breakouts_are_rejected_whole(tmp_path: Path, name: str) -> None:
    snaps = Snapshotter(str(tmp_path / "snapshots"))
    tar = make_tar([entry("ok", F, b"fine"), *HOSTILE[name]])
    with pytest.raises(CorruptContent, match=r"breaks out|cannot unpack"):
        snaps.unpack("sha256:" + "1" * 64, io.BytesIO(tar), "evil layer")
    assert os.listdir(snaps.root) == []  # nothing kept, not even the part that applied
    assert not (tmp_path / "escape").exists() and not (tmp_path.parent / "escape").exists()


def test_links_cannot_lead_outside(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("host")
    root = unpack(
        tmp_path,
        [
            entry("inside/", D),
            entry("abs", S, linkname="/inside"),  # absolute symlink: resolved in the root
            entry("abs/planted", F, b"x"),
            entry("rel", S, linkname="../../../../../.."),  # climbs no higher than the root
            entry("rel/planted2", F, b"y"),
            entry("/absolute-name", F, b"z"),  # absolute names are relative to the root
        ],
    )
    assert (root / "inside/planted").read_bytes() == b"x"
    assert (root / "planted2").read_bytes() == b"y"
    assert (root / "absolute-name").read_bytes() == b"z"
    tricks = [
        # a symlink to a host directory, then a file through it
        [entry("host", S, linkname=str(outside)), entry("host/planted", F, b"x")],
        # a hard link through a symlink to the host
        [entry("host2", S, linkname=str(outside)), entry("h", L, linkname="host2/secret")],
        # a hard link whose target climbs out
        [entry("h2", L, linkname="../outside/secret")],
    ]
    for n, trick in enumerate(tricks):
        target = tmp_path / f"t{n}"
        target.mkdir()
        with pytest.raises(CorruptContent):
            apply_layer(io.BytesIO(make_tar(trick)), str(target), SYSCALLS, "evil")
    assert sorted(os.listdir(outside)) == ["secret"]
    assert (outside / "secret").stat().st_nlink == 1
    assert (outside / "secret").read_text() == "host"


def test_truncated_tar_is_rejected(tmp_path: Path) -> None:
    snaps = Snapshotter(str(tmp_path / "snapshots"))
    tar = make_tar([entry("big", F, os.urandom(100_000))])[:50_000]
    with pytest.raises(CorruptContent):
        snaps.unpack("sha256:" + "2" * 64, io.BytesIO(tar), "short layer")
    assert os.listdir(snaps.root) == []


def test_bad_whiteout_name_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(CorruptContent, match="names nothing"):
        unpack(tmp_path, [entry("a/", D), entry("a/.wh...", F)])


def test_names_reached_through_symlinks_replace_what_is_there(tmp_path: Path) -> None:
    root = unpack(
        tmp_path,
        [
            entry("c/", D),
            entry("c/b", F, b"old"),
            entry("c/s", S, linkname="x"),
            entry("c/d/", D),
            entry("a", S, linkname="c"),
            entry("a/b", F, b"new", mode=0o666),  # O_EXCL fails: replaced after a look
            entry("a/s", S, linkname="y"),
            entry("a/d", L, linkname="c/b"),  # a hard link over a directory
        ],
    )
    assert (root / "c/b").read_bytes() == b"new"
    assert stat.S_IMODE(os.stat(root / "c/b").st_mode) == 0o666  # not masked by the umask
    assert os.readlink(root / "c/s") == "y"
    assert os.stat(root / "c/d").st_ino == os.stat(root / "c/b").st_ino


def test_setgid_directories_do_not_leak_their_group(tmp_path: Path) -> None:
    root = unpack(
        tmp_path,
        [
            entry("shared/", D, mode=0o2775, gid=50),
            entry("shared/f", F, b"x", uid=0, gid=0),
            entry("shared/l", S, linkname="f", uid=0, gid=0),
        ],
    )
    assert os.stat(root / "shared").st_gid == 50
    assert os.stat(root / "shared/f").st_gid == 0
    assert os.lstat(root / "shared/l").st_gid == 0
