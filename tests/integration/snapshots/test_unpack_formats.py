"""What GNU tar writes (gnu and pax formats, sparse files, long names) unpacks as the tree it read.

The lean tar reader and the extraction on the real filesystem, checked
against the source tree that GNU tar archived; plus the names that reach the
extractor through PAX and GNU long-name headers meet the same traversal checks.
"""

from __future__ import annotations

import io
import os
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest

from berth.errors import CorruptContent
from berth.kernel.syscalls import SYSCALLS
from berth.snapshots.apply import apply_layer
from berth.snapshots.store import FS_IOC_GETFLAGS, FS_TOPDIR_FL, Snapshotter, spread_hint

NS = 1_600_000_000_123_456_789


def make_tree(src: Path) -> None:
    src.mkdir()
    os.chmod(src, 0o755)
    (src / "d" / "sub").mkdir(parents=True)
    os.chmod(src / "d", 0o750)
    os.chown(src / "d", 5, 6)
    os.chmod(src / "d" / "sub", 0o2775)
    (src / "d" / "f").write_bytes(os.urandom(70_000))
    os.chown(src / "d" / "f", 1000, 1001)
    os.chmod(src / "d" / "f", 0o640)
    os.link(src / "d" / "f", src / "d" / "hard")
    (src / "bin").mkdir()
    (src / "bin" / "su").write_bytes(b"\x7fELF")
    os.chmod(src / "bin" / "su", 0o4755)
    os.symlink("../bin/su", src / "d" / "link")
    os.mkfifo(src / "fifo", 0o600)
    os.mknod(src / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    long_dir = src / ("l" * 150)
    long_dir.mkdir()
    (long_dir / ("m" * 200)).write_bytes(b"long")
    os.symlink("t" * 180, long_dir / "longlink")
    with open(src / "sparse", "wb") as f:
        f.truncate(8 << 20)
        f.seek(3 << 20)
        f.write(b"data in the middle" * 100)
    os.setxattr(src / "bin" / "su", "user.berth", b"\x00\xffvalue")
    os.utime(src / "d" / "f", ns=(NS + 7, NS))
    for p in (src / "d" / "sub", src / "d", src):  # directories last: children changed them
        os.utime(p, ns=(NS, NS - 1000))


def snapshot(root: Path) -> dict[str, tuple[object, ...]]:
    out: dict[str, tuple[object, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in ["", *dirnames, *filenames]:
            p = os.path.join(dirpath, name) if name else dirpath
            rel = os.path.relpath(p, root)
            if rel in out:
                continue
            st = os.lstat(p)
            content: object = None
            if stat.S_ISREG(st.st_mode):
                content = Path(p).read_bytes()
            elif stat.S_ISLNK(st.st_mode):
                content = os.readlink(p)
            out[rel] = (
                stat.S_IFMT(st.st_mode),
                stat.S_IMODE(st.st_mode),
                st.st_uid,
                st.st_gid,
                st.st_rdev,
                st.st_size,
                st.st_mtime_ns,
                content,
            )
    return out


@pytest.mark.parametrize("fmt", ["gnu", "pax"])
def test_gnu_tar_archives_unpack_to_the_same_tree(tmp_path: Path, fmt: str) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    make_tree(src)
    archive = tmp_path / "layer.tar"
    extra = ["--xattrs", "--xattrs-include=user.*"] if fmt == "pax" else []
    cmd = ["tar", f"--format={fmt}", "--sparse", "--numeric-owner", *extra, "-cf", str(archive)]
    subprocess.run([*cmd, "-C", str(src), "."], check=True)
    dest.mkdir()
    with open(archive, "rb") as f:
        result = apply_layer(f, str(dest), SYSCALLS, "gnu tar layer")
    assert result.entries == len(snapshot(src))  # one entry per path, "./" included
    want, got = snapshot(src), snapshot(dest)
    assert sorted(got) == sorted(want)
    for rel, attrs in want.items():
        if fmt == "gnu":  # whole seconds only
            attrs = (*attrs[:6], attrs[6] // 10**9 * 10**9, attrs[7])  # type: ignore[operator]
        if stat.S_ISLNK(attrs[0]):  # type: ignore[arg-type]
            attrs = (*attrs[:6], got[rel][6], attrs[7])  # symlink mtimes: not compared
        assert got[rel] == attrs, rel
    assert os.stat(dest / "d" / "hard").st_ino == os.stat(dest / "d" / "f").st_ino
    assert os.stat(dest / "sparse").st_blocks * 512 < 1 << 20, "the holes were written out"
    if fmt == "pax":
        assert os.getxattr(dest / "bin" / "su", "user.berth") == b"\x00\xffvalue"


def test_pax_atime_is_kept_to_the_nanosecond(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        info = tarfile.TarInfo("f")
        info.pax_headers = {"mtime": "1600000000.123456789", "atime": "1600000001.000000001"}
        tf.addfile(info)
    apply_layer(io.BytesIO(buf.getvalue()), str(tmp_path), SYSCALLS)
    st = os.lstat(tmp_path / "f")
    assert (st.st_atime_ns, st.st_mtime_ns) == (1_600_000_001_000_000_001, NS)


def _pax_member(name: str, linkname: str = "", kind: bytes = tarfile.REGTYPE) -> bytes:
    info = tarfile.TarInfo("placeholder")
    info.type = kind
    info.pax_headers = {"path": name, **({"linkpath": linkname} if linkname else {})}
    return info.tobuf(tarfile.PAX_FORMAT)


@pytest.mark.parametrize(
    "member",
    [
        _pax_member("../../escape-pax"),
        _pax_member("h", "../../escape-pax", tarfile.LNKTYPE),
        tarfile.TarInfo("a/" + "../" * 3 + "x" * 120).tobuf(tarfile.GNU_FORMAT),  # GNU long name
    ],
)
def test_names_from_extended_headers_cannot_break_out(tmp_path: Path, member: bytes) -> None:
    snaps = Snapshotter(str(tmp_path / "snapshots"))
    with pytest.raises(CorruptContent, match="breaks out"):
        snaps.unpack("sha256:" + "3" * 64, io.BytesIO(member + bytes(1024)), "evil layer")
    assert os.listdir(snaps.root) == []
    assert not list(tmp_path.rglob("escape-pax")) and not list(tmp_path.rglob("x" * 120))


def test_a_broken_header_rejects_the_layer_whole(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name in ("first", "second"):
            info = tarfile.TarInfo(name)
            info.size = 3
            tf.addfile(info, io.BytesIO(b"abc"))
    raw = bytearray(buf.getvalue())
    raw[1024 + 100] ^= 0x01  # the second header's mode field: the checksum fails
    snaps = Snapshotter(str(tmp_path / "snapshots"))
    with pytest.raises(CorruptContent, match="bad header checksum"):
        snaps.unpack("sha256:" + "4" * 64, io.BytesIO(bytes(raw)), "layer")
    assert os.listdir(snaps.root) == []


def test_the_snapshots_root_is_a_top_directory(tmp_path: Path) -> None:
    import fcntl
    import struct

    snaps = Snapshotter(str(tmp_path / "snapshots"))
    if not spread_hint(snaps.root):
        pytest.skip("this filesystem has no FS_TOPDIR_FL")
    fd = os.open(snaps.root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        buf = bytearray(4)
        fcntl.ioctl(fd, FS_IOC_GETFLAGS, buf)
    finally:
        os.close(fd)
    assert struct.unpack("=I", buf)[0] & FS_TOPDIR_FL
