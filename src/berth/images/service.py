"""The image service: one method per Docker Engine API image endpoint, Docker's JSON out.

=====================================  ==============================================
endpoint                               method
=====================================  ==============================================
POST /images/create?fromImage=         :meth:`ImageService.pull` (progress messages)
POST /images/create?fromSrc=           :meth:`ImageService.import_image` (messages)
POST /images/{name}/push               :meth:`ImageService.push` (progress messages)
GET  /images/json                      :meth:`ImageService.list_images` (ImageSummary)
GET  /images/{name}/json               :meth:`ImageService.inspect` (ImageInspect)
GET  /images/{name}/history            :meth:`ImageService.history`
POST /images/{name}/tag                :meth:`ImageService.tag`
DELETE /images/{name}                  :meth:`ImageService.remove` (Untagged/Deleted)
GET  /images/get, /images/{name}/get   :meth:`ImageService.save` (tar byte chunks)
POST /images/load                      :meth:`ImageService.load` (messages)
POST /images/prune                     :meth:`ImageService.prune`
POST /auth                             :meth:`ImageService.auth`
=====================================  ==============================================

Errors are berth.errors (NotFound 404, Conflict 409, InvalidArgument 400,
Unauthorized 401); a streaming method raises before its first message when
the request is wrong, and afterwards the front end turns an error into
Docker's ``{"errorDetail": ..., "error": ...}`` message.
"""

from __future__ import annotations

import os
import time

from berth.errors import Conflict, InvalidArgument, NotFound
from berth.images import credentials as creds
from berth.images import filters as flt
from berth.images.registry import Credentials, Registry
from berth.images.store import DEFAULT_ROOT, Image, ImageStore
from berth.oci import reference

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from typing import Any

    from berth.images.progress import Message
    from berth.kernel.syscalls import Syscalls

LIST_FILTERS = ("dangling", "label", "reference", "before", "since", "until")
PRUNE_FILTERS = ("dangling", "label", "until")
ZERO_TIME = "0001-01-01T00:00:00Z"


def _rfc3339_to_unix(text: str) -> int:
    if not text:
        return 0
    import datetime as dt

    t = text.rstrip("Z").split(".")[0]
    try:
        return int(dt.datetime.fromisoformat(t).replace(tzinfo=dt.UTC).timestamp())
    except ValueError:
        return 0


def _unix_to_rfc3339(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d}Z"


