"""Put an image together from layers already in the content store (import, commit, bases).

:func:`make_image` unpacks the layers (each once, by chain ID), writes the
config and a Docker schema 2 manifest into the content store and registers
the image under ``names``, all under a lease.
"""

from __future__ import annotations

import time

from berth import jsonio
from berth.images.db import LayerRow
from berth.oci import image_spec as spec
from berth.oci.digest import Digest, chain_ids

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from berth.images.store import ImageStore, Lease
    from berth.oci.reference import Reference


def now_rfc3339() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d}Z"


def manifest_for(config_bytes: bytes, layers: Sequence[LayerRow]) -> bytes:
    """A Docker schema 2 manifest (OCI media types when a layer is not gzip)."""
    oci = any(lr.media_type not in (spec.DOCKER_LAYER, None) for lr in layers)
    doc = {
        "schemaVersion": 2,
        "mediaType": spec.OCI_MANIFEST if oci else spec.DOCKER_MANIFEST,
        "config": {
            "mediaType": spec.OCI_CONFIG if oci else spec.DOCKER_CONFIG,
            "digest": Digest.of(config_bytes),
            "size": len(config_bytes),
        },
        "layers": [
            {
                "mediaType": lr.media_type or spec.DOCKER_LAYER,
                "digest": lr.blob,
                "size": lr.blob_size,
            }
            for lr in layers
        ],
    }
    return jsonio.dumps(doc).encode()


def make_image(
    store: ImageStore,
    layers: Sequence[LayerRow],
    config: spec.ImageConfig,
    names: Sequence[Reference] = (),
    parent: str = "",
    lease: Lease | None = None,
) -> str:
    """Register an image made of ``layers`` (bottom first) and ``config``; return its ID.

    ``config.rootfs.diff_ids`` is set from the layers.
    """
    diff_ids = [lr.diff_id for lr in layers]
    chains = chain_ids(diff_ids)
    rows = [
        LayerRow(ch, lr.diff_id, lr.blob, lr.media_type, lr.blob_size)
        for ch, lr in zip(chains, layers, strict=True)
    ]
    config = config.replace(
        architecture=config.architecture,
        os=config.os,
        rootfs=spec.RootFS(type="layers", diff_ids=tuple(diff_ids)),
    )
    config_bytes = jsonio.dumps(config.to_json()).encode()
    if lease is None:
        with store.lease() as own:
            return _finish(store, rows, config, config_bytes, names, parent, own)
    return _finish(store, rows, config, config_bytes, names, parent, lease)


def _finish(
    store: ImageStore,
    rows: list[LayerRow],
    config: spec.ImageConfig,
    config_bytes: bytes,
    names: Sequence[Reference],
    parent: str,
    lease: Lease,
) -> str:
    for lr in rows:
        lease.snapshot(lr.chain_id)
        if lr.blob:
            lease.blob(lr.blob)
        store.unpack_local(lr)
    config_digest = store.content.write(config_bytes, what="image config")
    lease.blob(config_digest)
    manifest = manifest_for(config_bytes, rows)
    manifest_digest = store.content.write(manifest, what="manifest")
    lease.blob(manifest_digest)
    store.register(config_digest, config, manifest_digest, rows, list(names), parent=parent)
    return config_digest
