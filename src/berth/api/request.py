"""The request a route handler receives, with Docker's parsing conventions.

Every helper turns bad input into :class:`berth.errors.InvalidArgument`
(400) naming the field, so handlers never validate by hand::

    def list_containers(req: Request) -> object:
        all_ = req.arg_bool("all")              # Docker's BoolValue
        limit = req.arg_int("limit", -1)
        f = req.filters(accepted=("status", "label", "name"))
        ...

    def create(req: Request) -> object:
        body = req.json_object()               # {} when the body is empty
        name = req.arg("name", "")
"""

from __future__ import annotations

from berth.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

    from berth.api.http import Body, RequestHead
    from berth.engine.filters import Filters

# A JSON request body is read whole; larger bodies (image loads, build
# contexts, archives) are read incrementally with Request.body.read().
JSON_BODY_LIMIT = 32 * 1024 * 1024


class Request:
    """``method``, ``path`` (without the ``/vX.Y`` prefix), ``params`` (from
    the route pattern), ``query`` (name -> values), ``headers`` (lower-case
    names), ``version`` (the API version the client asked for, or the
    newest), ``body`` (:class:`berth.api.http.Body`)."""

    __slots__ = ("body", "head", "params", "path", "query", "version")

    def __init__(
        self,
        head: RequestHead,
        path: str,
        version: str,
        params: dict[str, str],
        query: dict[str, list[str]],
        body: Body,
    ) -> None:
        self.head = head
        self.path = path
        self.version = version
        self.params = params
        self.query = query
        self.body = body

    @property
    def method(self) -> str:
        return self.head.method

    @property
    def headers(self) -> dict[str, str]:
        return self.head.headers

    def arg(self, name: str, default: str | None = None) -> str | None:
        """The first value of query parameter ``name``."""
        values = self.query.get(name)
        return values[0] if values else default

    def args(self, name: str) -> list[str]:
        return self.query.get(name, [])

    def arg_bool(self, name: str, default: bool = False) -> bool:
        """Docker's BoolValue: absent -> default; "", 0, no, false, none -> False."""
        values = self.query.get(name)
        if not values:
            return default
        return values[0].strip().lower() not in ("", "0", "no", "false", "none")

    def arg_int(self, name: str, default: int = 0) -> int:
        values = self.query.get(name)
        if not values or values[0] == "":
            return default
        text = values[0].strip()
        try:
            return int(text, 10)
        except ValueError:
            raise InvalidArgument(
                f"invalid value for query parameter {name!r}: {text!r} is not an integer"
            )

    def version_at_least(self, version: str) -> bool:
        from berth.api.versions import compare

        return compare(self.version, version) >= 0

    def filters(self, accepted: Iterable[str] | None = None) -> Filters:
        """The ``filters`` parameter; keys outside ``accepted`` are a 400."""
        from berth.engine.filters import parse

        f = parse(self.arg("filters", "") or "")
        if accepted is not None:
            f.validate(accepted)
        return f

    def json(self, limit: int = JSON_BODY_LIMIT) -> Any:
        """The JSON body, or None when there is none.

        A Content-Type other than JSON with a body is refused, as Docker does.
        """
        data = self.body.read_all(limit)
        if not data.strip():
            return None
        ctype = self.headers.get("content-type", "")
        if ctype:
            media = ctype.split(";", 1)[0].strip().lower()
            if media != "application/json" and not media.endswith("+json"):
                raise InvalidArgument(
                    f"unsupported Content-Type header ({ctype}): must be 'application/json'"
                )
        from berth.jsonio import loads

        return loads(data, "request body")

    def json_object(self, limit: int = JSON_BODY_LIMIT) -> dict[str, Any]:
        doc = self.json(limit)
        if doc is None:
            return {}
        if not isinstance(doc, dict):
            raise InvalidArgument("request body: expected a JSON object")
        return doc

    def read_body(self, limit: int) -> bytes:
        """The whole raw body; more than ``limit`` bytes is a 413."""
        return self.body.read_all(limit)