class ImageService:
    def __init__(
        self,
        root: str = DEFAULT_ROOT,
        *,
        store: ImageStore | None = None,
        sys: Syscalls | None = None,
        insecure_registries: Iterable[str] = (),
        auth_config: str | None = None,
        max_concurrent_downloads: int = 3,
        max_concurrent_uploads: int = 5,
    ) -> None:
        self.store = store or ImageStore(root, sys)
        self.insecure = list(insecure_registries)
        self.auth_config = auth_config
        self.max_downloads = max_concurrent_downloads
        self.max_uploads = max_concurrent_uploads

    @classmethod
    def for_daemon(cls, daemon: Any) -> ImageService:
        """The daemon's image service: its root, database and registry settings.

        Every part of berthd uses the same one:
        ``daemon.service("images", lambda: ImageService.for_daemon(daemon))``.
        """
        config = daemon.config
        # its own connection to <root>/berth.db: daemon.db may not be taken from
        # inside a daemon.service() factory (both hold the daemon's services lock)
        store = ImageStore(config.data_root)
        return cls(store=store, insecure_registries=config.insecure_registries)

    def close(self) -> None:
        self.store.close()

    # -- registries -------------------------------------------------------------------
    def registry(self, domain: str, auth: Credentials | dict[str, Any] | None = None) -> Registry:
        """A client for ``domain`` with the request's credentials or the stored ones."""
        if isinstance(auth, dict):
            auth = Credentials(
                str(auth.get("username", "")),
                str(auth.get("password", "")),
                str(auth.get("identitytoken", "")),
            )
        if auth is None or not (auth.username or auth.token):
            auth = creds.load(domain, self.auth_config)
        return Registry(domain, auth, self.insecure)

    def auth(self, body: dict[str, Any]) -> dict[str, str]:
        """POST /auth: check credentials against the registry."""
        server = str(body.get("serveraddress") or "docker.io")
        domain = creds.server_key(server)
        domain = "docker.io" if domain == creds.HUB_KEY else domain
        reg = self.registry(domain, body)
        try:
            reg.ping()
        finally:
            reg.close()
        return {"Status": "Login Succeeded", "IdentityToken": ""}

    def pull(
        self,
        image: str,
        tag: str | None = None,
        platform: str | None = None,
        auth: dict[str, Any] | None = None,
    ) -> Iterator[Message]:
        """POST /images/create?fromImage=IMAGE&tag=TAG (TAG may also be a digest)."""
        from berth.images.pull import pull

        text = image
        if tag:
            text += ("@" if ":" in tag and tag.startswith("sha") else ":") + tag
        ref = reference.parse(text)
        reg = self.registry(ref.domain, auth)
        try:
            yield from pull(
                self.store, text, registry=reg, platform=platform, max_concurrent=self.max_downloads
            )
        finally:
            reg.close()

    def push(
        self, name: str, tag: str | None = None, auth: dict[str, Any] | None = None
    ) -> Iterator[Message]:
        from berth.images.push import push

        ref = reference.parse(name, default_tag=False)
        reg = self.registry(ref.domain, auth)
        try:
            yield from push(self.store, name, tag, registry=reg, max_concurrent=self.max_uploads)
        finally:
            reg.close()

    # -- listing and inspecting ------------------------------------------------------------
    def list_images(
        self, all: bool = False, filters: str | dict[str, Any] | None = None, digests: bool = False
    ) -> list[dict[str, Any]]:
        """GET /images/json: ImageSummary objects, newest first."""
        f = flt.parse_filters(filters, LIST_FILTERS)
        counts = self.store.meta.container_counts()
        images = self.store.meta.images()
        before = since = None
        if "before" in f:
            before = self._created(self.store.resolve(f["before"][0]))
        if "since" in f:
            since = self._created(self.store.resolve(f["since"][0]))
        # intermediate images (untagged, with children: a build's steps) are shown
        # only with all, as in Docker
        parents = {str(r.get("parent") or "") for r in images}
        out = []
        for row in images:
            image = self.store.get(str(row["id"]))
            if not all and not image.repo_tags and image.id in parents:
                continue
            created = self._created(image)
            if "dangling" in f and flt.truthy(f["dangling"], "dangling") != (not image.repo_tags):
                continue
            if "label" in f and not flt.labels_match(image.container_config.labels, f["label"]):
                continue
            if before is not None and created >= before:
                continue
            if since is not None and created <= since:
                continue
            if "until" in f and created > _until(f["until"][0]):
                continue
            tags = image.repo_tags
            if "reference" in f:
                tags = [t for t in tags if any(_ref_match(p, t) for p in f["reference"])]
                if not tags:
                    continue
            out.append(self._summary(image, tags, created, counts.get(image.id, 0)))
        out.sort(key=lambda s: s["Created"], reverse=True)
        return out

    def _created(self, image: Image) -> int:
        return _rfc3339_to_unix(image.config.created or "") or int(float(str(image.meta["added"])))

    def _summary(
        self, image: Image, tags: list[str], created: int, containers: int
    ) -> dict[str, Any]:
        return {
            "Id": image.id,
            "ParentId": image.meta.get("parent") or "",
            "RepoTags": tags,
            "RepoDigests": image.repo_digests,
            "Created": created,
            "Size": image.size,
            "SharedSize": -1,
            "Labels": image.container_config.labels or {},
            "Containers": containers,
        }

    def inspect(self, name: str) -> dict[str, Any]:
        """GET /images/{name}/json: Docker's ImageInspect."""
        image = self.store.resolve(name)
        cfg = image.config
        last = image.meta.get("last_tag_time")
        lowers = self.store.snapshots.lowerdirs(image.chain_ids) if image.layers else []
        graph: dict[str, Any] = {"Name": "overlay2", "Data": None}
        if lowers:
            graph["Data"] = {"MergedDir": "", "UpperDir": lowers[0], "WorkDir": ""}
            if len(lowers) > 1:
                graph["Data"]["LowerDir"] = ":".join(lowers[1:])
        out: dict[str, Any] = {
            "Id": image.id,
            "RepoTags": image.repo_tags,
            "RepoDigests": image.repo_digests,
            "Parent": image.meta.get("parent") or "",
            "Comment": cfg.comment or "",
            "Created": cfg.created or _unix_to_rfc3339(float(str(image.meta["added"]))),
            "DockerVersion": cfg.docker_version or "",
            "Author": cfg.author or "",
            "Config": container_config_json(image),
            "Architecture": cfg.architecture,
            "Os": cfg.os,
            "Size": image.size,
            "GraphDriver": graph,
            "RootFS": {"Type": "layers", "Layers": image.diff_ids},
            "Metadata": {"LastTagTime": _unix_to_rfc3339(float(str(last))) if last else ZERO_TIME},
        }
        if cfg.variant:
            out["Variant"] = cfg.variant
        if cfg.os_version:
            out["OsVersion"] = cfg.os_version
        return out

    def history(self, name: str) -> list[dict[str, Any]]:
        """GET /images/{name}/history: newest first; ``<missing>`` for lower entries."""
        image = self.store.resolve(name)
        sizes = [self.store.meta.snapshot_size(c) or 0 for c in image.chain_ids]
        entries = list(image.config.history or ())
        out = []
        layer = 0
        for h in entries:
            size = 0
            if not h.empty_layer and layer < len(sizes):
                size = sizes[layer]
                layer += 1
            out.append(
                {
                    "Id": "<missing>",
                    "Created": _rfc3339_to_unix(h.created or ""),
                    "CreatedBy": h.created_by or "",
                    "Tags": None,
                    "Size": size,
                    "Comment": h.comment or "",
                }
            )
        if not out:  # an image without history: one entry per layer
            for size in sizes or [0]:
                out.append(
                    {
                        "Id": "<missing>",
                        "Created": self._created(image),
                        "CreatedBy": "",
                        "Tags": None,
                        "Size": size,
                        "Comment": "",
                    }
                )
        out.reverse()
        out[0]["Id"] = image.id
        out[0]["Tags"] = image.repo_tags or None
        return out

    # -- names ---------------------------------------------------------------------------
    def tag(self, source: str, repo: str, tag: str | None = None) -> None:
        """POST /images/{name}/tag?repo=&tag= (201, no body)."""
        image_id = self.store.resolve_id(source)
        text = repo + (f":{tag}" if tag else "")
        ref = reference.parse(text)
        if ref.digest is not None:
            raise InvalidArgument("refusing to create a tag with a digest reference")
        self.store.tag(ref, image_id)

    def remove(self, name: str, force: bool = False, noprune: bool = False) -> list[dict[str, str]]:
        """DELETE /images/{name}: Docker's list of {"Untagged": ...} and {"Deleted": ...}."""
        image_id = self.store.resolve_id(name)
        image = self.store.get(image_id)
        out: list[dict[str, str]] = []
        ref = reference.try_parse(name)
        by_name = ref is not None and not _looks_like_id(name, image_id)
        users = self.store.meta.containers_using(image_id)
        tags = self.store.meta.tags_of(image_id)
        children = [str(r["id"]) for r in self.store.meta.images() if r.get("parent") == image_id]
        if by_name and ref is not None:
            key = f"{ref.name}:{ref.tag}" if ref.digest is None else None
            if key is not None and key in tags and children and not users:
                # as Docker: a name of an image that others were built on goes, the image
                # stays (untagged) for its children
                self.store.meta.untag(key)
                return [{"Untagged": reference.parse(key).familiar()}]
            if key is not None and key in tags and (len(tags) > 1 or users):
                if users and len(tags) == 1 and not force:
                    raise Conflict(
                        f"conflict: unable to remove repository reference {name!r} "
                        f"(must force) - container {users[0][:12]} is using its referenced "
                        f"image {image_id[7:19]}"
                    )
                self.store.meta.untag(key)
                return [{"Untagged": reference.parse(key).familiar()}]
        else:
            repos = {reference.parse(t).name for t in tags}
            if len(repos) > 1 and not force:
                raise Conflict(
                    f"conflict: unable to delete {image_id[7:19]} (must be forced) "
                    "- image is referenced in multiple repositories"
                )
        if users and not force:
            raise Conflict(
                f"conflict: unable to delete {image_id[7:19]} (must be forced) "
                f"- image is being used by stopped container {users[0][:12]}"
            )
        if children and not force:
            raise Conflict(
                f"conflict: unable to delete {image_id[7:19]} (cannot be forced) "
                "- image has dependent child images"
            )
        for t in tags:
            self.store.meta.untag(t)
            out.append({"Untagged": reference.parse(t).familiar()})
        for d in image.repo_digests:
            out.append({"Untagged": d})
        if users:  # forced while in use: only untagged, as Docker does
            self.store.meta.remove_repo_digests(image_id)
            return out
        self.store.meta.delete_image(image_id)
        out.append({"Deleted": image_id})
        if not noprune:
            out.extend({"Deleted": p} for p in self._remove_bare_parents(image))
            deleted, _blobs, _ = self.store.gc()
            out.extend({"Deleted": c} for c in deleted)
        return out

    def _remove_bare_parents(self, image: Image) -> list[str]:
        """After ``image`` went: its untagged, unused parents with no other child go too
        (a build's intermediate images), as Docker's rmi does unless ``noprune``."""
        gone: list[str] = []
        parent = str(image.meta.get("parent") or "")
        while parent:
            rows = self.store.meta.images()
            row = next((r for r in rows if r["id"] == parent), None)
            if row is None or self.store.meta.tags_of(parent):
                break
            if any(r.get("parent") == parent for r in rows):
                break
            if self.store.meta.containers_using(parent):
                break
            self.store.meta.delete_image(parent)
            gone.append(parent)
            parent = str(row.get("parent") or "")
        return gone

    def prune(self, filters: str | dict[str, Any] | None = None) -> dict[str, Any]:
        """POST /images/prune: {"ImagesDeleted": [...], "SpaceReclaimed": N}."""
        f = flt.parse_filters(filters, PRUNE_FILTERS)
        dangling_only = flt.truthy(f["dangling"], "dangling") if "dangling" in f else True
        counts = self.store.meta.container_counts()
        deleted: list[dict[str, str]] = []
        before = self._disk_usage()
        # only images without children are candidates (a build's intermediate images
        # stay while the image built on them does); removing one may free its parent:
        # repeat until nothing more goes
        removed = True
        while removed:
            removed = self._prune_pass(f, dangling_only, counts, deleted)
        snaps, _blobs, _ = self.store.gc()
        deleted.extend({"Deleted": c} for c in snaps)
        reclaimed = max(0, before - self._disk_usage())
        return {"ImagesDeleted": deleted or None, "SpaceReclaimed": reclaimed}

    def _prune_pass(
        self,
        f: dict[str, list[str]],
        dangling_only: bool,
        counts: dict[str, int],
        deleted: list[dict[str, str]],
    ) -> bool:
        rows = self.store.meta.images()
        parents = {str(r.get("parent") or "") for r in rows}
        removed = False
        for row in rows:
            image = self.store.get(str(row["id"]))
            if image.id in parents:
                continue
            if counts.get(image.id):
                continue
            if dangling_only and image.repo_tags:
                continue
            if "label" in f and not flt.labels_match(image.container_config.labels, f["label"]):
                continue
            if "until" in f and self._created(image) > _until(f["until"][0]):
                continue
            for t in self.store.meta.tags_of(image.id):
                self.store.meta.untag(t)
                deleted.append({"Untagged": reference.parse(t).familiar()})
            self.store.meta.delete_image(image.id)
            deleted.append({"Deleted": image.id})
            removed = True
        return removed

    def layers_size(self) -> int:
        """Bytes of all unpacked layers (``/system/df`` LayersSize)."""
        return sum(self.store.meta.snapshot_size(c) or 0 for c in self.store.meta.snapshots())

    def _disk_usage(self) -> int:
        total = 0
        for chain in self.store.meta.snapshots():
            total += self.store.meta.snapshot_size(chain) or 0
        for digest in self.store.content.walk():
            try:
                total += self.store.content.size(digest)
            except NotFound:
                pass
        return total

    # -- archives ----------------------------------------------------------------------
    def save(self, names: list[str]) -> Iterator[bytes]:
        """GET /images/get?names=...: a docker-archive with an OCI layout, as chunks."""
        from berth.images.archive import save

        return save(self.store, names)

    def load(self, body: object, quiet: bool = False) -> Iterator[Message]:
        """POST /images/load: read a docker-archive / OCI archive from a file-like body."""
        from berth.images.archive import load

        return load(self.store, body, quiet)

    def import_image(
        self,
        body: object,
        repo: str | None = None,
        tag: str | None = None,
        message: str = "",
        changes: list[str] | None = None,
        platform: str | None = None,
        source: str = "-",
    ) -> Iterator[Message]:
        """POST /images/create?fromSrc=-: a rootfs tar (plain or compressed) -> image."""
        from berth.images.importer import import_rootfs

        return import_rootfs(self.store, body, repo, tag, message, changes or [], platform, source)


