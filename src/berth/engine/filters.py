"""Docker's ``filters``: the query parameter of every list and events endpoint.

On the wire it is JSON, in either of Docker's two shapes::

    {"label": {"a=b": true}, "status": {"running": true}}   # current
    {"label": ["a=b"], "status": ["running"]}               # legacy

and both decode to the same :class:`Filters`: a map from key to a set of
values. Keys AND, values of one key OR. The matching helpers follow moby's
``filters.Args``:

- :meth:`Filters.exact` -- no values for the key, or the source is one of them;
- :meth:`Filters.fuzzy` -- as exact, or the source starts with one of them
  (IDs and names: ``container=ab`` matches ``abcdef...``);
- :meth:`Filters.labels` -- every ``key`` / ``key=value`` value holds in a
  label map.

Endpoints call :meth:`Filters.validate` with the keys they understand; an
unknown key is a 400 ``invalid filter 'nope'``. The CLI builds the JSON with
:func:`to_json` from repeated ``--filter key=value`` flags.
"""

from __future__ import annotations

from berth.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping


class Filters:
    __slots__ = ("fields",)

    def __init__(self, fields: Mapping[str, Iterable[str]] | None = None) -> None:
        self.fields: dict[str, set[str]] = {k: set(v) for k, v in (fields or {}).items()}

    def __bool__(self) -> bool:
        return any(self.fields.values())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Filters) and self.fields == other.fields

    def __repr__(self) -> str:
        return f"Filters({self.fields!r})"

    def add(self, key: str, value: str) -> None:
        self.fields.setdefault(key, set()).add(value)

    def get(self, key: str) -> list[str]:
        """The values of ``key``, sorted (empty when absent)."""
        return sorted(self.fields.get(key, ()))

    def contains(self, key: str) -> bool:
        return key in self.fields

    def validate(self, accepted: Iterable[str]) -> None:
        allowed = set(accepted)
        for key in self.fields:
            if key not in allowed:
                raise InvalidArgument(f"invalid filter '{key}'")

    def exact(self, key: str, source: str) -> bool:
        values = self.fields.get(key)
        return not values or source in values

    def fuzzy(self, key: str, source: str) -> bool:
        values = self.fields.get(key)
        if not values or source in values:
            return True
        return any(source.startswith(prefix) for prefix in values)

    def labels(self, key: str, labels: Mapping[str, str] | None) -> bool:
        """Every ``k`` or ``k=v`` value of ``key`` holds in ``labels``."""
        values = self.fields.get(key)
        if not values:
            return True
        if labels is None:
            return False
        for item in values:
            name, eq, want = item.partition("=")
            if name not in labels:
                return False
            if eq and labels[name] != want:
                return False
        return True

    def bool_value(self, key: str) -> bool | None:
        """A boolean filter (``dangling=true``): None when absent."""
        values = self.fields.get(key)
        if not values:
            return None
        result = None
        for v in values:
            low = v.lower()
            if low in ("true", "1"):
                b = True
            elif low in ("false", "0"):
                b = False
            else:
                raise InvalidArgument(
                    f"invalid value {v!r} for filter '{key}': expected true or false"
                )
            if result is not None and result != b:
                raise InvalidArgument(f"filter '{key}' given both true and false")
            result = b
        return result


def parse(text: str) -> Filters:
    """Decode the ``filters`` query parameter (either JSON shape)."""
    if not text:
        return Filters()
    from berth.jsonio import loads

    try:
        doc = loads(text, "filters")
    except InvalidArgument as e:
        raise InvalidArgument(f"invalid filters: {e}")
    if not isinstance(doc, dict):
        raise InvalidArgument("invalid filters: expected a JSON object of key -> values")
    out = Filters()
    for key, value in doc.items():
        if isinstance(value, dict):
            for v, on in value.items():
                if not isinstance(on, bool):
                    raise InvalidArgument(f"invalid filters: value of {key}.{v} is not a boolean")
                if on:
                    out.add(key, v)
            out.fields.setdefault(key, set())
        elif isinstance(value, list):
            for v in value:
                if not isinstance(v, str):
                    raise InvalidArgument(f"invalid filters: values of {key!r} must be strings")
                out.add(key, v)
            out.fields.setdefault(key, set())
        else:
            raise InvalidArgument(f"invalid filters: {key!r} must map to a list of values")
    return out


def from_flags(items: Iterable[str]) -> Filters:
    """``--filter key=value`` flags (the CLI side); a value without ``=`` is refused."""
    out = Filters()
    for item in items:
        if not item:
            continue
        key, eq, value = item.partition("=")
        if not eq:
            raise InvalidArgument("bad format of filter (expected name=value)")
        out.add(key.strip().lower(), value.strip())
    return out


def to_json(filters: Filters) -> str:
    """The current wire shape: ``{"key": {"value": true}}``, keys sorted."""
    from berth.jsonio import dumps

    return dumps({k: {v: True for v in sorted(vs)} for k, vs in sorted(filters.fields.items())})
