"""Docker's human-readable numbers (go-units): sizes and durations.

- :func:`human_size` -- decimal, 4 significant digits: ``1.5MB``, ``0B``, ``23.54GB``
  (``docker system df``, prune totals);
- :func:`size3` -- the same with 3 significant digits (``docker ps -s``, ``docker images``,
  ``docker stats``);
- :func:`bytes_size` -- binary: ``23.54GiB`` (``docker info``'s Total Memory);
- :func:`human_duration` -- ``Less than a second``, ``About a minute``,
  ``3 hours``, ... (``Up 3 hours``, ``2 days ago``);
- :func:`parse_go_duration` -- Go's ``time.ParseDuration`` (``1h30m``, ``1.5s``,
  ``300ms``), in seconds.
"""

from __future__ import annotations

_DECIMAL = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
_BINARY = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")


def _size(size: float, base: float, units: tuple[str, ...], digits: int = 4) -> str:
    i = 0
    while size >= base and i < len(units) - 1:
        size /= base
        i += 1
    return f"{size:.{digits}g}{units[i]}"


def human_size(size: float) -> str:
    return _size(float(size), 1000.0, _DECIMAL)


def size3(size: float) -> str:
    """go-units HumanSizeWithPrecision(size, 3)."""
    return _size(float(size), 1000.0, _DECIMAL, 3)


def bytes_size(size: float) -> str:
    return _size(float(size), 1024.0, _BINARY)


def human_duration(seconds: float) -> str:
    """go-units HumanDuration."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = s // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


def parse_go_duration(text: str) -> float:
    """Go's time.ParseDuration, in seconds; InvalidArgument when it is not one."""
    from berth import durations

    return durations.parse(text) / 1e9
