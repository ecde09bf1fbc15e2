"""ISA-L and zlib inflate the same bytes and reject the same damage with the same errors."""

from __future__ import annotations

import gzip
import io
import os
import zlib

import pytest

from berth.content import stream
from berth.content.stream import CountingHasher, Decompressor, Prefetch
from berth.errors import CorruptContent
from berth.oci.digest import Digest

DATA = os.urandom(1 << 20) + b"layer" * 300_000
BACKENDS = ["isal", "zlib"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "isal":
        from isal import isal_zlib

        monkeypatch.setattr(stream, "_GZIP", (isal_zlib, (isal_zlib.error, zlib.error)))
    else:
        monkeypatch.setattr(stream, "_GZIP", (zlib, (zlib.error,)))
    return str(request.param)


def inflate(raw: bytes) -> bytes:
    out = []
    d = Decompressor(io.BytesIO(raw), "gzip", "test layer")
    while chunk := d.read(100_000):
        out.append(chunk)
    return b"".join(out)


def test_isal_is_the_default() -> None:
    module, _ = stream._gzip_module()
    assert getattr(module, "__name__", "") == "isal.isal_zlib"


def test_same_bytes_multi_member(backend: str) -> None:
    raw = gzip.compress(DATA[:12345]) + gzip.compress(DATA[12345:])
    assert inflate(raw) == DATA


@pytest.mark.parametrize(("where", "message"), [(-8, "broken gzip"), (-3, "broken gzip")])
def test_bad_trailer_is_rejected(backend: str, where: int, message: str) -> None:
    raw = bytearray(gzip.compress(DATA))
    raw[where] ^= 0xFF  # the CRC-32 or the length of the member
    with pytest.raises(CorruptContent, match=message):
        inflate(bytes(raw))


def test_truncated_is_rejected(backend: str) -> None:
    with pytest.raises(CorruptContent, match="unexpected end of gzip"):
        inflate(gzip.compress(DATA)[:-20])


def test_error_crosses_the_prefetch_thread(backend: str) -> None:
    """A broken stream read through Prefetch raises in the consumer, and the helper stops."""
    raw = bytearray(gzip.compress(DATA))
    raw[len(raw) // 2] ^= 0xFF
    with Prefetch(Decompressor(io.BytesIO(bytes(raw)), "gzip", "test layer")) as ahead:
        counted = CountingHasher(ahead)
        with pytest.raises(CorruptContent, match="test layer: broken gzip"):
            counted.drain()
    assert not ahead.thread.is_alive()


def test_digest_of_the_inflated_stream(backend: str) -> None:
    with Prefetch(Decompressor(io.BytesIO(gzip.compress(DATA)), "gzip")) as ahead:
        counted = CountingHasher(ahead)
        counted.drain()
    assert counted.hasher.digest() == Digest.of(DATA)
