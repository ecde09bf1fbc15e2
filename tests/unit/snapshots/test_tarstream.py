"""The lean tar reader agrees with tarfile on what it reads, and rejects broken input cleanly."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from berth.errors import CorruptContent
from berth.snapshots import tarstream as ts

KINDS = {
    tarfile.REGTYPE: ts.REG,
    tarfile.DIRTYPE: ts.DIR,
    tarfile.SYMTYPE: ts.SYM,
    tarfile.LNKTYPE: ts.LNK,
    tarfile.CHRTYPE: ts.CHR,
    tarfile.BLKTYPE: ts.BLK,
    tarfile.FIFOTYPE: ts.FIFO,
}


class Chunked:
    """A source that returns the stream in the given read sizes (cycled)."""

    def __init__(self, data: bytes, sizes: list[int]) -> None:
        self.data = data
        self.sizes = sizes or [1 << 20]
        self.pos = 0
        self.i = 0

    def read(self, n: int = -1) -> bytes:
        step = self.sizes[self.i % len(self.sizes)]
        self.i += 1
        out = self.data[self.pos : self.pos + min(n, step)]
        self.pos += len(out)
        return out


def read_all(data: bytes, sizes: list[int] | None = None) -> list[tuple[ts.Entry, bytes]]:
    reader = ts.TarReader(Chunked(data, sizes or []), "test layer")
    return [(e, b"".join(bytes(p) for p in reader.data(e))) for e in reader]


def expand(e: ts.Entry, stored: bytes) -> bytes:
    """A sparse entry's whole content (holes as zeros)."""
    if e.sparse is None:
        return stored
    out = bytearray(e.realsize)
    pos = 0
    for offset, length in e.sparse:
        out[offset : offset + length] = stored[pos : pos + length]
        pos += length
    return bytes(out)


def assert_same_as_tarfile(data: bytes, sizes: list[int] | None = None) -> None:
    ours = read_all(data, sizes)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tf:
        theirs = [(m, tf.extractfile(m).read() if m.isreg() else b"") for m in tf]  # type: ignore[union-attr]
    assert len(ours) == len(theirs)
    for (e, stored), (m, content) in zip(ours, theirs, strict=True):
        assert e.kind == KINDS[m.type if m.type != tarfile.GNUTYPE_SPARSE else tarfile.REGTYPE]
        assert e.name.rstrip("/") == m.name.rstrip("/")
        assert (e.mode, e.uid, e.gid) == (m.mode, m.uid, m.gid)
        assert e.mtime_ns // 1_000_000_000 == int(m.mtime)
        assert e.linkname == m.linkname
        if m.ischr() or m.isblk():
            assert (e.devmajor, e.devminor) == (m.devmajor, m.devminor)
        if m.isreg():
            assert expand(e, stored) == content
            assert e.realsize == m.size
        xattrs = {
            k[len("SCHILY.xattr.") :]: v.encode("utf-8", "surrogateescape")
            for k, v in m.pax_headers.items()
            if k.startswith("SCHILY.xattr.")
        }
        assert dict(e.xattrs) == xattrs


names = st.lists(
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\0/"),
        min_size=1,
        max_size=60,
    ),
    min_size=1,
    max_size=4,
).map("/".join)


@st.composite
def members(draw: st.DrawFn, fmt: int) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(draw(names))
    info.type = draw(st.sampled_from(sorted(KINDS)))
    limit = 0o7777777 if fmt == tarfile.USTAR_FORMAT else 1 << 40
    info.mode = draw(st.integers(0, 0o7777))
    info.uid = draw(st.integers(0, limit))
    info.gid = draw(st.integers(0, limit))
    info.mtime = draw(st.integers(0, 0o77777777777 if fmt == tarfile.USTAR_FORMAT else 1 << 36))
    if info.type in (tarfile.SYMTYPE, tarfile.LNKTYPE):
        info.linkname = draw(names)
    if info.type in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        info.devmajor = draw(st.integers(0, 0o7777777))
        info.devminor = draw(st.integers(0, 0o7777777))
    data = b""
    if info.type == tarfile.REGTYPE:
        data = draw(st.binary(max_size=3000))
        info.size = len(data)
    if fmt == tarfile.PAX_FORMAT and draw(st.booleans()):
        info.pax_headers = {
            "SCHILY.xattr.user." + draw(st.text("abcxyz", min_size=1, max_size=8)): draw(
                st.text(max_size=20).filter(lambda v: "\0" not in v)
            )
        }
    return info, data


@st.composite
def archives(draw: st.DrawFn) -> bytes:
    fmt = draw(st.sampled_from([tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT]))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for info, data in draw(st.lists(members(fmt), max_size=8)):
            try:
                tf.addfile(info, io.BytesIO(data))
            except ValueError:  # a name or number this format cannot hold
                assume(False)
    return buf.getvalue()


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(archives(), st.lists(st.integers(1, 1500), max_size=5))
def test_reads_what_tarfile_reads(data: bytes, sizes: list[int]) -> None:
    assert_same_as_tarfile(data, sizes)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(archives(), st.data())
def test_damage_gives_corrupt_content_or_a_clean_prefix(data: bytes, draw: st.DataObject) -> None:
    """Truncated or flipped bytes never escape as another exception type."""
    damaged = bytearray(data)
    if draw.draw(st.booleans()) and data:
        damaged = damaged[: draw.draw(st.integers(0, len(data) - 1))]
    else:
        for _ in range(draw.draw(st.integers(1, 4))):
            if damaged:
                i = draw.draw(st.integers(0, len(damaged) - 1))
                damaged[i] = draw.draw(st.integers(0, 255))
    try:
        read_all(bytes(damaged), [draw.draw(st.integers(1, 4096))])
    except CorruptContent:
        pass


