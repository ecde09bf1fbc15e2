"""Typed, frozen records that read and write JSON documents.

Specs (the OCI runtime config, image manifests and configs, Docker's API
bodies) are declared as annotated subclasses of :class:`Record`::

    class Mount(Record):
        destination: str
        type: str | None = None
        options: tuple[str, ...] = ()

    m = Mount.from_json({"destination": "/proc", "type": "proc", "x-extra": 1})
    m.to_json() == {"destination": "/proc", "type": "proc", "x-extra": 1}

Rules of the mapping:

- A field's JSON key is its name in camelCase (``no_new_privileges`` ->
  ``noNewPrivileges``) unless ``field(json="...")`` names it.
- Annotations understood: ``str int bool float object``, a record class,
  ``X | None``, ``tuple[X, ...]`` (a JSON array) and ``dict[str, X]``.
- Keys the class does not know are kept in ``extra`` and written back
  unchanged, so a document round-trips even when it carries newer fields.
- ``None`` means "absent" and is not written. A field at its default is
  written only when it was given (in the JSON read, or to the constructor),
  so a document read and written again comes out the same.
- A value of the wrong type raises :class:`berth.errors.InvalidArgument`
  naming the path of the field (``process.args[0]``).

This module deliberately avoids ``dataclasses`` and ``typing`` at run time:
it sits on the container start path, where their import costs more than the
whole rest of the work (measure with ``python -X importtime``).
"""

from __future__ import annotations

import sys

from berth.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, ClassVar, Self, dataclass_transform

else:

    def dataclass_transform(**_kw: object) -> object:
        return lambda f: f


_MISSING = object()


class _FieldSpec:
    __slots__ = ("default", "factory", "json")

    def __init__(self, json: str | None, default: object, factory: object) -> None:
        self.json = json
        self.default = default
        self.factory = factory


def field(
    *,
    json: str | None = None,
    default: Any = _MISSING,
    default_factory: Callable[[], Any] | None = None,
) -> Any:
    """Declare a field's JSON key or a default that must be made per instance."""
    return _FieldSpec(json, default, default_factory)


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


class _Field:
    __slots__ = ("annotation", "conv", "default", "factory", "json", "name")

    def __init__(
        self, name: str, json: str, annotation: str, default: object, factory: object
    ) -> None:
        self.name = name
        self.json = json
        self.annotation = annotation
        self.default = default
        self.factory = factory
        self.conv: Any = None


