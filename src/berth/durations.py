"""Go's durations, as Docker's flags, Dockerfiles and messages write them.

- :func:`parse` -- ``time.ParseDuration`` (``1h30m``, ``1.5s``, ``300ms``, ``-2m``) in whole
  nanoseconds; InvalidArgument with Go's messages when the text is not one.
- :func:`format` -- ``Duration.String`` (``300ms``, ``30s``, ``1m30s``, ``1h0m0s``).

This module imports only the error tree: the CLI, the builder and the engine use it.
"""

from __future__ import annotations

from berth.errors import InvalidArgument

SECOND = 1_000_000_000
_UNITS = {
    "ns": 1,
    "us": 1000,
    "\u00b5s": 1000,  # micro sign
    "\u03bcs": 1000,  # Greek mu
    "ms": 1_000_000,
    "s": SECOND,
    "m": 60 * SECOND,
    "h": 3600 * SECOND,
}


def parse(text: str) -> int:
    """Go's time.ParseDuration of ``text``, in nanoseconds."""
    orig = text
    if not text:
        raise InvalidArgument(f'time: invalid duration "{orig}"')
    sign = 1
    if text[0] in "+-":
        sign = -1 if text[0] == "-" else 1
        text = text[1:]
    if text == "0":
        return 0
    if not text:
        raise InvalidArgument(f'time: invalid duration "{orig}"')
    total = 0
    i, n = 0, len(text)
    while i < n:
        j = i
        while j < n and (text[j].isdigit() or text[j] == "."):
            j += 1
        num = text[i:j]
        if not num or num == "." or num.count(".") > 1:
            raise InvalidArgument(f'time: invalid duration "{orig}"')
        k = j
        while k < n and not (text[k].isdigit() or text[k] == "."):
            k += 1
        unit = text[j:k]
        if unit not in _UNITS:
            if not unit:
                raise InvalidArgument(f'time: missing unit in duration "{orig}"')
            raise InvalidArgument(f'time: unknown unit "{unit}" in duration "{orig}"')
        whole, _, frac = num.partition(".")
        scale = _UNITS[unit]
        total += int(whole or "0") * scale
        if frac:
            total += int(frac) * scale // 10 ** len(frac)
        i = k
    if total > 2**63 - 1:
        raise InvalidArgument(f'time: invalid duration "{orig}"')
    return sign * total


def format(ns: int) -> str:
    """Go's Duration.String of whole nanoseconds."""
    if ns == 0:
        return "0s"
    sign, ns = ("-", -ns) if ns < 0 else ("", ns)
    if ns < 1000:
        return f"{sign}{ns}ns"
    if ns < 1_000_000:
        return f"{sign}{_trim(ns, 1000)}\u00b5s"
    if ns < SECOND:
        return f"{sign}{_trim(ns, 1_000_000)}ms"
    hours, rest = divmod(ns, 3600 * SECOND)
    minutes, rest = divmod(rest, 60 * SECOND)
    text = f"{_trim(rest, SECOND)}s"
    if hours:
        return f"{sign}{hours}h{minutes}m{text}"
    if minutes:
        return f"{sign}{minutes}m{text}"
    return sign + text


def _trim(value: int, unit: int) -> str:
    whole, frac = divmod(value, unit)
    if not frac:
        return str(whole)
    digits = str(frac).rjust(len(str(unit)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}"
