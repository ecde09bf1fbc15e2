"""Helpers that make layer tars (plain or hostile) and images out of them, in memory."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile


def entry(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", **attrs: object) -> tuple:
    return (name, kind, data, attrs)


def make_tar(entries: list[tuple], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for name, kind, data, attrs in entries:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.mode = int(attrs.get("mode", 0o644 if kind != tarfile.DIRTYPE else 0o755))
            info.uid = int(attrs.get("uid", 0))
            info.gid = int(attrs.get("gid", 0))
            info.mtime = attrs.get("mtime", 1_600_000_000)  # type: ignore[assignment]
            info.linkname = str(attrs.get("linkname", ""))
            info.devmajor = int(attrs.get("devmajor", 0))
            info.devminor = int(attrs.get("devminor", 0))
            info.pax_headers = dict(attrs.get("pax", {}))  # type: ignore[arg-type]
            if kind == tarfile.REGTYPE:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
            else:
                tf.addfile(info)
    return buf.getvalue()


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def image_docs(
    layers: list[bytes],
    compressed: list[bytes],
    config_extra: dict | None = None,
    oci: bool = False,
) -> tuple[bytes, bytes]:
    """(config bytes, manifest bytes) for layers (tar) and their blobs."""
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [sha(t) for t in layers]},
        **(config_extra or {}),
    }
    cbytes = json.dumps(config).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json"
        if oci
        else "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json"
            if oci
            else "application/vnd.docker.container.image.v1+json",
            "digest": sha(cbytes),
            "size": len(cbytes),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip"
                if oci
                else "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "digest": sha(c),
                "size": len(c),
            }
            for c in compressed
        ],
    }
    return cbytes, json.dumps(manifest).encode()


def raw_push_blob(host: str, repo: str, data: bytes, digest: str | None = None) -> str:
    """Upload a blob with plain HTTP (no berth code), under ``digest`` (default: its own)."""
    import http.client
    import urllib.parse

    digest = digest or sha(data)
    conn = http.client.HTTPConnection(host, timeout=30)
    conn.request("POST", f"/v2/{repo}/blobs/uploads/", headers={"Content-Length": "0"})
    resp = conn.getresponse()
    resp.read()
    assert resp.status == 202, resp.status
    loc = urllib.parse.urlsplit(resp.getheader("Location"))
    path = loc.path + "?" + (loc.query + "&" if loc.query else "") + "digest=" + digest
    conn.request("PUT", path, body=data, headers={"Content-Length": str(len(data))})
    resp = conn.getresponse()
    body = resp.read()
    assert resp.status == 201, (resp.status, body)
    conn.close()
    return digest


def raw_push_manifest(host: str, repo: str, ref: str, data: bytes, media_type: str) -> None:
    import http.client

    conn = http.client.HTTPConnection(host, timeout=30)
    conn.request(
        "PUT",
        f"/v2/{repo}/manifests/{ref}",
        body=data,
        headers={"Content-Type": media_type, "Content-Length": str(len(data))},
    )
    resp = conn.getresponse()
    body = resp.read()
    assert resp.status == 201, (resp.status, body)
    conn.close()


def push_image(host: str, repo: str, tag: str, layers: list[bytes], oci: bool = False) -> str:
    """Push tar layers (gzipped here) as an image; return the manifest digest."""
    compressed = [gz(t) for t in layers]
    config, manifest = image_docs(layers, compressed, oci=oci)
    for blob in [*compressed, config]:
        raw_push_blob(host, repo, blob)
    media = json.loads(manifest)["mediaType"]
    raw_push_manifest(host, repo, tag, manifest, media)
    return sha(manifest)


def registry_blob_path(registry_dir: str, digest: str) -> str:
    hexpart = digest.split(":", 1)[1]
    return f"{registry_dir}/data/docker/registry/v2/blobs/sha256/{hexpart[:2]}/{hexpart}/data"
