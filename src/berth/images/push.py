"""Push an image to a registry: POST /images/{name}/push.

:func:`push` is a generator of Docker's progress messages. For each tag it
pushes every layer blob the registry lacks (HEAD first; a cross-repository
mount when the blob is known to be in another repository of the same
registry; otherwise an upload, monolithic for small blobs and chunked for
large ones), then the config, then PUTs the stored manifest bytes unchanged,
so what was pulled is pushed with the same digests.
"""

from __future__ import annotations

import queue
import threading

from berth import jsonio
from berth.errors import CorruptContent, InvalidArgument, NotFound
from berth.images import progress as pm
from berth.images.registry import Registry
from berth.oci import image_spec as spec
from berth.oci import reference
from berth.oci.digest import Digest

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from berth.images.store import ImageStore

MAX_CONCURRENT = 5
CHUNK_SIZE = 32 << 20  # blobs larger than this go up in chunks of this size
PROGRESS_EVERY = 512 * 1024


def push(
    store: ImageStore,
    name: str,
    tag: str | None = None,
    *,
    registry: Registry | None = None,
    registry_factory: Callable[[str], Registry] | None = None,
    max_concurrent: int = MAX_CONCURRENT,
) -> Iterator[pm.Message]:
    ref = reference.parse(name, default_tag=False)
    if tag:
        ref = ref.with_tag(tag)
    if ref.digest is not None:
        raise InvalidArgument(f"cannot push a digest reference ({ref.familiar()}); push a tag")
    if registry is None:
        registry = registry_factory(ref.domain) if registry_factory else Registry(ref.domain)
    if ref.tag is not None:
        tags = [ref.tag]
        store.resolve_id(str(ref))  # NotFound early, with Docker's wording
    else:
        prefix = ref.name + ":"
        tags = sorted(n[len(prefix) :] for n, _ in store.meta.all_tags() if n.startswith(prefix))
        if not tags:
            raise NotFound(f"An image does not exist locally with the tag: {ref.familiar_name}")
    shown = ref.name if ref.domain == "docker.io" else ref.familiar_name
    yield pm.status(f"The push refers to repository [{shown}]")
    for t in tags:
        yield from _push_tag(store, registry, ref.with_tag(t), max_concurrent)


def _push_tag(
    store: ImageStore, registry: Registry, ref: reference.Reference, max_concurrent: int
) -> Iterator[pm.Message]:
    image = store.resolve(str(ref))
    if not image.manifest:
        raise NotFound(f"{ref.familiar()}: the image has no manifest to push; tag it again")
    manifest_digest = str(image.manifest)
    manifest_bytes = store.content.read(manifest_digest)
    manifest = spec.parse_manifest_or_index(manifest_bytes)
    if not isinstance(manifest, spec.Manifest):
        raise InvalidArgument(f"{ref.familiar()}: stored manifest is an index")
    repo = ref.path
    sources = _mount_sources(store, image.id, ref)
    layers = list(manifest.layers)
    for d in reversed(layers):
        yield pm.status("Preparing", Digest(d.digest).short)
    for d in reversed(layers[: max(0, len(layers) - max_concurrent)]):
        yield pm.status("Waiting", Digest(d.digest).short)
    events: queue.Queue[pm.Message | tuple[str, BaseException | None]] = queue.Queue()
    work: queue.Queue[spec.Descriptor] = queue.Queue()
    for d in reversed(layers):
        if not store.content.exists(d.digest):
            raise NotFound(
                f"{ref.familiar()}: layer blob {d.digest} is not in the content store; "
                "pull the image again"
            )
        work.put(d)
    cancel = threading.Event()

    def worker() -> None:
        while not cancel.is_set():
            try:
                d = work.get_nowait()
            except queue.Empty:
                return
            try:
                _push_blob(store, registry, repo, d, sources, events, cancel, progress=True)
                events.put(("done", None))
            except BaseException as e:
                events.put(("done", e))
                return

    threads = [
        threading.Thread(target=worker, daemon=True)
        for _ in range(max(1, min(max_concurrent, len(layers))))
    ]
    for th in threads:
        th.start()
    finished, failure = 0, None
    try:
        while finished < len(layers) and failure is None:
            item = events.get()
            if isinstance(item, tuple):
                failure = item[1] if item[1] is not None else failure
                finished += 1
                continue
            yield item
    finally:
        cancel.set()
        for th in threads:
            th.join()
    if failure is not None:
        raise failure
    _push_blob(
        store, registry, repo, manifest.config, {}, events, threading.Event(), progress=False
    )
    media = manifest.media_type or spec.DOCKER_MANIFEST
    got = registry.put_manifest(repo, ref.tag or "latest", manifest_bytes, media)
    if got and got.startswith("sha256:") and got != manifest_digest:
        raise CorruptContent(f"registry stored the manifest as {got}, expected {manifest_digest}")
    store.meta.add_repo_digest(ref.name, manifest_digest, image.id)
    yield pm.status(f"{ref.tag}: digest: {manifest_digest} size: {len(manifest_bytes)}")
    yield {
        "progressDetail": {},
        "aux": {"Tag": ref.tag, "Digest": manifest_digest, "Size": len(manifest_bytes)},
    }


