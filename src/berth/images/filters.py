"""Docker's ``filters`` query parameter: ``{"dangling": ["true"], "label": ["a=b"]}``.

Accepted as the JSON text of the API (the map of lists, or the legacy map of
``{"value": true}`` maps) or already decoded. ``reference`` patterns are
globs matched against ``name`` and ``name:tag`` as Docker does.
"""

from __future__ import annotations

from berth import jsonio
from berth.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable


def parse_filters(
    raw: str | dict[str, object] | None, allowed: Iterable[str]
) -> dict[str, list[str]]:
    if not raw:
        return {}
    doc = jsonio.loads(raw, "filters") if isinstance(raw, str) else raw
    if not isinstance(doc, dict):
        raise InvalidArgument("filters: expected a JSON object")
    allowed = set(allowed)
    out: dict[str, list[str]] = {}
    for key, value in doc.items():
        if key not in allowed:
            raise InvalidArgument(f"invalid filter '{key}'")
        if isinstance(value, dict):
            out[key] = [k for k, v in value.items() if v]
        elif isinstance(value, list):
            out[key] = [str(v) for v in value]
        else:
            out[key] = [str(value)]
    return out


def parse_cli_filters(items: Iterable[str]) -> dict[str, list[str]]:
    """``--filter key=value`` flags -> the map (for the CLI, sent as JSON)."""
    out: dict[str, list[str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise InvalidArgument(f"bad format of filter (expected name=value): {item}")
        out.setdefault(key.strip().lower(), []).append(value)
    return out


def truthy(values: list[str], key: str) -> bool:
    if len(values) != 1 or values[0].lower() not in ("true", "false", "1", "0"):
        raise InvalidArgument(f"invalid filter '{key}={','.join(values)}'")
    return values[0].lower() in ("true", "1")


def labels_match(labels: dict[str, str] | None, wanted: list[str]) -> bool:
    labels = labels or {}
    for item in wanted:
        key, sep, value = item.partition("=")
        if key not in labels or (sep and labels[key] != value):
            return False
    return True


def glob_match(pattern: str, text: str) -> bool:
    """Go's path.Match as Docker uses it for reference filters ("*" does not cross "/")."""
    import fnmatch

    if pattern.count("/") != text.count("/"):
        return False
    return all(
        fnmatch.fnmatchcase(t, p) for p, t in zip(pattern.split("/"), text.split("/"), strict=True)
    )
