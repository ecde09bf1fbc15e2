"""Pull and push against a real docker-registry on 127.0.0.1."""

from __future__ import annotations

import json
import os
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from berth.errors import CorruptContent, NotFound, Unauthorized
from berth.images import push as push_mod
from berth.images.pull import pull
from berth.images.push import push
from berth.images.registry import Credentials, Registry
from berth.images.service import ImageService
from berth.images.store import ImageStore
from support.images_layers import (
    entry,
    gz,
    image_docs,
    make_tar,
    push_image,
    raw_push_blob,
    raw_push_manifest,
    registry_blob_path,
    sha,
)
from support.images_registry import LocalRegistry

F = tarfile.REGTYPE


def statuses(messages: list[dict]) -> list[str]:
    return [m.get("status", "") for m in messages]


def nothing_stored(store: ImageStore) -> bool:
    return (
        not store.meta.images()
        and not os.listdir(store.snapshots.root)
        and not os.listdir(store.content.ingest_dir)
    )


def test_push_then_pull_keeps_digests(
    image_store: ImageStore,
    registry: LocalRegistry,
    make_busybox: Callable[..., str],
    tmp_path: Path,
) -> None:
    name = f"{registry.host}/rt/busybox:1"
    image_id = make_busybox(image_store, name)
    pushed = list(push(image_store, name))
    aux = next(m["aux"] for m in pushed if "aux" in m)
    assert statuses(pushed)[0] == f"The push refers to repository [{registry.host}/rt/busybox]"
    assert "Pushed" in statuses(pushed)
    other = ImageStore(str(tmp_path / "other"))
    msgs = list(pull(other, name))
    st = statuses(msgs)
    assert st[0] == "Pulling from rt/busybox" and msgs[0]["id"] == "1"
    assert "Pulling fs layer" in st and "Pull complete" in st
    assert st[-2] == f"Digest: {aux['Digest']}"
    assert st[-1] == f"Status: Downloaded newer image for {name}"
    image = other.resolve(name)
    assert image.id == image_id
    assert image.repo_digests == [f"{registry.host}/rt/busybox@{aux['Digest']}"]
    assert os.path.exists(os.path.join(other.snapshots.fs(image.chain_ids[0]), "bin/busybox"))
    again = list(pull(other, name))
    assert statuses(again)[-1] == f"Status: Image is up to date for {name}"
    by_digest = f"{registry.host}/rt/busybox@{aux['Digest']}"
    assert statuses(list(pull(other, by_digest)))[-1].endswith(f"for {by_digest}")
    # pushing again: every layer exists; a second repository mounts them across
    again_push = statuses(list(push(other, name)))
    assert "Layer already exists" in again_push
    ImageService(store=other).tag(name, f"{registry.host}/rt/copy", "1")
    assert any(
        s.startswith("Mounted from rt/busybox")
        for s in statuses(list(push(other, f"{registry.host}/rt/copy:1")))
    )
    other.close()


def test_chunked_upload(
    image_store: ImageStore,
    registry: LocalRegistry,
    make_busybox: Callable[..., str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setattr(push_mod, "CHUNK_SIZE", 256 * 1024)
    name = f"{registry.host}/chunked/busybox:latest"
    image_id = make_busybox(image_store, name)
    list(push(image_store, name))
    other = ImageStore(str(tmp_path / "other"))
    list(pull(other, name))
    assert other.resolve(name).id == image_id
    other.close()


def test_oci_index_and_platforms(image_store: ImageStore, registry: LocalRegistry) -> None:
    host, repo = registry.host, "multi/app"
    layer = make_tar([entry("hello", F, b"amd64")])
    digest = push_image(host, repo, "amd64-only", [layer], oci=True)
    manifest_size = len(json.dumps({}))  # replaced below by the real size
    path = registry_blob_path(registry.directory, digest)
    manifest_size = os.path.getsize(path)
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": digest,
                "size": manifest_size,
                "platform": {"architecture": "amd64", "os": "linux"},
            }
        ],
    }
    raw = json.dumps(index).encode()
    raw_push_manifest(host, repo, "multi", raw, "application/vnd.oci.image.index.v1+json")
    msgs = list(pull(image_store, f"{host}/{repo}:multi", platform="linux/amd64"))
    assert statuses(msgs)[-2] == f"Digest: {sha(raw)}"
    with pytest.raises(NotFound, match="no matching manifest for linux/s390x"):
        list(pull(image_store, f"{host}/{repo}:multi", platform="linux/s390x"))
    with pytest.raises(NotFound, match="manifest unknown"):
        list(pull(image_store, f"{host}/{repo}:nope"))


def test_tampered_blob_is_rejected_and_nothing_kept(
    image_store: ImageStore, registry: LocalRegistry
) -> None:
    layer = make_tar([entry("file", F, os.urandom(4096))])
    push_image(registry.host, "tamper/blob", "v1", [layer])
    blob = registry_blob_path(registry.directory, sha(gz(layer)))
    data = bytearray(open(blob, "rb").read())
    data[-12] ^= 0xFF  # inside the gzip trailer's CRC: decompression or the digest fails
    with open(blob, "wb") as f:
        f.write(data)
    with pytest.raises(CorruptContent):
        list(pull(image_store, f"{registry.host}/tamper/blob:v1"))
    assert nothing_stored(image_store)