class _LazyFields:
    """A record class's ``__record_fields__`` / ``__record_by_json__`` until first read:
    then both are built (bases first) and replace these in the class."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, obj: object, cls: type[Record]) -> dict[str, _Field]:
        _build_fields(cls)
        table: dict[str, _Field] = cls.__dict__[self.name]
        return table


def _build_fields(cls: type[Record]) -> None:
    fields: dict[str, _Field] = {}
    for base in reversed(cls.__mro__[1:]):
        if base is not Record and issubclass(base, Record):
            fields.update(base.__record_fields__)
    specs: dict[str, _FieldSpec] = cls.__dict__.get("__record_specs__", {})
    for name, annotation in cls.__dict__.get("__annotations__", {}).items():
        if name.startswith("_") or name == "extra" or "ClassVar" in annotation:
            continue
        spec = specs.get(name)
        if spec is not None:
            fields[name] = _Field(
                name, spec.json or camel(name), annotation, spec.default, spec.factory
            )
        else:
            default = cls.__dict__.get(name, _MISSING)
            fields[name] = _Field(name, camel(name), annotation, default, None)
    type.__setattr__(cls, "__record_fields__", fields)
    type.__setattr__(cls, "__record_by_json__", {f.json: f for f in fields.values()})


@dataclass_transform(kw_only_default=True, frozen_default=True, field_specifiers=(field,))
class Record:
    """Base of every record: subclass it and annotate the fields."""

    __record_fields__: ClassVar[dict[str, _Field]] = {}
    __record_by_json__: ClassVar[dict[str, _Field]] = {}
    extra: dict[str, Any]
    _given: frozenset[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        specs: dict[str, _FieldSpec] = {}
        for name, annotation in cls.__dict__.get("__annotations__", {}).items():
            if not isinstance(annotation, str):
                raise TypeError(
                    f"{cls.__name__}: records need `from __future__ import annotations`"
                )
            value = cls.__dict__.get(name, _MISSING)
            if isinstance(value, _FieldSpec):
                specs[name] = value
                if value.default is _MISSING:
                    delattr(cls, name)
                else:
                    type.__setattr__(cls, name, value.default)
        # The field tables are built on first use (see _LazyFields): a module declares
        # dozens of records, and one command uses a few of them.
        type.__setattr__(cls, "__record_specs__", specs)
        type.__setattr__(cls, "__record_fields__", _LazyFields("__record_fields__"))
        type.__setattr__(cls, "__record_by_json__", _LazyFields("__record_by_json__"))

    def __init__(self, **kw: Any) -> None:
        setter = object.__setattr__
        extra = kw.pop("extra", None)
        setter(self, "_given", frozenset(kw))
        for name, f in self.__record_fields__.items():
            if name in kw:
                value = kw.pop(name)
            elif f.factory is not None:
                value = f.factory()  # type: ignore[operator]
            elif f.default is not _MISSING:
                value = f.default
            else:
                raise TypeError(f"{type(self).__name__}: missing field {name!r}")
            setter(self, name, value)
        if kw:
            raise TypeError(f"{type(self).__name__}: unknown field(s) {sorted(kw)}")
        setter(self, "extra", dict(extra) if extra else {})

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen; use .replace()")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen")

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(
            getattr(self, n) == getattr(other, n) for n in self.__record_fields__
        ) and self.extra == getattr(other, "extra", None)

    def __hash__(self) -> int:
        return hash(tuple(_hashable(getattr(self, n)) for n in self.__record_fields__))

    def __repr__(self) -> str:
        parts = [f"{n}={getattr(self, n)!r}" for n in self.__record_fields__]
        if self.extra:
            parts.append(f"extra={self.extra!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def replace(self, **changes: Any) -> Self:
        """A copy with some fields changed (records are frozen)."""
        values = {n: getattr(self, n) for n in self._given}
        values.update(changes)
        values.setdefault("extra", self.extra)
        return type(self)(**values)

    @classmethod
    def from_json(cls, doc: object, where: str = "") -> Self:
        """Check and convert a decoded JSON value; ``where`` prefixes error paths."""
        try:
            # Paths are text made for every value, and needed only in an error
            # message: convert without them first, again with them on an error.
            return cls._from_json(doc, None)
        except InvalidArgument:
            pass
        return cls._from_json(doc, where)

    @classmethod
    def _from_json(cls, doc: object, where: str | None) -> Self:
        """from_json; ``where`` None: make no paths (the message is not to be shown)."""
        if not isinstance(doc, dict):
            raise InvalidArgument(f"{where or cls.__name__}: expected an object, got {_kind(doc)}")
        values: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        by_json = cls.__record_by_json__
        for key, raw in doc.items():
            f = by_json.get(key)
            if f is None:
                extra[key] = raw
                continue
            if f.conv is None:
                f.conv = _converter(f.annotation, sys.modules[cls.__module__].__dict__)
            values[f.name] = f.conv(raw, None if where is None else _at(where, key))
        for name, f in cls.__record_fields__.items():
            if name not in values and f.default is _MISSING and f.factory is None:
                path = _at(where or "", f.json)
                raise InvalidArgument(f"{path}: required field is missing")
        values["extra"] = extra
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        """The JSON value: a field is written when it was given or is not its default."""
        out: dict[str, Any] = {}
        given = self._given
        for name, f in self.__record_fields__.items():
            value = getattr(self, name)
            if value is None:
                continue
            if name in given or f.default is _MISSING or value != f.default:
                out[f.json] = _dump(value)
        for key, value in self.extra.items():
            out.setdefault(key, value)
        return out


def _at(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _dump(value: object) -> Any:
    if hasattr(value, "__record_fields__"):
        return value.to_json()  # type: ignore[attr-defined]
    if isinstance(value, (tuple, list)):
        return [_dump(v) for v in value]
    if isinstance(value, dict):
        return {k: _dump(v) for k, v in value.items()}
    return value


def _hashable(value: object) -> object:
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    return value


def _kind(value: object) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "an object",
    }.get(type(value), type(value).__name__)


_SCALARS: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
}
_SCALAR_NAMES = {"str": "a string", "int": "an integer", "float": "a number", "bool": "a boolean"}


def _converter(annotation: str, scope: dict[str, Any]) -> Callable[[object, str | None], Any]:
    """Build the function that checks and converts one JSON value (``w``: its path
    for messages, or None when no message is to be shown: see Record.from_json)."""
    ann = annotation.strip()
    if ann.endswith("| None"):
        inner = _converter(ann[: -len("| None")], scope)
        return lambda v, w: None if v is None else inner(v, w)
    if ann.startswith("None |"):
        inner = _converter(ann[len("None |") :], scope)
        return lambda v, w: None if v is None else inner(v, w)
    if ann in ("object", "Any"):
        return lambda v, w: v
    if ann in _SCALARS:
        types, what = _SCALARS[ann], _SCALAR_NAMES[ann]
        strict_int = ann in ("int", "float")

        def scalar(v: object, w: str | None) -> object:
            if not isinstance(v, types) or (strict_int and isinstance(v, bool)):
                raise InvalidArgument(f"{w}: expected {what}, got {_kind(v)}")
            return v

        return scalar
    if ann.startswith("tuple[") and ann.endswith(", ...]"):
        item = _converter(ann[len("tuple[") : -len(", ...]")], scope)

        def array(v: object, w: str | None) -> tuple[Any, ...]:
            if not isinstance(v, list):
                raise InvalidArgument(f"{w}: expected an array, got {_kind(v)}")
            if w is None:
                return tuple([item(x, None) for x in v])
            return tuple([item(x, f"{w}[{i}]") for i, x in enumerate(v)])

        return array
    if ann.startswith("dict[str,") and ann.endswith("]"):
        value_conv = _converter(ann[len("dict[str,") : -1], scope)

        def mapping(v: object, w: str | None) -> dict[str, Any]:
            if not isinstance(v, dict):
                raise InvalidArgument(f"{w}: expected an object, got {_kind(v)}")
            if w is None:
                return {k: value_conv(x, None) for k, x in v.items()}
            return {k: value_conv(x, f"{w}.{k}") for k, x in v.items()}

        return mapping
    target = scope.get(ann)
    if target is None or not hasattr(target, "from_json"):
        raise TypeError(f"record: cannot convert annotation {annotation!r}")
    if isinstance(target, type) and issubclass(target, Record):
        record: type[Record] = target
        return lambda v, w: record._from_json(v, w)
    return lambda v, w: target.from_json(v, w or "")
