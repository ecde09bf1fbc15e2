"""Descriptor-level cp machinery on the real kernel: tar out and in, views in private mount
namespaces, copies of image content into volumes."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from berth.engine.containers import archive, fstree
from berth.engine.containers.fsview import Bind, MountNamespace, apply_view, plan_view
from berth.errors import Conflict, CorruptContent, NotFound
from berth.kernel.syscalls import SYSCALLS


def rootfd(path: Path) -> int:
    return os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)


def make_tree(root: Path) -> None:
    (root / "d" / "e").mkdir(parents=True)
    (root / "d" / "f").write_text("F")
    os.chown(root / "d" / "f", 1234, 5678)
    os.chmod(root / "d" / "f", 0o4751)
    os.link(root / "d" / "f", root / "d" / "hard")
    os.symlink("/etc/passwd", root / "d" / "abs")
    os.mkfifo(root / "d" / "fifo")
    os.mknod(root / "d" / "null", stat.S_IFCHR | 0o640, os.makedev(1, 3))
    os.setxattr(root / "d" / "f", "security.capability", b"\x01\x00\x00\x02" + b"\0" * 16)
    os.utime(root / "d" / "e", (1_000_000_000, 1_000_000_000))


def archive_of(root: Path, path: str) -> tuple[dict[str, object], bytes]:
    fd = rootfd(root)
    try:
        with fstree.resolve(SYSCALLS, fd, path, "c") as target:
            doc = fstree.path_stat(SYSCALLS, fd, target)
            out = io.BytesIO()
            archive.write_tree(out, target.parent, target.name, fstree.base_name(target.abs))
    finally:
        os.close(fd)
    return doc, out.getvalue()


def test_tar_out_names_types_and_attributes(tmp_path: Path) -> None:
    make_tree(tmp_path)
    doc, data = archive_of(tmp_path, "/d")
    assert doc["name"] == "d" and doc["mode"] == (1 << 31) | 0o755 and doc["linkTarget"] == ""
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        members = {m.name: m for m in tf.getmembers()}
    assert sorted(members) == ["d", "d/abs", "d/e", "d/f", "d/fifo", "d/hard", "d/null"]
    f = members["d/f"]
    assert (f.uid, f.gid, f.mode, f.size) == (1234, 5678, 0o4751, 1)
    assert "SCHILY.xattr.security.capability" in f.pax_headers
    assert members["d/hard"].islnk() and members["d/hard"].linkname == "d/f"
    assert members["d/abs"].issym() and members["d/abs"].linkname == "/etc/passwd"
    assert members["d/fifo"].isfifo() and members["d/null"].ischr()
    assert members["d/e"].mtime == 1_000_000_000
    _, content = archive_of(tmp_path, "/d/.")
    with tarfile.open(fileobj=io.BytesIO(content)) as tf:
        assert tf.getnames()[:2] == [".", "./abs"]
    doc, link = archive_of(tmp_path, "/d/abs")
    assert doc["linkTarget"] == "/etc/passwd" and doc["mode"] & (1 << 27)
    with tarfile.open(fileobj=io.BytesIO(link)) as tf:
        assert [m.name for m in tf.getmembers()] == ["abs"]
    with pytest.raises(NotFound, match="Could not find the file /nope in container c"):
        archive_of(tmp_path, "/nope")


def test_tar_in_round_trip_and_rules(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    dst.mkdir()
    make_tree(src)
    _, data = archive_of(src, "/d")
    fd = rootfd(dst)
    try:
        archive.Extractor(SYSCALLS, fd, "/").run(io.BytesIO(data))
        f = os.stat(dst / "d" / "f")
        assert (f.st_uid, f.st_gid, stat.S_IMODE(f.st_mode)) == (1234, 5678, 0o4751)
        assert os.stat(dst / "d" / "hard").st_ino == f.st_ino
        assert os.readlink(dst / "d" / "abs") == "/etc/passwd"
        assert stat.S_ISFIFO(os.lstat(dst / "d" / "fifo").st_mode)
        null = os.lstat(dst / "d" / "null")
        assert stat.S_ISCHR(null.st_mode) and null.st_rdev == os.makedev(1, 3)
        assert stat.S_IMODE(null.st_mode) == 0o640
        assert os.getxattr(dst / "d" / "f", "security.capability")[:4] == b"\x01\x00\x00\x02"
        assert os.stat(dst / "d" / "e").st_mtime == 1_000_000_000
        # cp -a: everything owned by the container's user
        (dst / "owned").mkdir()
        archive.Extractor(SYSCALLS, fd, "/owned", chown=(7, 8)).run(io.BytesIO(_tar({"x": b"1"})))
        owned = os.stat(dst / "owned" / "x")
        assert (owned.st_uid, owned.st_gid) == (7, 8)
        # noOverwriteDirNonDir: a file over a directory and a directory over a file are refused
        strict = archive.Extractor(SYSCALLS, fd, "/", no_overwrite_dir_non_dir=True)
        with pytest.raises(Conflict, match="cannot overwrite directory"):
            strict.run(io.BytesIO(_tar({"d/e": b"file"})))
        with pytest.raises(Conflict, match="cannot overwrite non-directory"):
            strict.run(io.BytesIO(_tar({"d/f": None})))
        archive.Extractor(SYSCALLS, fd, "/").run(io.BytesIO(_tar({"d/e": b"now a file"})))
        assert (dst / "d" / "e").read_text() == "now a file"
        # names climbing out and hard links out of the target are refused
        for bad in ({"../x": b"1"}, {"a/../../x": b"1"}):
            with pytest.raises(CorruptContent, match="breaks out"):
                archive.Extractor(SYSCALLS, fd, "/d").run(io.BytesIO(_tar(bad)))
        # a symlink in the destination resolves inside the root, like a chroot
        os.symlink("/", dst / "d" / "toroot")
        archive.Extractor(SYSCALLS, fd, "/d").run(io.BytesIO(_tar({"toroot/inroot": b"r"})))
        assert (dst / "inroot").read_text() == "r"
    finally:
        os.close(fd)


def _tar(files: dict[str, bytes | None]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                tf.addfile(info)
            else:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_views_live_only_in_their_namespace(tmp_path: Path) -> None:
    """An overlay view with binds: seen inside the worker's namespace, never on the host."""
    lower, cdir, scratch, vol = (tmp_path / n for n in ("lower", "c", "scratch", "vol"))
    for d in (lower / "etc", cdir / "upper", cdir / "work", scratch, vol):
        d.mkdir(parents=True)
    (lower / "etc" / "os").write_text("image\n")
    (cdir / "upper" / "changed").write_text("container\n")
    (vol / "v").write_text("volume\n")
    plan = plan_view(
        str(scratch),
        str(cdir),
        [str(lower)],
        binds=[Bind("/data", str(vol)), Bind("/ro", str(vol), rw=False)],
    )
    with open("/proc/self/mountinfo") as f:
        before = f.read()

    def look() -> tuple[list[str], str, bool]:
        root = apply_view(SYSCALLS, plan)
        names = sorted(os.listdir(root))
        data = Path(root, "data", "v").read_text()
        try:
            Path(root, "ro", "w").write_text("x")
            writable = True
        except OSError:
            writable = False
        return names, data, writable

    with MountNamespace(SYSCALLS) as ns:
        names, data, writable = ns.call(look)
        with open("/proc/self/mountinfo") as f:
            assert f.read() == before  # nothing of it on the host
    assert names == ["changed", "data", "etc", "ro"] and data == "volume\n" and not writable
    assert sorted(os.listdir(cdir / "upper")) == ["changed"]  # a read view writes nothing there
    assert os.listdir(scratch) == []


def test_copy_tree_keeps_what_matters(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    dst.mkdir()
    make_tree(src)
    os.chown(src / "d", 42, 43)
    s = os.open(src / "d", os.O_RDONLY | os.O_DIRECTORY)
    d = os.open(dst, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fstree.copy_tree(s, d)
    finally:
        os.close(s)
        os.close(d)
    assert (os.stat(dst).st_uid, os.stat(dst).st_gid) == (42, 43)
    f = os.stat(dst / "f")
    assert (f.st_uid, stat.S_IMODE(f.st_mode)) == (1234, 0o4751)
    assert os.stat(dst / "hard").st_ino == f.st_ino
    assert os.readlink(dst / "abs") == "/etc/passwd"
    assert stat.S_ISCHR(os.lstat(dst / "null").st_mode)
    assert os.stat(dst / "e").st_mtime == 1_000_000_000
