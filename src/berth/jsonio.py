"""JSON on the hot path, through CPython's C accelerator only.

``import json`` pulls in ``re`` and ``enum`` (several milliseconds here, a
large share of a container start). The C scanner and encoder in ``_json`` do
the actual work of ``json`` anyway; this module drives them directly.

``loads`` accepts exactly what ``json.loads`` accepts (strict, no NaN
surprises beyond what json allows); ``dumps`` writes compact JSON
(``separators=(",", ":")``), or indented JSON through the ``json`` module
when ``indent`` is given (not a hot-path need).
"""

from __future__ import annotations

import _json

from berth.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class _Context:
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    memo: dict[str, str] = {}

    @staticmethod
    def parse_constant(name: str) -> float:
        return {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}[name]


_scan = _json.make_scanner(_Context())  # type: ignore[arg-type]
_WS = " \t\n\r"


def loads(text: str | bytes, what: str = "JSON") -> Any:
    """Decode one JSON document; errors name ``what`` and the position."""
    if isinstance(text, (bytes, bytearray)):
        # utf-8-sig by hand: that codec is a module to import, utf-8 is built in
        start = 3 if text[:3] == b"\xef\xbb\xbf" else 0
        try:
            text = bytes(text[start:]).decode("utf-8")
        except UnicodeDecodeError as e:
            raise InvalidArgument(f"{what}: not valid UTF-8 ({e.reason} at byte {e.start + start})")
    end = len(text)
    idx = 0
    while idx < end and text[idx] in _WS:
        idx += 1
    try:
        value, idx = _scan(text, idx)
    except StopIteration as e:
        raise InvalidArgument(f"{what}: invalid JSON at {_where(text, e.value)}") from None
    except ValueError as e:
        raise InvalidArgument(f"{what}: invalid JSON: {e}") from None
    except SystemError:
        # The C scanner raises json.decoder.JSONDecodeError for some errors (a bad
        # object key) and finds that class only when json.decoder is imported.
        import json.decoder

        try:
            _scan(text, idx)
        except json.decoder.JSONDecodeError as e:
            raise InvalidArgument(f"{what}: invalid JSON: {e}") from None
        raise
    finally:
        _Context.memo.clear()
    while idx < end and text[idx] in _WS:
        idx += 1
    if idx != end:
        raise InvalidArgument(f"{what}: extra data after the JSON value at {_where(text, idx)}")
    return value


def _where(text: str, pos: int) -> str:
    line = text.count("\n", 0, pos) + 1
    col = pos - text.rfind("\n", 0, pos)
    return f"line {line} column {col}"


def _default(obj: object) -> object:
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


_encode = _json.make_encoder(
    None, _default, _json.encode_basestring_ascii, None, ":", ",", False, False, True
)


def dumps(obj: object, indent: int | None = None, sort_keys: bool = False) -> str:
    """Encode ``obj`` compactly (or indented, via the json module)."""
    if indent is not None or sort_keys:
        import json

        return json.dumps(obj, indent=indent, sort_keys=sort_keys)
    return "".join(_encode(obj, 0))
