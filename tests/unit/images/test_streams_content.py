from __future__ import annotations

import gzip
import io
import os
from pathlib import Path

import pytest
import zstandard

from berth.content.store import ContentStore
from berth.content.stream import BlobTee, CountingHasher, Decompressor, sniff_compression
from berth.errors import CorruptContent, NotFound
from berth.oci.digest import Digest


def _read_all(r: object) -> bytes:
    out = b""
    while True:
        chunk = r.read(7777)  # type: ignore[attr-defined]
        if not chunk:
            return out
        out += chunk


DATA = os.urandom(3 << 20) + b"x" * (2 << 20)


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (gzip.compress(DATA[:100]) + gzip.compress(DATA[100:]), "gzip"),
        (zstandard.ZstdCompressor().compress(DATA), "zstd"),
        (DATA, "none"),
    ],
)
def test_decompress_all_kinds(raw: bytes, kind: str) -> None:
    assert sniff_compression(raw[:4]) == kind
    counted = CountingHasher(Decompressor(io.BytesIO(raw), kind))
    assert _read_all(counted) == DATA
    assert counted.hasher.digest() == Digest.of(DATA)


def test_truncated_gzip_is_an_error() -> None:
    raw = gzip.compress(DATA)[:-100]
    with pytest.raises(CorruptContent, match="unexpected end of gzip"):
        _read_all(Decompressor(io.BytesIO(raw), "gzip"))


def test_garbage_gzip_is_an_error() -> None:
    with pytest.raises(CorruptContent, match="broken gzip"):
        _read_all(Decompressor(io.BytesIO(b"\x1f\x8bnot really gzip" * 10), "gzip"))


def test_blob_written_only_when_verified(tmp_path: Path) -> None:
    store = ContentStore(str(tmp_path / "content"))
    good = Digest.of(b"hello")
    with store.writer() as w:
        BlobTee(io.BytesIO(b"hello"), w).read(100)
        w.commit(good, 5)
    assert store.read(good) == b"hello"
    bad = Digest.of(b"other")
    with pytest.raises(CorruptContent, match="digest mismatch"), store.writer() as w:
        w.write(b"hello!")
        w.commit(bad, 6)
    assert not store.exists(bad)
    assert os.listdir(store.ingest_dir) == []
    with pytest.raises(CorruptContent):
        store.write(b"abc", Digest.of(b"abd"))
    with pytest.raises(NotFound):
        store.read(bad)
    assert set(store.walk()) == {good}


def test_sweep_removes_ingest_of_dead_processes(tmp_path: Path) -> None:
    store = ContentStore(str(tmp_path / "content"))
    dead = os.path.join(store.ingest_dir, "999999999-abc")
    Path(dead).write_bytes(b"half")
    live = store.writer()
    assert store.sweep_ingest() == 1
    assert os.path.exists(live.path) and not os.path.exists(dead)
    live.abort()
    assert not os.path.exists(live.path)
