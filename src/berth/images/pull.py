"""Pull an image from a registry: POST /images/create?fromImage=...

:func:`pull` is a generator of Docker's progress messages
(:mod:`berth.images.progress`). It resolves the reference to a manifest (a
manifest list / index is narrowed to the requested platform, default this
machine's), fetches and verifies the config, then downloads the layers in
parallel threads (``max_concurrent``, 3 like Docker): each layer streams
through its digest check, decompression, DiffID check and tar extraction in
one pass, and is published (blob and snapshot) only when all of it verified.
Transient failures (connection errors, 5xx) are retried. The image appears
in the store, tagged, only at the end, in one transaction; everything the
pull wrote is held by a lease until then.
"""

from __future__ import annotations

import os
import queue
import threading

from berth import jsonio
from berth.errors import BerthError, CorruptContent, InvalidArgument, NotFound, Unavailable
from berth.images import progress as pm
from berth.images.db import LayerRow
from berth.images.registry import Registry, retrying
from berth.oci import image_spec as spec
from berth.oci import reference
from berth.oci.digest import Digest, Hasher, chain_ids

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from berth.images.store import ImageStore, Lease

MAX_CONCURRENT = 3
PROGRESS_EVERY = 512 * 1024
_ARCH = {
    "x86_64": "amd64",
    "aarch64": "arm64",
    "armv7l": "arm",
    "i686": "386",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
}


def host_platform() -> spec.Platform:
    machine = os.uname().machine
    arch = _ARCH.get(machine, machine)
    variant = "v8" if arch == "arm64" else None
    return spec.Platform(architecture=arch, os="linux", variant=variant)


def parse_platform(text: str) -> spec.Platform:
    """``linux/amd64``, ``linux/arm64/v8``, ``amd64`` -> Platform."""
    parts = text.lower().split("/")
    if len(parts) == 1:
        return spec.Platform(os="linux", architecture=parts[0])
    if len(parts) in (2, 3) and all(parts):
        return spec.Platform(
            os=parts[0], architecture=parts[1], variant=parts[2] if len(parts) == 3 else None
        )
    raise InvalidArgument(f"invalid platform {text!r}: expected os/arch[/variant]")


def platform_text(p: spec.Platform) -> str:
    return "/".join(x for x in (p.os, p.architecture, p.variant) if x)


def choose_manifest(index: spec.Index, want: spec.Platform) -> spec.Descriptor:
    """The index entry for ``want``; a variant, when not asked for, prefers none or the best."""
    candidates = []
    for d in index.manifests:
        p = d.platform
        if p is None or p.os != want.os or p.architecture != want.architecture:
            continue
        arm64_default = want.architecture == "arm64" and want.variant == "v8" and not p.variant
        if want.variant and (p.variant or "") != want.variant and not arm64_default:
            continue
        if d.media_type not in spec.MANIFEST_TYPES and d.media_type not in spec.INDEX_TYPES:
            continue
        candidates.append(d)
    if not candidates:
        raise NotFound(
            f"no matching manifest for {platform_text(want)} in the manifest list entries"
        )
    return candidates[0]


class _Cancelled(Exception):
    pass


class LayerJob:
    __slots__ = ("blob_present", "chain", "desc", "diff_id", "ident", "snapshot_present")

    def __init__(self, desc: spec.Descriptor, diff_id: str, chain: str) -> None:
        self.desc = desc
        self.diff_id = diff_id
        self.chain = chain
        self.ident = Digest.parse(desc.digest, "layer digest").short
        self.blob_present = False
        self.snapshot_present = False


