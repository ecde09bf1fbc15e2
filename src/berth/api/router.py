"""Routes: (method, path pattern) -> handler.

Patterns are Docker's paths without the version prefix::

    router.add("GET", "/containers/json", list_containers)
    router.add("POST", "/containers/{id}/start", start)           # one segment
    router.add("GET", "/images/{name:path}/json", inspect_image)  # 1+ segments

``{name}`` matches one path segment; ``{name:path}`` matches one or more
(image references carry slashes: ``/images/localhost:5000/a/b:tag/json``);
a pattern may hold one ``:path`` parameter. Static paths are looked up first,
then patterns in the order they were added. A path that no route of that
method matches is a 404 ``page not found`` (Docker answers a wrong method
the same way). ``HEAD`` routes are added explicitly, as Docker's are.

Version prefixes (``/v1.41/...``) are removed before routing by
:func:`split_version`; handlers see the version as ``Request.version``.
"""

from __future__ import annotations

from berth.api.errors import HTTPError
from berth.api.versions import API_VERSION, MIN_API_VERSION, compare

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from berth.api.request import Request

    Handler = Callable[[Request], object]


class _Pattern:
    __slots__ = ("greedy", "handler", "pattern", "segments")

    def __init__(self, pattern: str, handler: Handler) -> None:
        self.pattern = pattern
        self.handler = handler
        self.segments: list[tuple[str, str]] = []  # ("lit", text) | ("param", name)
        self.greedy = -1
        for i, seg in enumerate(pattern.strip("/").split("/")):
            if seg.startswith("{") and seg.endswith("}"):
                name, _, kind = seg[1:-1].partition(":")
                if kind == "path":
                    if self.greedy >= 0:
                        raise ValueError(f"route {pattern}: only one {{name:path}} parameter")
                    self.greedy = i
                elif kind:
                    raise ValueError(f"route {pattern}: unknown parameter kind {kind!r}")
                self.segments.append(("param", name))
            else:
                self.segments.append(("lit", seg))

    def match(self, parts: list[str]) -> dict[str, str] | None:
        segs = self.segments
        if self.greedy < 0:
            if len(parts) != len(segs):
                return None
            return _bind(segs, parts)
        n_after = len(segs) - self.greedy - 1
        if len(parts) < len(segs):
            return None
        head = _bind(segs[: self.greedy], parts[: self.greedy])
        if head is None:
            return None
        tail_parts = parts[len(parts) - n_after :] if n_after else []
        tail = _bind(segs[self.greedy + 1 :], tail_parts)
        if tail is None:
            return None
        middle = parts[self.greedy : len(parts) - n_after]
        if not middle or any(not p for p in middle):
            return None
        head.update(tail)
        head[segs[self.greedy][1]] = "/".join(middle)
        return head


def _bind(segs: list[tuple[str, str]], parts: list[str]) -> dict[str, str] | None:
    out: dict[str, str] = {}
    for (kind, text), part in zip(segs, parts, strict=True):
        if kind == "lit":
            if text != part:
                return None
        else:
            if not part:
                return None
            out[text] = part
    return out


class Router:
    def __init__(self) -> None:
        self._static: dict[tuple[str, str], Handler] = {}
        self._patterns: dict[str, list[_Pattern]] = {}

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        if not pattern.startswith("/"):
            raise ValueError(f"route {pattern}: must start with /")
        if "{" not in pattern:
            key = (method, pattern)
            if key in self._static:
                raise ValueError(f"route {method} {pattern} added twice")
            self._static[key] = handler
            return
        p = _Pattern(pattern, handler)
        routes = self._patterns.setdefault(method, [])
        if any(r.pattern == pattern for r in routes):
            raise ValueError(f"route {method} {pattern} added twice")
        routes.append(p)

    def match(self, method: str, path: str) -> tuple[Handler, dict[str, str]] | None:
        handler = self._static.get((method, path))
        if handler is not None:
            return handler, {}
        routes = self._patterns.get(method)
        if not routes:
            return None
        parts = path.strip("/").split("/") if path != "/" else []
        if path.endswith("/") and path != "/":
            return None  # Docker does not redirect or strip a trailing slash
        for r in routes:
            params = r.match(parts)
            if params is not None:
                return r.handler, params
        return None

    def routes(self) -> list[tuple[str, str]]:
        """(method, pattern) of every route, for listings and tests."""
        out = [(m, p) for (m, p) in self._static]
        out.extend((m, r.pattern) for m, rs in self._patterns.items() for r in rs)
        return sorted(out)


def split_version(path: str) -> tuple[str | None, str]:
    """``/v1.41/info`` -> ("1.41", "/info"); ``/info`` -> (None, "/info").

    A prefix outside [MIN_API_VERSION, API_VERSION] is a 400 with Docker's
    message; ``/vabc/...`` is not a version prefix at all (and will 404).
    """
    if not path.startswith("/v") or len(path) < 3 or not path[2].isdigit():
        return None, path
    end = path.find("/", 2)
    if end < 0:
        return None, path
    version = path[2:end]
    if not all(c.isdigit() or c == "." for c in version):
        return None, path
    try:
        too_old = compare(version, MIN_API_VERSION) < 0
        too_new = compare(version, API_VERSION) > 0
    except ValueError:
        raise HTTPError(400, f"invalid API version {version!r} in the request path")
    if too_new:
        raise HTTPError(
            400,
            f"client version {version} is too new. Maximum supported API version is {API_VERSION}",
        )
    if too_old:
        raise HTTPError(
            400,
            f"client version {version} is too old. Minimum supported API version is "
            f"{MIN_API_VERSION}, please upgrade your client to a newer version",
        )
    return version, path[end:]
