"""Image endpoints of the Engine API (the service is berth.images.service.ImageService).

==========================================  =====================================
route                                       answer
==========================================  =====================================
POST   /images/create?fromImage=&tag=        JSON message stream (pull)
POST   /images/create?fromSrc=-&repo=&tag=   JSON message stream (import; body: tar)
POST   /images/{name}/push?tag=              JSON message stream
GET    /images/json?all=&filters=&digests=   [ImageSummary]
GET    /images/{name}/json                   ImageInspect
GET    /images/{name}/history                [HistoryResponseItem]
POST   /images/{name}/tag?repo=&tag=         201, no body
DELETE /images/{name}?force=&noprune=        [{"Untagged"} | {"Deleted"}]
GET    /images/get?names=, /images/{name}/get  application/x-tar stream
POST   /images/load?quiet=                   JSON message stream (body: tar)
POST   /images/prune?filters=                {"ImagesDeleted", "SpaceReclaimed"}
POST   /auth                                 {"Status": "Login Succeeded"}
==========================================  =====================================

Registry credentials come in the ``X-Registry-Auth`` header (base64url JSON,
as docker sends it). A stream's first message is produced before the
response head, so a failure before any progress (an unknown image, refused
credentials) is an HTTP error; later failures are in-band error messages.
"""

from __future__ import annotations

from berth.api.response import Response, Stream
from berth.errors import BerthError, InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from berth.api.request import Request
    from berth.api.router import Router
    from berth.engine.daemon import Daemon
    from berth.images.service import ImageService


def registry_auth(req: Request) -> dict[str, Any] | None:
    """The decoded ``X-Registry-Auth`` header (None when absent or empty)."""
    raw = req.headers.get("x-registry-auth", "").strip()
    if not raw:
        return None
    import base64

    from berth.jsonio import loads

    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    except ValueError:
        raise InvalidArgument("X-Registry-Auth: not base64") from None
    if not text.strip():
        return None
    doc = loads(text, "X-Registry-Auth")
    if not isinstance(doc, dict):
        raise InvalidArgument("X-Registry-Auth: expected a JSON object")
    return doc


def message_stream(messages: Iterator[dict[str, Any]]) -> Stream:
    """Run the producer to its first message now; report later errors in-band."""
    from berth.images.progress import error

    try:
        first = next(messages)
    except StopIteration:
        return Stream(iter(()))

    def rest() -> Iterator[object]:
        yield first
        try:
            yield from messages
        except BerthError as e:
            yield error(str(e))

    return Stream(rest())


def _service(daemon: Daemon) -> ImageService:
    from berth.images.service import ImageService

    svc: ImageService = daemon.service("images", lambda: ImageService.for_daemon(daemon))
    return svc


def register(router: Router, daemon: Daemon) -> None:
    def images() -> ImageService:
        return _service(daemon)

    def create(req: Request) -> object:
        src = req.arg("fromSrc")
        if src is not None:
            if src != "-":
                raise InvalidArgument("fromSrc: only '-' (the request body) is supported")
            return message_stream(
                images().import_image(
                    req.body,
                    repo=req.arg("repo") or None,
                    tag=req.arg("tag") or None,
                    message=req.arg("message", "") or "",
                    changes=req.args("changes"),
                    platform=req.arg("platform") or None,
                )
            )
        image = req.arg("fromImage")
        if not image:
            raise InvalidArgument("fromImage or fromSrc is required")
        return message_stream(
            images().pull(
                image,
                req.arg("tag") or None,
                platform=req.arg("platform") or None,
                auth=registry_auth(req),
            )
        )

    def push(req: Request) -> object:
        return message_stream(
            images().push(req.params["name"], req.arg("tag") or None, auth=registry_auth(req))
        )

    def list_images(req: Request) -> object:
        return images().list_images(
            all=req.arg_bool("all"),
            filters=req.arg("filters") or None,
            digests=req.arg_bool("digests"),
        )

    def inspect(req: Request) -> object:
        return images().inspect(req.params["name"])

    def history(req: Request) -> object:
        return images().history(req.params["name"])

    def tag(req: Request) -> object:
        repo = req.arg("repo")
        if not repo:
            raise InvalidArgument("repo is required")
        images().tag(req.params["name"], repo, req.arg("tag") or None)
        return Response(201)

    def remove(req: Request) -> object:
        return images().remove(
            req.params["name"], force=req.arg_bool("force"), noprune=req.arg_bool("noprune")
        )

    def save(req: Request) -> object:
        names = [req.params["name"]] if "name" in req.params else req.args("names")
        chunks = images().save(names)
        first = next(iter(chunks), b"")  # fail before the head when a name is unknown

        def body() -> Iterator[object]:
            yield first
            yield from chunks

        return Stream(body(), content_type="application/x-tar", separator=b"")

    def load(req: Request) -> object:
        return message_stream(images().load(req.body, quiet=req.arg_bool("quiet")))

    def prune(req: Request) -> object:
        return images().prune(req.arg("filters") or None)

    def auth(req: Request) -> object:
        return images().auth(req.json_object())

    router.add("POST", "/images/create", create)
    router.add("GET", "/images/json", list_images)
    router.add("GET", "/images/get", save)
    router.add("POST", "/images/load", load)
    router.add("POST", "/images/prune", prune)
    router.add("POST", "/auth", auth)
    router.add("GET", "/images/{name:path}/json", inspect)
    router.add("GET", "/images/{name:path}/history", history)
    router.add("GET", "/images/{name:path}/get", save)
    router.add("POST", "/images/{name:path}/push", push)
    router.add("POST", "/images/{name:path}/tag", tag)
    router.add("DELETE", "/images/{name:path}", remove)

    def info(doc: dict[str, Any]) -> None:
        doc["Images"] = len(images().store.meta.images())

    def disk_usage(df: dict[str, Any]) -> None:
        svc = images()
        summaries = svc.list_images(all=True)
        df["Images"].extend(summaries)
        df["LayersSize"] = int(df.get("LayersSize") or 0) + svc.layers_size()

    daemon.add_info_provider(info)
    daemon.add_df_provider(disk_usage)