def pull(
    store: ImageStore,
    ref_text: str,
    *,
    registry: Registry | None = None,
    platform: str | None = None,
    max_concurrent: int = MAX_CONCURRENT,
    registry_factory: Callable[[str], Registry] | None = None,
    unpack: bool = True,
) -> Iterator[pm.Message]:
    """Pull ``ref_text``; yield progress messages; raise BerthError on failure.

    ``unpack=False`` only downloads and verifies the blobs into the content
    store (what ``skopeo copy`` to a directory does); no image is registered.
    """
    ref = reference.parse(ref_text)
    if registry is None:
        registry = registry_factory(ref.domain) if registry_factory else Registry(ref.domain)
    want = parse_platform(platform) if platform else host_platform()
    repo = ref.path
    with store.lease() as lease:
        top_bytes, media, header_digest = registry.get_manifest(
            repo, ref.digest or ref.tag or "latest"
        )
        yield pm.status(f"Pulling from {repo}", ref.tag or ref.digest)
        top_digest = Digest.of(top_bytes)
        if ref.digest is not None and top_digest != ref.digest:
            raise CorruptContent(
                f"manifest for {ref.familiar()}: digest mismatch: "
                f"expected {ref.digest}, got {top_digest}"
            )
        if header_digest and header_digest.startswith("sha256:") and header_digest != top_digest:
            raise CorruptContent(
                f"manifest for {ref.familiar()}: digest mismatch: registry says {header_digest}, "
                f"content is {top_digest}"
            )
        doc = spec.parse_manifest_or_index(top_bytes, media)
        blobs: list[tuple[bytes, str]] = [(top_bytes, top_digest)]
        depth = 0
        while isinstance(doc, spec.Index):
            depth += 1
            if depth > 2:
                raise InvalidArgument(f"{ref.familiar()}: nested indexes are too deep")
            chosen = choose_manifest(doc, want)
            data, media, _ = registry.get_manifest(repo, chosen.digest)
            got = Digest.of(data)
            if got != chosen.digest or len(data) != chosen.size:
                raise CorruptContent(
                    f"manifest {chosen.digest} for {platform_text(want)}: digest or size mismatch "
                    f"(got {got}, {len(data)} bytes)"
                )
            doc = spec.parse_manifest_or_index(data, chosen.media_type or media)
            blobs.append((data, got))
        manifest = doc
        manifest_digest = blobs[-1][1]
        config_bytes = _fetch_small(registry, repo, manifest.config, "image config")
        config = spec.ImageConfig.from_json(jsonio.loads(config_bytes, "image config"), "config")
        config_digest = manifest.config.digest
        diff_ids = list(config.rootfs.diff_ids)
        if len(diff_ids) != len(manifest.layers):
            raise CorruptContent(
                f"{ref.familiar()}: the manifest has {len(manifest.layers)} layers "
                f"but the config {len(diff_ids)} diff IDs"
            )
        for d in manifest.layers:
            spec.layer_compression(d.media_type)
        chains = chain_ids(diff_ids)
        jobs = [
            LayerJob(d, diff, ch)
            for d, diff, ch in zip(manifest.layers, diff_ids, chains, strict=True)
        ]
        for job in jobs:
            lease.blob(job.desc.digest)
            lease.snapshot(job.chain)
            job.snapshot_present = store.snapshots.exists(job.chain) or not unpack
            job.blob_present = store.content.exists(job.desc.digest)
        up_to_date = store.exists(config_digest) and all(j.snapshot_present for j in jobs)
        if not up_to_date:
            yield from _fetch_layers(store, registry, repo, jobs, lease, max_concurrent)
        for data, digest in blobs:
            lease.blob(digest)
            store.content.write(data, digest, "manifest")
        lease.blob(config_digest)
        store.content.write(config_bytes, config_digest, "image config")
        if not unpack:
            yield pm.status(f"Digest: {top_digest}")
            return
        rows = [
            LayerRow(j.chain, j.diff_id, j.desc.digest, j.desc.media_type, j.desc.size)
            for j in jobs
        ]
        names = [ref] if ref.tag is not None else []
        previous = store.meta.tag_target(f"{ref.name}:{ref.tag}") if ref.tag else None
        store.register(
            config_digest,
            config,
            manifest_digest,
            rows,
            names,
            reference.Reference(ref.domain, ref.path, None, top_digest),
        )
    yield pm.status(f"Digest: {top_digest}")
    shown = ref.familiar()
    if up_to_date and (ref.tag is None or previous == config_digest):
        yield pm.status(f"Status: Image is up to date for {shown}")
    else:
        yield pm.status(f"Status: Downloaded newer image for {shown}")


def _fetch_small(registry: Registry, repo: str, desc: spec.Descriptor, what: str) -> bytes:
    if desc.size > 64 << 20:
        raise InvalidArgument(f"{what} {desc.digest} is too large ({desc.size} bytes)")
    resp = registry.get_blob(repo, desc.digest)
    h = Hasher(Digest.parse(desc.digest).algorithm)
    data = resp.read(desc.size + 1)
    resp.close()
    h.update(data)
    h.verify(desc.digest, desc.size, what)
    return data


