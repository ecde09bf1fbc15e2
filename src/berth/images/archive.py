"""Image archives: ``save`` (docker-archive + OCI layout in one tar, as Docker 25+) and ``load``.

The tar :func:`save` writes::

    blobs/sha256/<hex>   manifests, configs and layer blobs, as stored
    oci-layout           {"imageLayoutVersion": "1.0.0"}
    index.json           OCI index: one manifest per name, annotated with
                         io.containerd.image.name and org.opencontainers.image.ref.name
    manifest.json        docker-archive: [{"Config", "RepoTags", "Layers"}] with
                         paths into blobs/
    repositories         legacy {"repo": {"tag": "<top layer id>"}}

Layers keep the compression they were stored with (pulled layers gzip);
``docker load`` and ``podman load`` accept compressed layers.

:func:`load` reads either layout, or the legacy one (``<id>/layer.tar``,
``<id>.json``), in one pass over the stream: blobs go into the content store
as they pass (those named by digest verified), small JSON documents are kept
in memory, and when the stream ends each image's layers are unpacked (DiffIDs
checked against the config) and the image registered and tagged.
"""

from __future__ import annotations

import os
import tarfile

from berth import jsonio
from berth.errors import CorruptContent, InvalidArgument, NotFound
from berth.images import progress as pm
from berth.images.db import LayerRow
from berth.oci import image_spec as spec
from berth.oci import reference
from berth.oci.digest import Digest, chain_ids, is_digest

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from berth.images.store import Image, ImageStore, Lease

CHUNK = 1 << 20
MAX_DOC = 64 << 20


def _header(name: str, size: int, mode: int = 0o444, kind: bytes = tarfile.REGTYPE) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = mode
    info.type = kind
    info.mtime = 0
    return info.tobuf(format=tarfile.PAX_FORMAT)


def _pad(size: int) -> bytes:
    return b"\0" * (-size % 512)


def save(store: ImageStore, names: list[str]) -> Iterator[bytes]:
    """Yield the archive of ``names`` (names, IDs; a repository name means all its tags)."""
    if not names:
        raise InvalidArgument("no images to save: give at least one name")
    images: dict[str, tuple[Image, list[str]]] = {}
    order: list[str] = []
    for name in names:
        for image_id, tag in _expand(store, name):
            if image_id not in images:
                images[image_id] = (store.get(image_id), [])
                order.append(image_id)
            if tag and tag not in images[image_id][1]:
                images[image_id][1].append(tag)
    written: set[str] = set()
    docker_manifest: list[dict[str, Any]] = []
    index_entries: list[dict[str, Any]] = []
    repositories: dict[str, dict[str, str]] = {}
    for image_id in order:
        image, tags = images[image_id]
        manifest_digest = _ensure_manifest(store, image)
        manifest_bytes = store.content.read(manifest_digest)
        manifest = spec.parse_manifest_or_index(manifest_bytes)
        assert isinstance(manifest, spec.Manifest)
        for digest in [d.digest for d in manifest.layers] + [image_id, manifest_digest]:
            if digest in written:
                continue
            written.add(digest)
            yield from _blob_entry(store, digest)
        familiar = [reference.parse(t).familiar() for t in tags]
        docker_manifest.append(
            {
                "Config": f"blobs/sha256/{Digest(image_id).hex}",
                "RepoTags": familiar or None,
                "Layers": [f"blobs/sha256/{Digest(d.digest).hex}" for d in manifest.layers],
            }
        )
        base = {
            "mediaType": manifest.media_type or spec.DOCKER_MANIFEST,
            "digest": manifest_digest,
            "size": len(manifest_bytes),
        }
        if not tags:
            index_entries.append(base)
        for t in tags:
            ref = reference.parse(t)
            index_entries.append(
                {
                    **base,
                    "annotations": {
                        spec.ANNOTATION_IMAGE_NAME: str(ref),
                        spec.ANNOTATION_REF_NAME: ref.tag or "",
                    },
                }
            )
            if manifest.layers:
                top = Digest(image.diff_ids[-1]).hex
                repositories.setdefault(ref.familiar_name, {})[ref.tag or "latest"] = top
    index = {"schemaVersion": 2, "mediaType": spec.OCI_INDEX, "manifests": index_entries}
    docs = [
        ("index.json", index),
        ("manifest.json", docker_manifest),
        ("oci-layout", {"imageLayoutVersion": "1.0.0"}),
    ]
    if repositories:
        docs.append(("repositories", repositories))
    for name, doc in docs:
        data = jsonio.dumps(doc).encode()
        yield _header(name, len(data), 0o644) + data + _pad(len(data))
    yield b"\0" * 1024