def test_tampered_manifest_is_rejected(image_store: ImageStore, registry: LocalRegistry) -> None:
    digest = push_image(registry.host, "tamper/manifest", "v1", [make_tar([entry("a", F, b"a")])])
    path = registry_blob_path(registry.directory, digest)
    doc = json.loads(open(path, "rb").read())
    doc["layers"][0]["size"] += 1
    with open(path, "wb") as f:
        f.write(json.dumps(doc).encode())
    with pytest.raises(CorruptContent, match="digest mismatch"):
        list(pull(image_store, f"{registry.host}/tamper/manifest:v1"))
    with pytest.raises(CorruptContent, match="digest mismatch"):
        list(pull(image_store, f"{registry.host}/tamper/manifest@{digest}"))
    assert nothing_stored(image_store)


def test_size_mismatch_and_truncated_gzip(image_store: ImageStore, registry: LocalRegistry) -> None:
    host = registry.host
    layer = make_tar([entry("data", F, os.urandom(200_000))])
    short = gz(layer)[:-50]  # a truncated gzip stream, pushed under its own digest
    config, manifest = image_docs([layer], [short])
    for blob in (short, config):
        raw_push_blob(host, "bad/trunc", blob)
    raw_push_manifest(host, "bad/trunc", "v1", manifest, json.loads(manifest)["mediaType"])
    with pytest.raises(CorruptContent, match="unexpected end of gzip"):
        list(pull(image_store, f"{host}/bad/trunc:v1"))
    # a manifest announcing a smaller size than the blob has
    good = gz(layer)
    config, manifest = image_docs([layer], [good])
    doc = json.loads(manifest)
    doc["layers"][0]["size"] = len(good) - 10
    for blob in (good, config):
        raw_push_blob(host, "bad/size", blob)
    raw = json.dumps(doc).encode()
    raw_push_manifest(host, "bad/size", "v1", raw, doc["mediaType"])
    with pytest.raises(CorruptContent, match="size mismatch"):
        list(pull(image_store, f"{host}/bad/size:v1"))
    # a layer that is not the config's diff id
    other = make_tar([entry("other", F, b"x")])
    config, manifest = image_docs([other], [good])
    raw_push_blob(host, "bad/diff", config)
    raw_push_blob(host, "bad/diff", good)
    raw_push_manifest(host, "bad/diff", "v1", manifest, json.loads(manifest)["mediaType"])
    with pytest.raises(CorruptContent, match=r"\(uncompressed\): digest mismatch"):
        list(pull(image_store, f"{host}/bad/diff:v1"))
    assert nothing_stored(image_store)


def test_basic_auth_registry(
    image_store: ImageStore, make_busybox: Callable[..., str], tmp_path: Path
) -> None:
    reg = LocalRegistry.start(str(tmp_path / "authreg"), users={"alice": "s3cret"})
    try:
        name = f"{reg.host}/private/busybox:latest"
        make_busybox(image_store, name)
        with pytest.raises(Unauthorized):
            list(push(image_store, name, registry=Registry(reg.host)))
        svc = ImageService(store=image_store, auth_config=str(tmp_path / "docker/config.json"))
        with pytest.raises(Unauthorized):
            svc.auth({"username": "alice", "password": "wrong", "serveraddress": reg.host})
        assert (
            svc.auth({"username": "alice", "password": "s3cret", "serveraddress": reg.host})[
                "Status"
            ]
            == "Login Succeeded"
        )
        from berth.images import credentials

        credentials.store(reg.host, "alice", "s3cret", svc.auth_config)
        assert "Pushed" in statuses(list(svc.push(name)))
        creds = Credentials("alice", "s3cret")
        other = ImageStore(str(tmp_path / "other"))
        list(pull(other, name, registry=Registry(reg.host, creds)))
        assert other.resolve(name).repo_tags == [name]
        other.close()
    finally:
        reg.stop()


def test_zstd_and_uncompressed_oci_layers(image_store: ImageStore, registry: LocalRegistry) -> None:
    import zstandard

    host = registry.host
    layers = [make_tar([entry("z", F, b"zstd" * 1000)]), make_tar([entry("u", F, b"plain")])]
    blobs = [zstandard.ZstdCompressor().compress(layers[0]), layers[1]]
    config, manifest = image_docs(layers, blobs, oci=True)
    doc = json.loads(manifest)
    doc["layers"][0]["mediaType"] = "application/vnd.oci.image.layer.v1.tar+zstd"
    doc["layers"][1]["mediaType"] = "application/vnd.oci.image.layer.v1.tar"
    for blob in (*blobs, config):
        raw_push_blob(host, "oci/zstd", blob)
    raw_push_manifest(host, "oci/zstd", "v1", json.dumps(doc).encode(), doc["mediaType"])
    list(pull(image_store, f"{host}/oci/zstd:v1"))
    image = image_store.resolve(f"{host}/oci/zstd:v1")
    top = Path(image_store.snapshots.fs(image.chain_ids[1]))
    bottom = Path(image_store.snapshots.fs(image.chain_ids[0]))
    assert (bottom / "z").read_bytes() == b"zstd" * 1000 and (top / "u").read_bytes() == b"plain"