def _fetch_layers(
    store: ImageStore,
    registry: Registry,
    repo: str,
    jobs: list[LayerJob],
    lease: Lease,
    max_concurrent: int,
) -> Iterator[pm.Message]:
    events: queue.Queue[pm.Message | tuple[str, BaseException | None]] = queue.Queue()
    cancel = threading.Event()
    todo = [j for j in jobs if not j.snapshot_present or not j.blob_present]
    for j in jobs:
        if j.snapshot_present and j.blob_present:
            yield pm.status("Already exists", j.ident)
    for j in todo:
        yield pm.status("Pulling fs layer", j.ident)
    for j in todo[max_concurrent:]:
        yield pm.status("Waiting", j.ident)
    if not todo:
        return
    work: queue.Queue[LayerJob] = queue.Queue()
    for j in todo:
        work.put(j)

    def worker() -> None:
        while not cancel.is_set():
            try:
                job = work.get_nowait()
            except queue.Empty:
                return
            try:
                _fetch_one(store, registry, repo, job, events, cancel)
                events.put(("done", None))
            except BaseException as e:  # reported to the consumer
                events.put(("done", e))
                return

    threads = [
        threading.Thread(target=worker, name=f"pull-{i}", daemon=True)
        for i in range(max(1, min(max_concurrent, len(todo))))
    ]
    for t in threads:
        t.start()
    finished = 0
    failure: BaseException | None = None
    try:
        while finished < len(todo) and failure is None:
            item = events.get()
            if isinstance(item, tuple):
                if item[1] is not None:
                    failure = item[1]
                finished += 1
                continue
            yield item
    finally:
        cancel.set()
        for t in threads:
            t.join()
        while not events.empty():  # drain messages of threads that stopped
            events.get_nowait()
    if failure is not None:
        raise failure


def _fetch_one(
    store: ImageStore,
    registry: Registry,
    repo: str,
    job: LayerJob,
    events: queue.Queue[pm.Message | tuple[str, BaseException | None]],
    cancel: threading.Event,
) -> None:
    desc, ident = job.desc, job.ident
    what = f"layer {desc.digest}"
    compression = spec.layer_compression(desc.media_type)
    if job.blob_present and not job.snapshot_present:
        events.put(pm.status("Extracting", ident))
        store.unpack_local(
            LayerRow(job.chain, job.diff_id, desc.digest, desc.media_type, desc.size), what
        )
        events.put(pm.status("Pull complete", ident))
        return
    for attempt in retrying(3):
        try:
            _download(store, registry, repo, job, events, cancel, compression)
            events.put(pm.status("Pull complete", ident))
            return
        except Unavailable:
            if attempt == 2:
                raise
            events.put(
                pm.status(f"Retrying in {attempt + 1} second{'s' if attempt else ''}", ident)
            )
        except _Cancelled:
            raise BerthError("pull cancelled") from None


def _download(
    store: ImageStore,
    registry: Registry,
    repo: str,
    job: LayerJob,
    events: queue.Queue[pm.Message | tuple[str, BaseException | None]],
    cancel: threading.Event,
    compression: str,
) -> None:
    """One attempt: stream the blob through verification (and extraction) into the store."""
    from berth.content.stream import BlobTee, CountingHasher, Decompressor, Prefetch

    desc, ident = job.desc, job.ident
    what = f"layer {desc.digest}"
    seen = last = 0

    def on_bytes(n: int) -> None:
        nonlocal seen, last
        if cancel.is_set():
            raise _Cancelled()
        seen += n
        if seen > desc.size >= 0:
            raise CorruptContent(
                f"{what}: size mismatch: more than the {desc.size} bytes announced"
            )
        if seen - last >= PROGRESS_EVERY or seen == desc.size:
            last = seen
            events.put(pm.progress("Downloading", ident, seen, desc.size))

    resp = registry.get_blob(repo, desc.digest)
    try:
        with store.content.writer(Digest.parse(desc.digest).algorithm) as w:
            tee = BlobTee(resp, w, progress=on_bytes)
            if job.snapshot_present:
                while tee.read(1 << 20):
                    pass
                w.hasher.verify(desc.digest, desc.size, what)
            else:
                with Prefetch(Decompressor(tee, compression, what)) as ahead:
                    counted = CountingHasher(ahead)

                    def verify() -> None:
                        counted.drain()
                        events.put(pm.status("Verifying Checksum", ident))
                        w.hasher.verify(desc.digest, desc.size, what)
                        counted.hasher.verify(job.diff_id, None, f"{what} (uncompressed)")
                        events.put(pm.status("Download complete", ident))

                    result = store.snapshots.unpack(job.chain, counted, what, verify)  # type: ignore[arg-type]
                store.meta.put_snapshot(job.chain, job.diff_id, result.size)
                events.put(pm.progress("Extracting", ident, desc.size, desc.size))
            w.commit(desc.digest, desc.size, what)
    finally:
        resp.close()