def _expand(store: ImageStore, name: str) -> list[tuple[str, str | None]]:
    """(image ID, tag or None) pairs a save name stands for."""
    ref = reference.try_parse(name)
    if ref is not None and ":" not in name.rsplit("/", 1)[-1] and "@" not in name:
        prefix = ref.name + ":"
        tagged = [(i, n) for n, i in store.meta.all_tags() if n.startswith(prefix)]
        if tagged:
            return sorted(tagged, key=lambda p: p[1] or "")
    image_id = store.resolve_id(name)
    if ref is not None and ref.tag is not None and store.meta.tag_target(str(ref)) == image_id:
        return [(image_id, str(ref))]
    return [(image_id, None)]


def _ensure_manifest(store: ImageStore, image: Image) -> str:
    if image.manifest and store.content.exists(str(image.manifest)):
        return str(image.manifest)
    from berth.images.compose import manifest_for

    if any(lr.blob is None or not store.content.exists(lr.blob) for lr in image.layers):
        raise NotFound(f"image {image.id}: layer blobs are missing; pull the image again")
    data = manifest_for(image.config_bytes, image.layers)
    digest = store.content.write(data, what="manifest")
    store.meta.set_manifest(image.id, digest, image.layers)
    return digest


def _blob_entry(store: ImageStore, digest: str) -> Iterator[bytes]:
    d = Digest.parse(digest)
    with store.content.open(d) as f:
        size = os.fstat(f.fileno()).st_size
        yield _header(f"blobs/{d.algorithm}/{d.hex}", size)
        while True:
            chunk = f.read(CHUNK)
            if not chunk:
                break
            yield chunk
    yield _pad(size)


# -- load ----------------------------------------------------------------------------------
class _Loaded:
    def __init__(self) -> None:
        self.paths: dict[str, str] = {}  # archive path -> blob digest
        self.docs: dict[str, bytes] = {}  # small JSON documents by path
        self.links: dict[str, str] = {}  # symlink path -> target path


def load(store: ImageStore, body: object, quiet: bool = False) -> Iterator[pm.Message]:
    with store.lease() as lease:
        loaded = _read_archive(store, body, lease)
        names = _load_images(store, loaded, lease)
    for text in names:
        yield {"stream": f"{text}\n"}


def _read_archive(store: ImageStore, body: object, lease: Lease) -> _Loaded:
    out = _Loaded()
    try:
        tf = tarfile.open(fileobj=body, mode="r|*", bufsize=CHUNK)  # type: ignore[call-overload]
    except tarfile.TarError as e:
        raise CorruptContent(f"load: not a tar archive ({e})") from None
    with tf:
        while True:
            try:
                m = tf.next()
            except tarfile.TarError as e:
                raise CorruptContent(f"load: broken archive ({e})") from None
            if m is None:
                break
            path = os.path.normpath(m.name).lstrip("/")
            if m.issym() or m.islnk():
                target = (
                    m.linkname if m.islnk() else os.path.join(os.path.dirname(path), m.linkname)
                )
                out.links[path] = os.path.normpath(target)
                continue
            if not m.isreg():
                continue
            src = tf.extractfile(m)
            assert src is not None
            parts = path.split("/")
            named = len(parts) == 3 and parts[0] == "blobs" and is_digest(f"{parts[1]}:{parts[2]}")
            if (path.endswith(".json") and not named) or path in ("repositories", "oci-layout"):
                if m.size > MAX_DOC:
                    raise InvalidArgument(f"load: {path} is too large ({m.size} bytes)")
                out.docs[path] = src.read()
                continue
            expected = f"{parts[1]}:{parts[2]}" if named else None
            if expected:
                lease.blob(expected)
                if store.content.exists(expected):
                    while src.read(CHUNK):
                        pass
                    out.paths[path] = expected
                    continue
            with store.content.writer() as w:
                while True:
                    chunk = src.read(CHUNK)
                    if not chunk:
                        break
                    w.write(chunk)
                digest = w.commit(expected, m.size, f"load: {path}")
            lease.blob(digest)
            out.paths[path] = digest
            if named and m.size <= MAX_DOC and path not in out.docs:
                pass
    return out


def _digest_of(loaded: _Loaded, path: str) -> str:
    path = os.path.normpath(path).lstrip("/")
    seen = 0
    while path in loaded.links and seen < 16:
        path, seen = loaded.links[path], seen + 1
    digest = loaded.paths.get(path)
    if digest is None:
        raise CorruptContent(f"load: the archive lacks {path}")
    return digest


def _doc(store: ImageStore, loaded: _Loaded, path: str) -> bytes:
    if path in loaded.docs:
        return loaded.docs[path]
    return store.content.read(_digest_of(loaded, path))


