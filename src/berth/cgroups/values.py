"""Checks and conversions of resource values shared by the v1 and v2 planners (pure)."""

from __future__ import annotations

from berth.errors import InvalidArgument

#: v1 memory counters report "no limit" as a huge number (PAGE_COUNTER_MAX pages)
UNLIMITED_V1 = 1 << 62
_PAGE_UNITS = ("KB", "MB", "GB", "TB")


def cpu_list(text: str, where: str) -> str:
    """Check a cpuset list (``0-3,5,7-8``); returns it unchanged."""
    if text.strip() != text or not text:
        raise InvalidArgument(f"{where}: {text!r} is not a CPU/memory-node list like 0-3,5")
    for part in text.split(","):
        lo, sep, hi = part.partition("-")
        if not lo.isdigit() or (sep and not hi.isdigit()) or (sep and int(hi) < int(lo)):
            raise InvalidArgument(f"{where}: {text!r} is not a CPU/memory-node list like 0-3,5")
    return text


def page_size(text: str, where: str) -> str:
    """Check a hugepage size as cgroup file names spell it (``2MB``, ``1GB``, ``64KB``)."""
    number, unit = text[:-2], text[-2:]
    if unit not in _PAGE_UNITS or not number.isdigit() or int(number) == 0 or number[0] == "0":
        raise InvalidArgument(f"{where}: {text!r} is not a hugepage size like 2MB or 1GB")
    return text


def device(major: int, minor: int, where: str) -> str:
    """``major:minor`` of a block device, checked."""
    if major < 0 or minor < 0:
        raise InvalidArgument(f"{where}: {major}:{minor} is not a block device number")
    return f"{major}:{minor}"


def non_negative(value: int, where: str) -> int:
    if value < 0:
        raise InvalidArgument(f"{where}: {value} must not be negative")
    return value


def shares_to_weight(shares: int) -> int:
    """cpu.shares (2..262144) -> cpu.weight (1..10000): runc's and crun's linear map."""
    if shares <= 0:
        return 0
    shares = max(2, min(shares, 262144))
    return 1 + ((shares - 2) * 9999) // 262142


def blkio_to_io_weight(weight: int) -> int:
    """blkio.weight (10..1000) -> io.weight (1..10000), as runc maps it."""
    if weight <= 0:
        return 0
    weight = max(10, min(weight, 1000))
    return 1 + ((weight - 10) * 9999) // 990


def swap_v2(limit: int | None, swap: int | None) -> int | None:
    """OCI memory.swap (memory + swap, v1's meaning) -> v2 memory.swap.max (swap alone).

    None: leave memory.swap.max alone; -1: unlimited ("max"); 0: no swap.
    """
    limit = limit or 0
    swap = swap or 0
    if swap == 0:
        return -1 if limit == -1 else None
    if swap == -1:
        return -1
    if swap < -1:
        raise InvalidArgument(f"linux.resources.memory.swap: {swap} is not a size (or -1)")
    if limit in (0, -1):
        raise InvalidArgument(
            "linux.resources.memory.swap: a swap limit needs a memory limit too "
            "(swap is memory + swap, as on cgroup v1)"
        )
    if swap < limit:
        raise InvalidArgument(
            f"linux.resources.memory.swap: {swap} is below the memory limit {limit} "
            "(swap is memory + swap, so it must be at least the memory limit)"
        )
    return swap - limit


def v2_number(value: int) -> str:
    """A v2 limit value: -1 (or below) is ``max``."""
    return "max" if value < 0 else str(value)


def parse_limit(text: str) -> int | None:
    """A limit as read from a cgroup file: None for unlimited (``max``, v1's huge value)."""
    s = text.strip()
    if s in ("max", "-1", ""):
        return None
    n = int(s)
    return None if n >= UNLIMITED_V1 else n
