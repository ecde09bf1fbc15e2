"""Random hostile layers: extraction raises nothing but CorruptContent and never writes outside.

Entries are drawn from names that climb (``..``, absolute), symlinks that
point out of the root or at the host, hard links, whiteouts, replacements of
one kind by another, odd ids and NULs in PAX names; each archive is applied
to a fresh root beside a directory that stands for the host.
"""

from __future__ import annotations

import io
import os
import shutil
import tarfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from berth.errors import CorruptContent
from berth.kernel.syscalls import SYSCALLS
from berth.snapshots.apply import apply_layer

NAMES = [
    "a",
    "a/b",
    "a/b/c",
    "b",
    "../x",
    "a/../../y",
    "/abs",
    "./a/./b",
    "host/planted",
    "a/.wh.b",
    ".wh.a",
    "a/.wh..wh..opq",
    "link/z",
]
KINDS = [
    tarfile.REGTYPE,
    tarfile.DIRTYPE,
    tarfile.SYMTYPE,
    tarfile.LNKTYPE,
    tarfile.FIFOTYPE,
    tarfile.CHRTYPE,
]


def entries(outside: str) -> st.SearchStrategy[list[tarfile.TarInfo]]:
    targets = st.sampled_from(["/", "..", "../..", "a", "a/b", "/etc", outside, "link", "x"])

    @st.composite
    def one(draw: st.DrawFn) -> tarfile.TarInfo:
        info = tarfile.TarInfo(draw(st.sampled_from(NAMES)))
        info.type = draw(st.sampled_from(KINDS))
        info.mode = draw(st.sampled_from([0o644, 0o4755, 0o000, 0o7777]))
        info.uid = draw(st.sampled_from([0, 1000, 2**32 + 5]))
        if info.type in (tarfile.SYMTYPE, tarfile.LNKTYPE):
            info.linkname = draw(targets)
        if info.type == tarfile.CHRTYPE:
            info.devmajor, info.devminor = 1, 3
        if info.type == tarfile.REGTYPE:
            info.size = draw(st.integers(0, 2000))
        if draw(st.integers(0, 9)) == 0:
            info.pax_headers = {"path": info.name + "\0../evil"}
        return info

    return st.lists(one(), min_size=1, max_size=12)


def archive(members: list[tarfile.TarInfo]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for info in members:
            tf.addfile(info, io.BytesIO(b"d" * info.size) if info.isreg() else None)
    return buf.getvalue()


def test_random_hostile_layers(tmp_path: Path) -> None:
    box = tmp_path / "box"
    outside = box / "outside"

    @settings(
        max_examples=120,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(st.data())
    def check(data: st.DataObject) -> None:
        shutil.rmtree(box, ignore_errors=True)
        outside.mkdir(parents=True)
        (outside / "secret").write_text("host")
        root = box / "root"
        root.mkdir()
        os.symlink(str(outside), root / "host")  # as if an earlier entry had made it
        members = data.draw(entries(str(outside)))
        try:
            apply_layer(io.BytesIO(archive(members)), str(root), SYSCALLS, "fuzz")
        except CorruptContent:
            pass
        assert sorted(os.listdir(box)) == ["outside", "root"]
        assert os.listdir(outside) == ["secret"]
        assert (outside / "secret").read_text() == "host"
        assert os.stat(outside / "secret").st_nlink == 1
        assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()

    try:
        check()
    finally:
        shutil.rmtree(box, ignore_errors=True)