def container_config_json(image: Image) -> dict[str, Any]:
    """The image's Config in Docker's inspect shape (all classic keys present)."""
    c = image.container_config
    out: dict[str, Any] = {
        "Hostname": c.hostname or "",
        "Domainname": c.domainname or "",
        "User": c.user or "",
        "AttachStdin": False,
        "AttachStdout": False,
        "AttachStderr": False,
        "Tty": False,
        "OpenStdin": False,
        "StdinOnce": False,
        "Env": list(c.env) if c.env is not None else None,
        "Cmd": list(c.cmd) if c.cmd is not None else None,
        "Image": "",
        "Volumes": c.volumes,
        "WorkingDir": c.working_dir or "",
        "Entrypoint": list(c.entrypoint) if c.entrypoint is not None else None,
        "OnBuild": list(c.on_build) if c.on_build is not None else None,
        "Labels": c.labels,
    }
    if c.exposed_ports:
        out["ExposedPorts"] = c.exposed_ports
    if c.stop_signal:
        out["StopSignal"] = c.stop_signal
    if c.healthcheck is not None:
        out["Healthcheck"] = c.healthcheck.to_json()
    if c.shell is not None:
        out["Shell"] = list(c.shell)
    if c.args_escaped is not None:
        out["ArgsEscaped"] = c.args_escaped
    return out


def _looks_like_id(name: str, image_id: str) -> bool:
    hexpart = name.removeprefix("sha256:")
    return image_id.startswith("sha256:" + hexpart) and all(
        ch in "0123456789abcdef" for ch in hexpart
    )


def _ref_match(pattern: str, tag: str) -> bool:
    name = tag.rsplit(":", 1)[0] if tag.rfind(":") > tag.rfind("/") else tag
    return flt.glob_match(pattern, tag) or flt.glob_match(pattern, name)


def _until(text: str) -> float:
    """``until``: a unix time, an RFC 3339 time, or a duration before now (``10m``, ``2h``)."""
    try:
        return float(text)
    except ValueError:
        pass
    units = {"s": 1, "m": 60, "h": 3600}
    if text and text[-1] in units:
        try:
            return time.time() - float(text[:-1]) * units[text[-1]]
        except ValueError:
            pass
    t = _rfc3339_to_unix(text)
    if not t:
        raise InvalidArgument(f"invalid filter 'until={text}'")
    return float(t)


def default_root() -> str:
    return os.environ.get("BERTH_ROOT", DEFAULT_ROOT)