def _mount_sources(store: ImageStore, image_id: str, ref: reference.Reference) -> dict[str, str]:
    """Other repositories on the same registry that hold this image's blobs."""
    out: dict[str, str] = {}
    for name, _digest in store.meta.repo_digests_of(image_id):
        other = reference.parse(name + ":x")
        if other.domain == ref.domain and other.path != ref.path:
            out.setdefault("*", other.path)
    return out


def _push_blob(
    store: ImageStore,
    registry: Registry,
    repo: str,
    desc: spec.Descriptor,
    sources: dict[str, str],
    events: queue.Queue[pm.Message | tuple[str, BaseException | None]],
    cancel: threading.Event,
    progress: bool,
) -> None:
    ident = Digest.parse(desc.digest).short
    if registry.blob_exists(repo, desc.digest, registry.push_scope(repo)):
        if progress:
            events.put(pm.status("Layer already exists", ident))
        return
    source = sources.get("*")
    location, mounted = registry.start_upload(repo, desc.digest, source)
    if mounted:
        if progress:
            events.put(pm.status(f"Mounted from {source}", ident))
        return
    assert location is not None
    size = store.content.size(desc.digest)
    sent = [0, 0]

    def report(n: int) -> None:
        if cancel.is_set():
            raise CorruptContent("push cancelled")
        sent[0] += n
        if progress and (sent[0] - sent[1] >= PROGRESS_EVERY or sent[0] == size):
            sent[1] = sent[0]
            events.put(pm.progress("Pushing", ident, sent[0], size))

    with store.content.open(desc.digest) as f:
        if size <= CHUNK_SIZE:
            registry.upload_monolithic(repo, location, desc.digest, _Reporting(f, report), size)
        else:
            offset = 0
            while offset < size:
                data = f.read(CHUNK_SIZE)
                location = registry.upload_chunk(repo, location, data, offset)
                offset += len(data)
                report(len(data))
            registry.finish_upload(repo, location, desc.digest)
    if progress:
        events.put(pm.status("Pushed", ident))


class _Reporting:
    """A file wrapper for http.client bodies that reports bytes read."""

    def __init__(self, f: object, report: Callable[[int], None]) -> None:
        self.f = f
        self.report = report

    def read(self, n: int = -1) -> bytes:
        data: bytes = self.f.read(n)  # type: ignore[attr-defined]
        if data:
            self.report(len(data))
        return data


def manifest_json(data: bytes) -> dict[str, object]:
    doc = jsonio.loads(data, "manifest")
    assert isinstance(doc, dict)
    return doc
