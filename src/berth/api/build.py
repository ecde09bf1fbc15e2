"""``POST /build`` (Docker's classic builder protocol) and ``POST /build/prune``.

=====================================================  ==================================
route                                                  answer
=====================================================  ==================================
POST /build?t=&dockerfile=&buildargs=&nocache=&rm=...  JSON message stream (``stream``,
                                                       ``aux``, ``errorDetail``)
POST /build/prune?all=&filters=&keep-storage=          {"CachesDeleted", "SpaceReclaimed"}
=====================================================  ==================================

The body is the build context as a tar (``Content-Type: application/x-tar``;
gzip, bzip2 and xz compressed tars are accepted too). Query parameters, as
Docker's: ``t`` (repeated: the tags), ``dockerfile`` (path in the context,
default ``Dockerfile``), ``buildargs`` and ``labels`` (JSON objects),
``nocache``, ``rm`` (default true), ``forcerm``, ``pull``, ``target``, ``q``,
``networkmode``. ``remote`` (a URL or git context) and ``version=2``
(BuildKit's session protocol) are refused with a message saying so.

The build cache is the intermediate images (see berth.build.builder); build
prune has no separate cache to delete and answers that nothing was deleted.
"""

from __future__ import annotations

import os

from berth.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from berth.api.request import Request
    from berth.api.response import Stream
    from berth.api.router import Router
    from berth.engine.daemon import Daemon


def _json_object(req: Request, name: str) -> dict[str, Any]:
    from berth import jsonio

    text = req.arg(name) or ""
    if not text:
        return {}
    doc = jsonio.loads(text.encode(), f"query parameter {name!r}")
    if not isinstance(doc, dict):
        raise InvalidArgument(f"query parameter {name!r}: expected a JSON object")
    return doc


def options(req: Request) -> Any:
    """BuildOptions from the query (a bad value is a 400 before anything is read)."""
    from berth.build.builder import BuildOptions
    from berth.oci import reference

    if req.arg("remote"):
        raise InvalidArgument(
            "remote build contexts (a URL or git repository) are not supported by berth:"
            " send the context as a tar"
        )
    if (req.arg("version") or "1") not in ("", "1"):
        raise InvalidArgument(
            "BuildKit builds (version=2) are not supported by berth: use the classic builder"
            " (DOCKER_BUILDKIT=0)"
        )
    opts = BuildOptions()
    for tag in req.args("t"):
        if reference.parse(tag).digest is not None:  # a bad name fails now, not after
            raise InvalidArgument(f"invalid tag {tag!r}: a tag cannot name a digest")
        opts.tags.append(tag)
    opts.dockerfile = req.arg("dockerfile") or "Dockerfile"
    args = _json_object(req, "buildargs")
    opts.build_args = {str(k): (None if v is None else str(v)) for k, v in args.items()}
    opts.labels = {str(k): str(v) for k, v in _json_object(req, "labels").items()}
    opts.no_cache = req.arg_bool("nocache")
    opts.pull = req.arg_bool("pull")
    opts.remove = req.arg_bool("rm", True) or req.arg_bool("forcerm")
    opts.quiet = req.arg_bool("q")
    opts.target = req.arg("target") or ""
    mode = req.arg("networkmode") or ""
    opts.network = "" if mode == "default" else mode
    return opts


def register(router: Router, daemon: Daemon) -> None:
    def build(req: Request) -> Stream:
        from berth.api.container_fs import container_fs
        from berth.api.containers import container_service
        from berth.api.images import _service as image_service
        from berth.api.images import message_stream
        from berth.build.builder import build as run_build

        opts = options(req)
        images = image_service(daemon)
        containers = container_service(daemon)
        fs = container_fs(daemon)
        workdir = os.path.join(daemon.config.data_root, "tmp")
        messages = run_build(images, containers, fs, _body(req), opts, workdir)
        return message_stream(_errors(_quiet(messages) if opts.quiet else messages))

    def build_prune(req: Request) -> object:
        req.filters()  # a malformed filter is a 400 here too
        req.arg_bool("all")
        req.arg_int("keep-storage")
        return {"CachesDeleted": [], "SpaceReclaimed": 0}

    import time

    booted = time.time()

    def clean_stale() -> None:
        """Contexts of builds a previous berthd was running when it died (not those
        of builds this one has begun meanwhile)."""
        import shutil

        workdir = os.path.join(daemon.config.data_root, "tmp")
        try:
            names = os.listdir(workdir)
        except FileNotFoundError:
            return
        for name in names:
            path = os.path.join(workdir, name)
            try:
                old = os.lstat(path).st_mtime < booted
            except FileNotFoundError:
                continue
            if name.startswith("build-") and old:
                shutil.rmtree(path, ignore_errors=True)

    daemon.on_start(clean_stale)
    router.add("POST", "/build", build)
    router.add("POST", "/build/prune", build_prune)


def _body(req: Request) -> Any:
    """The context tar, decompressed when it comes gzip, bzip2 or xz compressed."""
    import io

    raw = req.body
    head = raw.read(6)
    stream = io.BufferedReader(_Prefixed(head, raw))  # type: ignore[type-var]
    from berth.build.context import decompressed

    return decompressed(head, stream)


class _Prefixed:
    """A raw stream with ``head`` (already read from it) put back in front."""

    def __init__(self, head: bytes, rest: Any) -> None:
        self.head = head
        self.rest = rest
        self.closed = False

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self.head:
            n = min(len(b), len(self.head))
            b[:n] = self.head[:n]
            self.head = self.head[n:]
            return n
        data = self.rest.read(len(b))
        b[: len(data)] = data
        return len(data)


def _quiet(messages: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """``q=1``: only the image ID (and errors)."""
    for msg in messages:
        if "aux" in msg:
            yield {"stream": str(msg["aux"].get("ID", "")) + "\n"}
            yield msg


def _errors(messages: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """A failed step as Docker reports it: errorDetail with the RUN's exit code."""
    from berth.build.builder import StepError

    try:
        yield from messages
    except StepError as e:
        yield {"errorDetail": {"code": e.code, "message": e.message}, "error": e.message}
