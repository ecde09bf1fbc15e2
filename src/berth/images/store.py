"""The image store: content + snapshots + metadata under one root, and what the engine asks of it.

``ImageStore(root)`` owns (design.md's layout)::

    <root>/berth.db                    metadata (component "images", berth.images.db)
    <root>/content/blobs/sha256/<hex>  manifests, configs, compressed layers
    <root>/content/ingest/             blobs being written
    <root>/snapshots/<chain hex>/fs    unpacked layers

For the engine (containers):

- :meth:`ImageStore.resolve` — name, ``name:tag``, ``name@digest``, full or
  short image ID -> :class:`Image` (config, layers' chain IDs).
- :meth:`ImageStore.rootfs_mounts` — a container's rootfs as MountOps
  (overlay; apply with :func:`berth.kernel.fsmount.apply`).
- :meth:`ImageStore.add_container_ref` / :meth:`remove_container_ref` — so
  that removing an image in use is refused unless forced.
- :meth:`ImageStore.lease` — a context manager that keeps blobs and
  snapshots of in-flight work (a pull, a build, a commit) from :meth:`gc`.

Images become visible in one transaction after every blob and snapshot they
need is committed, so an interrupted pull never leaves a half image.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

from berth.content.store import ContentStore, _alive
from berth.errors import CorruptContent, InvalidArgument, NotFound
from berth.images.db import ImageDB, LayerRow
from berth.oci import image_spec as spec
from berth.oci import reference
from berth.oci.digest import Digest, chain_ids, is_digest
from berth.snapshots.store import Snapshotter
from berth.store.db import Database

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

    from berth.kernel.mountplan import MountOp
    from berth.kernel.syscalls import Syscalls

DEFAULT_ROOT = "/var/lib/berth"
LEASE_TTL = 24 * 3600.0


class Image:
    """An image as the engine sees it."""

    __slots__ = (
        "config",
        "config_bytes",
        "id",
        "layers",
        "manifest",
        "meta",
        "repo_digests",
        "repo_tags",
    )

    def __init__(
        self,
        image_id: str,
        config: spec.ImageConfig,
        config_bytes: bytes,
        layers: list[LayerRow],
        repo_tags: list[str],
        repo_digests: list[str],
        meta: dict[str, object],
    ) -> None:
        self.id = image_id
        self.config = config
        self.config_bytes = config_bytes
        self.layers = layers
        self.repo_tags = repo_tags
        self.repo_digests = repo_digests
        self.meta = meta
        self.manifest = meta.get("manifest")

    @property
    def chain_ids(self) -> list[str]:
        return [lr.chain_id for lr in self.layers]

    @property
    def diff_ids(self) -> list[str]:
        return [lr.diff_id for lr in self.layers]

    @property
    def container_config(self) -> spec.ContainerConfig:
        return self.config.config or spec.ContainerConfig()

    @property
    def size(self) -> int:
        size = self.meta.get("size")
        return size if isinstance(size, int) else 0

    def __repr__(self) -> str:
        return f"Image({self.id[:19]}, tags={self.repo_tags})"


#: image configs an ImageStore keeps parsed (see ImageStore.get)
_CONFIGS_KEPT = 64


class ImageStore:
    def __init__(
        self, root: str = DEFAULT_ROOT, sys: Syscalls | None = None, db: Database | None = None
    ) -> None:
        self.root = root
        os.makedirs(root, exist_ok=True)
        self._own_db = db is None
        self.database = db or Database(os.path.join(root, "berth.db"))
        self.meta = ImageDB(self.database)
        self.content = ContentStore(os.path.join(root, "content"))
        self.snapshots = Snapshotter(os.path.join(root, "snapshots"), sys)
        self.content.sweep_ingest()
        self.snapshots.sweep()
        # image ID -> (its config, parsed; its bytes): an ID names its config's content,
        # so what was read and checked once is kept (a container create reads it)
        self._configs: dict[str, tuple[spec.ImageConfig, bytes]] = {}

    def close(self) -> None:
        if self._own_db:
            self.database.close()

    def __enter__(self) -> ImageStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- resolving ------------------------------------------------------------------
    def resolve_id(self, name: str) -> str:
        """The image ID for a name, ``name:tag``, ``name@digest``, full or short ID."""
        if not name:
            raise InvalidArgument("image name must not be empty")
        if is_digest(name):
            if self.meta.image(name):
                return name
            raise NotFound(f"No such image: {name}")
        ref: reference.Reference | None = None
        try:
            ref = reference.parse(name)
        except InvalidArgument:
            ref = None
        if ref is not None:
            if ref.digest is not None:
                found = self.meta.by_repo_digest(ref.name, ref.digest)
                if found:
                    return found
            elif ref.tag is not None:
                found = self.meta.tag_target(str(ref))
                if found:
                    return found
        hexpart = name.removeprefix("sha256:")
        if 1 <= len(hexpart) <= 64 and all(ch in "0123456789abcdef" for ch in hexpart):
            matches = self.meta.ids_with_prefix("sha256:" + hexpart)
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                raise InvalidArgument(f"{name}: ambiguous image ID prefix; give more digits")
        if ref is None and not hexpart:
            raise InvalidArgument(f"invalid reference format: {name!r}")
        raise NotFound(f"No such image: {name}")

    def resolve(self, name: str) -> Image:
        return self.get(self.resolve_id(name))

    def get(self, image_id: str) -> Image:
        meta = self.meta.image(image_id)
        if meta is None:
            raise NotFound(f"No such image: {image_id}")
        known = self._configs.get(image_id)
        if known is None:
            config_bytes = self.content.read(image_id)
            from berth import jsonio

            config = spec.ImageConfig.from_json(
                jsonio.loads(config_bytes, "image config"), "config"
            )
            if len(self._configs) >= _CONFIGS_KEPT:
                self._configs.pop(next(iter(self._configs)))
            self._configs[image_id] = (config, config_bytes)
        else:
            config, config_bytes = known
        tags = [reference.parse(t).familiar() for t in self.meta.tags_of(image_id)]
        digests = [
            f"{reference.parse(n).familiar_name}@{d}"
            for n, d in self.meta.repo_digests_of(image_id)
        ]
        return Image(
            image_id, config, config_bytes, self.meta.layers(image_id), tags, digests, meta
        )

    def exists(self, image_id: str) -> bool:
        return self.meta.image(image_id) is not None

    # -- adding -----------------------------------------------------------------------
    def layer_rows(
        self, config: spec.ImageConfig, blobs: list[spec.Descriptor] | None
    ) -> list[LayerRow]:
        diff_ids = list(config.rootfs.diff_ids)
        chains = chain_ids(diff_ids)
        rows = []
        for i, (diff, chain) in enumerate(zip(diff_ids, chains, strict=True)):
            d = blobs[i] if blobs else None
            rows.append(
                LayerRow(
                    chain,
                    diff,
                    d.digest if d else None,
                    d.media_type if d else None,
                    d.size if d else None,
                )
            )
        return rows

    def register(
        self,
        config_digest: str,
        config: spec.ImageConfig,
        manifest_digest: str | None,
        layers: list[LayerRow],
        names: list[reference.Reference] = (),  # type: ignore[assignment]
        repo_digest: reference.Reference | None = None,
        parent: str = "",
    ) -> bool:
        """Make an image visible (all its blobs and snapshots must exist); tag it."""
        for lr in layers:
            if not self.snapshots.exists(lr.chain_id):
                raise CorruptContent(f"image {config_digest}: layer {lr.chain_id} is not unpacked")
        size = sum(self.meta.snapshot_size(lr.chain_id) or 0 for lr in layers)
        new = self.meta.put_image(
            config_digest, manifest_digest, config.created or "", layers, size, parent
        )
        for ref in names:
            self.tag(ref, config_digest)
        if repo_digest is not None and repo_digest.digest is not None:
            self.meta.add_repo_digest(repo_digest.name, repo_digest.digest, config_digest)
        return new

    def tag(self, ref: reference.Reference, image_id: str) -> str | None:
        """Point a tag at an image; return the image it pointed at before (or None)."""
        if ref.tag is None:
            raise InvalidArgument(f"{ref}: a tag is needed")
        name = f"{ref.name}:{ref.tag}"
        return self.meta.tag(name, image_id)

    def unpack_local(self, layer: LayerRow, what: str = "layer") -> int:
        """Unpack a layer from its blob in the content store (load, import, commit)."""
        from berth.content.stream import CountingHasher, Decompressor, Prefetch, sniff_compression

        if self.snapshots.exists(layer.chain_id):
            return self.meta.snapshot_size(layer.chain_id) or 0
        if layer.blob is None:
            raise NotFound(f"{what}: no blob for layer {layer.diff_id}")
        with self.content.open(layer.blob) as f:
            head = f.read(4)
            f.seek(0)
            with Prefetch(Decompressor(f, sniff_compression(head), what)) as ahead:
                counted = CountingHasher(ahead)

                def verify() -> None:
                    counted.drain()
                    counted.hasher.verify(layer.diff_id, None, f"{what} (uncompressed)")

                result = self.snapshots.unpack(layer.chain_id, counted, what, verify)  # type: ignore[arg-type]
        self.meta.put_snapshot(layer.chain_id, layer.diff_id, result.size)
        return result.size

    # -- containers ---------------------------------------------------------------------
    def add_container_ref(self, container_id: str, image_id: str) -> None:
        if not self.exists(image_id):
            raise NotFound(f"No such image: {image_id}")
        self.meta.add_container_ref(container_id, image_id)

    def remove_container_ref(self, container_id: str) -> None:
        self.meta.remove_container_ref(container_id)

    def rootfs_mounts(
        self, image: Image | str, container_dir: str, target: str, *, volatile: bool = False
    ) -> list[MountOp]:
        """The mounts of a container's rootfs on ``target``; ``image``: the image or
        its ID (a container start: only the layers are read then, not the config).
        ``volatile``: the writable layer goes with the container (see
        :meth:`~berth.snapshots.store.Snapshotter.container_mounts`)."""
        if isinstance(image, str):
            layers = self.meta.layers(image)
            if not layers and not self.exists(image):
                raise NotFound(f"No such image: {image}")
            chains = [lr.chain_id for lr in layers]
        else:
            chains = image.chain_ids
        return self.snapshots.container_mounts(chains, container_dir, target, volatile=volatile)

    # -- leases and garbage collection -------------------------------------------------
    @contextmanager
    def lease(self, ttl: float = LEASE_TTL) -> Iterator[Lease]:
        lease = Lease(self, f"{os.getpid()}-{os.urandom(8).hex()}")
        self.meta.create_lease(lease.id, os.getpid(), ttl)
        try:
            yield lease
        finally:
            self.meta.delete_lease(lease.id)

    def gc(self) -> tuple[list[str], list[str], int]:
        """Remove blobs and snapshots no image, container or live lease needs.

        Returns (deleted snapshot chain IDs, deleted blob digests, bytes reclaimed).
        """
        from berth import jsonio

        leased = self.meta.leased(_alive)
        keep_blobs = {k for kind, k in leased if kind == "blob"}
        keep_snaps = {k for kind, k in leased if kind == "snapshot"}
        for img in self.meta.images():
            image_id = str(img["id"])
            keep_blobs.add(image_id)
            manifest = img.get("manifest")
            if manifest:
                keep_blobs.add(str(manifest))
                try:
                    doc = jsonio.loads(self.content.read(str(manifest), verify=False))
                    for d in doc.get("layers", ()):
                        keep_blobs.add(d.get("digest", ""))
                except (NotFound, InvalidArgument):
                    pass
            for lr in self.meta.layers(image_id):
                keep_snaps.add(lr.chain_id)
                if lr.blob:
                    keep_blobs.add(lr.blob)
        deleted_snaps: list[str] = []
        reclaimed = 0
        for chain in list(self.snapshots.walk()):
            if chain not in keep_snaps:
                reclaimed += self.meta.snapshot_size(chain) or 0
                self.snapshots.remove(chain)
                self.meta.delete_snapshot(chain)
                deleted_snaps.append(chain)
        for known in self.meta.snapshots():
            if known not in keep_snaps and not self.snapshots.exists(known):
                self.meta.delete_snapshot(known)
        deleted_blobs: list[str] = []
        for digest in list(self.content.walk()):
            if digest not in keep_blobs:
                try:
                    reclaimed += self.content.size(digest)
                except NotFound:
                    continue
                self.content.delete(digest)
                deleted_blobs.append(digest)
        return deleted_snaps, deleted_blobs, reclaimed


class Lease:
    """Resources named here survive :meth:`ImageStore.gc` while the lease lives."""

    def __init__(self, store: ImageStore, lease_id: str) -> None:
        self.store = store
        self.id = lease_id

    def blob(self, digest: str) -> None:
        self.store.meta.lease_add(self.id, "blob", digest)

    def snapshot(self, chain_id: str) -> None:
        self.store.meta.lease_add(self.id, "snapshot", chain_id)


def image_digest_ref(ref: reference.Reference, digest: str) -> reference.Reference:
    return reference.Reference(ref.domain, ref.path, None, Digest.parse(digest))
