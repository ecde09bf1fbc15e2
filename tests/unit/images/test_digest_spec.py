from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.errors import CorruptContent, InvalidArgument
from berth.images.pull import choose_manifest, parse_platform
from berth.oci import image_spec as spec
from berth.oci.digest import Digest, Hasher, chain_ids


def test_digest_parse_and_parts() -> None:
    d = Digest.parse("sha256:" + "0a" * 32)
    assert (d.algorithm, d.hex, d.short) == ("sha256", "0a" * 32, "0a0a0a0a0a0a")
    for bad in ("sha256:abc", "md5:" + "0" * 32, "sha256:" + "A" * 64, "nothing"):
        with pytest.raises(InvalidArgument):
            Digest.parse(bad)


def test_chain_ids_follow_the_spec() -> None:
    a, b = "sha256:" + "1" * 64, "sha256:" + "2" * 64
    want = "sha256:" + hashlib.sha256(f"{a} {b}".encode()).hexdigest()
    assert chain_ids([a, b]) == [a, want]
    assert chain_ids([]) == []


@given(st.lists(st.binary(max_size=300), max_size=6))
def test_hasher_matches_hashlib_over_chunks(chunks: list[bytes]) -> None:
    h = Hasher()
    for c in chunks:
        h.update(c)
    data = b"".join(chunks)
    assert h.size == len(data)
    assert h.verify("sha256:" + hashlib.sha256(data).hexdigest(), len(data)) == h.digest()


def test_hasher_reports_size_then_digest_mismatch() -> None:
    h = Hasher()
    h.update(b"abc")
    with pytest.raises(CorruptContent, match="size mismatch"):
        h.verify(Digest.of(b"abc"), 4)
    with pytest.raises(CorruptContent, match="digest mismatch"):
        h.verify(Digest.of(b"abd"), 3)


def test_manifest_index_and_schema1() -> None:
    m = spec.parse_manifest_or_index(
        json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": spec.DOCKER_MANIFEST,
                "config": {
                    "mediaType": spec.DOCKER_CONFIG,
                    "digest": "sha256:" + "1" * 64,
                    "size": 3,
                },
                "layers": [],
            }
        ).encode()
    )
    assert isinstance(m, spec.Manifest) and m.config.size == 3
    i = spec.parse_manifest_or_index(b'{"schemaVersion": 2, "manifests": []}', spec.OCI_INDEX)
    assert isinstance(i, spec.Index)
    with pytest.raises(InvalidArgument, match="schema 1"):
        spec.parse_manifest_or_index(b'{"schemaVersion": 1, "name": "x"}')
    with pytest.raises(InvalidArgument, match="unsupported media type"):
        spec.parse_manifest_or_index(b'{"schemaVersion": 2, "mediaType": "text/plain"}')


def test_layer_compression() -> None:
    assert spec.layer_compression(spec.DOCKER_LAYER) == "gzip"
    assert spec.layer_compression(spec.OCI_LAYER_ZSTD) == "zstd"
    assert spec.layer_compression(spec.OCI_LAYER) == "none"
    with pytest.raises(InvalidArgument):
        spec.layer_compression("application/x-whatever")


def test_image_config_keys_round_trip() -> None:
    doc = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": ["A=1"], "Cmd": ["sh"], "ExposedPorts": {"80/tcp": {}}, "X-New": 1},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "1" * 64]},
        "history": [{"created_by": "x", "empty_layer": True}],
    }
    c = spec.ImageConfig.from_json(doc)
    assert c.config is not None and c.config.env == ("A=1",)
    assert c.history is not None and c.history[0].empty_layer is True
    assert c.to_json() == doc


def _index(*platforms: tuple[str, str, str | None]) -> spec.Index:
    return spec.Index(
        schema_version=2,
        manifests=tuple(
            spec.Descriptor(
                media_type=spec.OCI_MANIFEST,
                digest="sha256:" + str(n) * 64,
                size=1,
                platform=spec.Platform(os=o, architecture=a, variant=v),
            )
            for n, (o, a, v) in enumerate(platforms, 1)
        ),
    )


def test_choose_manifest_by_platform() -> None:
    idx = _index(("linux", "arm", "v7"), ("linux", "amd64", None), ("linux", "arm64", "v8"))
    assert choose_manifest(idx, parse_platform("linux/amd64")).digest.endswith("2" * 64)
    assert choose_manifest(idx, parse_platform("linux/arm64/v8")).digest.endswith("3" * 64)
    assert choose_manifest(idx, parse_platform("linux/arm/v7")).digest.endswith("1" * 64)
    with pytest.raises(Exception, match="no matching manifest for linux/s390x"):
        choose_manifest(idx, parse_platform("linux/s390x"))
    with pytest.raises(InvalidArgument):
        parse_platform("a/b/c/d")