def test_long_names_and_links_in_all_formats() -> None:
    long = "d" * 120 + "/" + "n" * 150
    for fmt in (tarfile.GNU_FORMAT, tarfile.PAX_FORMAT):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
            info = tarfile.TarInfo(long)
            info.type = tarfile.SYMTYPE
            info.linkname = "t" * 300
            tf.addfile(info)
        ((e, _),) = read_all(buf.getvalue())
        assert (e.name, e.linkname, e.kind) == (long, "t" * 300, ts.SYM)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        tf.addfile(tarfile.TarInfo("p" * 100 + "/" + "n" * 90))  # ustar prefix + name
    ((e, _),) = read_all(buf.getvalue())
    assert e.name == "p" * 100 + "/" + "n" * 90


def test_pax_times_are_exact_and_globals_apply() -> None:
    buf = io.BytesIO()
    globals_ = {"SCHILY.xattr.user.all": "g", "uid": "77"}
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT, pax_headers=globals_) as tf:
        info = tarfile.TarInfo("f")
        info.pax_headers = {"mtime": "1600000000.123456789", "atime": "-1.5"}
        tf.addfile(info)
    ((e, _),) = read_all(buf.getvalue())
    assert e.mtime_ns == 1_600_000_000_123_456_789
    assert e.atime_ns == -1_500_000_000
    assert e.uid == 77 and dict(e.xattrs) == {"user.all": b"g"}


def test_header_only_entries_carry_no_data_and_v7_dirs() -> None:
    hdr = tarfile.TarInfo("dir/")
    hdr.type = tarfile.AREGTYPE
    raw = bytearray(hdr.tobuf(tarfile.USTAR_FORMAT))
    link = tarfile.TarInfo("l")
    link.type = tarfile.SYMTYPE
    link.linkname = "x"
    link.size = 5  # a size on a symlink: no data follows (as in tarfile and Go)
    raw += link.tobuf(tarfile.GNU_FORMAT)
    raw += bytes(1024)
    (d, _), (s, _) = read_all(bytes(raw))
    assert d.kind == ts.DIR and s.kind == ts.SYM and s.size == 0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not a tar archive"),
        (b"x" * 2048, "not a tar archive"),
        (bytes(511), "truncated"),
    ],
)
def test_not_a_tar(data: bytes, message: str) -> None:
    with pytest.raises(CorruptContent, match=message):
        read_all(data)


def test_bad_header_later_is_an_error_not_the_end() -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name in ("a", "b"):
            tf.addfile(tarfile.TarInfo(name))
    raw = bytearray(buf.getvalue())
    raw[512 + 10] ^= 0x55  # the second header's name: its checksum no longer holds
    with pytest.raises(CorruptContent, match="bad header checksum at offset 512"):
        read_all(bytes(raw))


def test_truncated_data_names_the_entry() -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("big")
        info.size = 5000
        tf.addfile(info, io.BytesIO(b"z" * 5000))
    with pytest.raises(CorruptContent, match="truncated tar archive in 'big'"):
        read_all(buf.getvalue()[:3000])


@pytest.mark.parametrize(
    "records",
    [b"5 a=b\n", b"x a=b\n", b"8 ab\n\n\n\n", b"30 a=b\n", b"6 a=b\nZ"],
)
def test_bad_pax_records(records: bytes) -> None:
    with pytest.raises(CorruptContent, match="PAX"):
        ts.parse_pax(records)


def test_pax_records_keep_order_and_equals_in_values() -> None:
    assert ts.parse_pax(b"11 a=b=c=d\n8 k=v v\n") == [(b"a", b"b=c=d"), (b"k", b"v v")]


def test_base256_numbers() -> None:
    assert ts._number(b"\x80" + (1 << 40).to_bytes(11, "big")) == 1 << 40
    assert ts._number(b"\xff" * 12) == -1
    assert ts._number(b"0000644\0") == 0o644
    assert ts._number(b"       \0") == 0
    with pytest.raises(ValueError):
        ts._number(b"-000001\0")


@pytest.mark.skipif(not shutil.which("tar"), reason="GNU tar makes the sparse archives")
@pytest.mark.parametrize("version", ["gnu", "0.0", "0.1", "1.0"])
def test_gnu_sparse_files(tmp_path: Path, version: str) -> None:
    src = tmp_path / "src"
    src.mkdir()
    with open(src / "sparse", "wb") as f:
        f.truncate(5 << 20)
        f.seek(1 << 20)
        f.write(b"middle" * 1000)
        f.seek((5 << 20) - 3)
        f.write(b"end")
    (src / "plain").write_bytes(b"after the sparse one")
    fmt = ["--format=gnu"] if version == "gnu" else ["--format=pax", f"--sparse-version={version}"]
    out = tmp_path / "s.tar"
    subprocess.run(
        ["tar", "--sparse", *fmt, "-cf", str(out), "-C", str(src), "sparse", "plain"], check=True
    )
    data = out.read_bytes()
    assert_same_as_tarfile(data, [4096, 700])
    (e, stored), (p, plain) = read_all(data)
    assert e.name == "sparse" and e.sparse and e.realsize == 5 << 20
    assert expand(e, stored) == (src / "sparse").read_bytes()
    assert (p.name, plain) == ("plain", b"after the sparse one")
    os.unlink(out)