def _load_images(store: ImageStore, loaded: _Loaded, lease: Lease) -> list[str]:

    shown: list[str] = []
    if "manifest.json" in loaded.docs:
        entries = jsonio.loads(loaded.docs["manifest.json"], "manifest.json")
        if not isinstance(entries, list):
            raise CorruptContent("load: manifest.json is not a list")
        by_config = _index_manifests(store, loaded)
        for entry in entries:
            config_path = str(entry.get("Config", ""))
            config_digest: str
            if config_path in loaded.docs:  # legacy archive: <id>.json
                config_digest = store.content.write(loaded.docs[config_path], what="image config")
                lease.blob(config_digest)
            else:
                config_digest = _digest_of(loaded, config_path)
            layer_digests = [_digest_of(loaded, p) for p in entry.get("Layers") or []]
            tags = [t for t in entry.get("RepoTags") or [] if t]
            known = by_config.get(config_digest)
            shown += _register(store, config_digest, layer_digests, tags, known, lease)
        return shown
    if "index.json" in loaded.docs:
        index = spec.Index.from_json(jsonio.loads(loaded.docs["index.json"], "index.json"), "index")
        for d in index.manifests:
            manifest_digest, oci_manifest = _resolve_manifest(store, d)
            ann = d.annotations or {}
            name = ann.get(spec.ANNOTATION_IMAGE_NAME) or ""
            if not name and ann.get(spec.ANNOTATION_REF_NAME):
                ref_name = ann[spec.ANNOTATION_REF_NAME]
                name = ref_name if reference.try_parse(ref_name) and "/" in ref_name else ""
            layers = [lr.digest for lr in oci_manifest.layers]
            shown += _register(
                store,
                oci_manifest.config.digest,
                layers,
                [name] if name else [],
                (manifest_digest, oci_manifest),
                lease,
            )
        return shown
    raise CorruptContent("load: the archive has neither manifest.json nor index.json")


def _index_manifests(store: ImageStore, loaded: _Loaded) -> dict[str, tuple[str, spec.Manifest]]:
    """Manifests of the archive's OCI index, by config digest (to keep their digests)."""
    out: dict[str, tuple[str, spec.Manifest]] = {}
    if "index.json" not in loaded.docs:
        return out
    try:
        index = spec.Index.from_json(jsonio.loads(loaded.docs["index.json"]), "index")
        for d in index.manifests:
            digest, manifest = _resolve_manifest(store, d)
            out[manifest.config.digest] = (digest, manifest)
    except (InvalidArgument, NotFound):
        return {}
    return out


def _resolve_manifest(store: ImageStore, d: spec.Descriptor) -> tuple[str, spec.Manifest]:
    from berth.images.pull import choose_manifest, host_platform

    doc = spec.parse_manifest_or_index(store.content.read(d.digest), d.media_type)
    digest = d.digest
    if isinstance(doc, spec.Index):
        chosen = choose_manifest(doc, host_platform())
        digest = chosen.digest
        doc = spec.parse_manifest_or_index(store.content.read(digest), chosen.media_type)
    assert isinstance(doc, spec.Manifest)
    return digest, doc


def _register(
    store: ImageStore,
    config_digest: str,
    layer_digests: list[str],
    tags: list[str],
    manifest: tuple[str, spec.Manifest] | None,
    lease: Lease,
) -> list[str]:
    from berth.content.stream import sniff_compression
    from berth.images.compose import manifest_for

    config_bytes = store.content.read(config_digest)
    config = spec.ImageConfig.from_json(jsonio.loads(config_bytes, "image config"), "config")
    diff_ids = list(config.rootfs.diff_ids)
    if len(diff_ids) != len(layer_digests):
        raise CorruptContent(
            f"load: image {config_digest} lists {len(layer_digests)} layers "
            f"but its config {len(diff_ids)} diff IDs"
        )
    media_of: dict[str, str] = {}
    if manifest is not None:
        media_of = {d.digest: d.media_type for d in manifest[1].layers}
    rows = []
    for diff, chain, blob in zip(diff_ids, chain_ids(diff_ids), layer_digests, strict=True):
        media = media_of.get(blob)
        if media is None:
            with store.content.open(blob) as f:
                kind = sniff_compression(f.read(4))
            media = {"gzip": spec.DOCKER_LAYER, "zstd": spec.OCI_LAYER_ZSTD}.get(
                kind, spec.OCI_LAYER
            )
        row = LayerRow(chain, diff, blob, media, store.content.size(blob))
        lease.snapshot(chain)
        store.unpack_local(row, f"load: layer {blob}")
        rows.append(row)
    if manifest is not None and [d.digest for d in manifest[1].layers] == layer_digests:
        manifest_digest = manifest[0]
    else:
        manifest_digest = store.content.write(manifest_for(config_bytes, rows), what="manifest")
    lease.blob(manifest_digest)
    refs = [reference.parse(t) for t in tags]
    store.register(config_digest, config, manifest_digest, rows, refs)
    if refs:
        return [f"Loaded image: {r.familiar()}" for r in refs]
    return [f"Loaded image ID: {config_digest}"]
