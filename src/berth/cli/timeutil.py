"""Docker's ``--since`` / ``--until`` values -> the API's ``seconds.nanoseconds``.

As the docker CLI's ``GetTimestamp``: a Go duration (``10m``, ``1h30m``) is
that long before ``now``; an RFC 3339 date or date-time (``2024-01-02``,
``2024-01-02T15:04``, ``2024-01-02T15:04:05.5Z``, ``...+02:00``) is parsed
in the local zone unless it carries a zone; a Unix timestamp
(``1700000000`` or ``1700000000.5``) passes through unchanged.
"""

from __future__ import annotations

from berth.cli.units import parse_go_duration
from berth.errors import InvalidArgument


def get_timestamp(value: str, now: float) -> str:
    """The API form of a user's time value, relative to ``now`` (epoch seconds)."""
    if value != "0":
        try:
            d = parse_go_duration(value)
        except InvalidArgument:
            pass
        else:
            return str(int(now - d) if now - d >= 0 else -int(d - now))
    if "-" not in value:
        sec, dot, frac = value.partition(".")
        if sec.lstrip("-").isdigit() and (not dot or frac.isdigit()):
            return value
        raise InvalidArgument(f'failed to parse value as time or duration: "{value}"')
    t = _parse_datetime(value)
    whole = int(t // 1)
    nanos = round((t - whole) * 1e9)
    if nanos >= 1_000_000_000:
        whole, nanos = whole + 1, nanos - 1_000_000_000
    return f"{whole}.{nanos:09d}"


def _parse_datetime(value: str) -> float:
    import datetime as dt

    text = value.strip()
    zone: dt.tzinfo | None = None
    body = text
    if text.endswith(("Z", "z")):
        zone = dt.UTC
        body = text[:-1]
    else:
        tpos = text.find("T")
        tail_start = tpos if tpos >= 0 else 10
        for sign in ("+", "-"):
            k = text.rfind(sign, tail_start)
            if k > 0 and k >= 10:
                off = text[k + 1 :]
                hh, _, mm = off.partition(":")
                if hh.isdigit() and (not mm or mm.isdigit()):
                    minutes = int(hh) * 60 + (int(mm) if mm else 0)
                    zone = dt.timezone(dt.timedelta(minutes=minutes if sign == "+" else -minutes))
                    body = text[:k]
                    break
    date_part, sep, time_part = body.partition("T")
    try:
        y, mo, d = (int(x) for x in date_part.split("-"))
        h = mi = 0
        s = 0.0
        if sep:
            fields = time_part.split(":")
            if not 1 <= len(fields) <= 3 or not fields[0]:
                raise ValueError
            h = int(fields[0])
            mi = int(fields[1]) if len(fields) > 1 else 0
            s = float(fields[2]) if len(fields) > 2 else 0.0
        whole_s = int(s)
        micro = round((s - whole_s) * 1e6)
        stamp = dt.datetime(y, mo, d, h, mi, whole_s, min(micro, 999999), tzinfo=zone)
    except ValueError:
        raise InvalidArgument(f'failed to parse value as time or duration: "{value}"')
    if zone is None:
        stamp = stamp.astimezone()  # the local zone, as Docker's ParseInLocation
    return stamp.timestamp()


def format_local_nano(nanos: int) -> str:
    """Go's ``2006-01-02T15:04:05.000000000Z07:00`` in the local zone."""
    import time

    sec, frac = divmod(nanos, 1_000_000_000)
    tm = time.localtime(sec)
    off = tm.tm_gmtoff or 0
    if off == 0:
        zone = "Z"
    else:
        sign = "+" if off > 0 else "-"
        off = abs(off)
        zone = f"{sign}{off // 3600:02d}:{off % 3600 // 60:02d}"
    return time.strftime("%Y-%m-%dT%H:%M:%S", tm) + f".{frac:09d}" + zone
