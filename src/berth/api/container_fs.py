"""Routes of a container's files: cp, diff, export, commit (Docker Engine API).

=================================================================  ==========================
route                                                              answer
=================================================================  ==========================
HEAD /containers/{id}/archive?path=                                200, the stat header
GET  /containers/{id}/archive?path=                                tar (+ the stat header)
PUT  /containers/{id}/archive?path=&noOverwriteDirNonDir=&copyUIDGID=   200
GET  /containers/{id}/changes                                      [{"Path", "Kind"}]
GET  /containers/{id}/export                                       tar
POST /commit?container=&repo=&tag=&comment=&author=&changes=&pause=   201 {"Id"}
=================================================================  ==========================

The stat header is ``X-Docker-Container-Path-Stat``: base64 of the JSON
``{"name", "size", "mode", "mtime", "linkTarget"}`` (see
``berth.engine.containers.fstree``). A path that does not exist is a 404
``Could not find the file PATH in container NAME``.
"""

from __future__ import annotations

from berth.api.response import Response, Stream, json_response
from berth.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from berth.api.request import Request
    from berth.api.router import Router
    from berth.engine.containers.fsops import ContainerFS
    from berth.engine.daemon import Daemon

STAT_HEADER = "X-Docker-Container-Path-Stat"
TAR = "application/x-tar"
DRAIN_LIMIT = 64 << 20


def container_fs(daemon: Daemon) -> ContainerFS:
    from berth.api.containers import container_service

    containers = container_service(daemon)  # before daemon.service(): see its docstring

    def make() -> ContainerFS:
        from berth.engine.containers.fsops import ContainerFS

        return ContainerFS(containers)

    fs: ContainerFS = daemon.service("container_fs", make)
    return fs


def stat_header(doc: dict[str, Any]) -> tuple[str, str]:
    import base64

    from berth.jsonio import dumps

    return STAT_HEADER, base64.b64encode(dumps(doc).encode()).decode()


def _path(req: Request) -> str:
    path = req.arg("path")
    if not path:
        raise InvalidArgument("bad parameter: path cannot be empty")
    return path


def register(router: Router, daemon: Daemon) -> None:
    def fs() -> ContainerFS:
        return container_fs(daemon)

    def head_archive(req: Request) -> object:
        doc = fs().stat(req.params["id"], _path(req))
        return Response(200, b"", "application/json", [stat_header(doc)])

    def get_archive(req: Request) -> object:
        doc, chunks = fs().get_archive(req.params["id"], _path(req))
        return Stream(chunks, content_type=TAR, separator=b"", headers=[stat_header(doc)])

    def put_archive(req: Request) -> object:
        try:
            fs().put_archive(
                req.params["id"],
                _path(req),
                req.body,  # type: ignore[arg-type]
                no_overwrite_dir_non_dir=req.arg_bool("noOverwriteDirNonDir"),
                copy_uid_gid=req.arg_bool("copyUIDGID"),
            )
        finally:
            # the tar's end padding (or what an early error left unread): read it, so that
            # closing the connection does not reset it under the answer
            req.body.drain(DRAIN_LIMIT)
        return Response(200)

    def changes(req: Request) -> object:
        return fs().changes(req.params["id"])

    def export(req: Request) -> object:
        return Stream(fs().export(req.params["id"]), content_type=TAR, separator=b"")

    def commit(req: Request) -> object:
        ref = req.arg("container") or ""
        if not ref:
            raise InvalidArgument("bad parameter: container cannot be empty")
        config = req.json_object() or None
        pause = req.arg_bool("pause", default=True) if req.arg("pause") else True
        image_id = fs().commit(
            ref,
            repo=req.arg("repo") or None,
            tag=req.arg("tag") or None,
            author=req.arg("author") or "",
            comment=req.arg("comment") or "",
            changes=req.args("changes"),
            pause=pause,
            config=config,
        )
        return json_response({"Id": image_id}, 201)

    router.add("HEAD", "/containers/{id}/archive", head_archive)
    router.add("GET", "/containers/{id}/archive", get_archive)
    router.add("PUT", "/containers/{id}/archive", put_archive)
    router.add("GET", "/containers/{id}/changes", changes)
    router.add("GET", "/containers/{id}/export", export)
    router.add("POST", "/commit", commit)
