"""Resource usage of a cgroup, in the shape of the Docker Engine API's container stats.

:func:`collect` returns the cgroup part of ``GET /containers/{id}/stats``::

    {"cpu_stats":    {"cpu_usage": {"total_usage": ns, "percpu_usage": [ns, ...] (v1),
                                    "usage_in_kernelmode": ns, "usage_in_usermode": ns},
                      "throttling_data": {"periods", "throttled_periods", "throttled_time": ns}},
     "memory_stats": {"usage", "max_usage", "failcnt" (v1), "limit", "stats": {memory.stat}},
     "pids_stats":   {"current", "limit"},
     "blkio_stats":  {"io_service_bytes_recursive": [{"major", "minor", "op", "value"}],
                      "io_serviced_recursive": [...]}}

A limit that is not set is None (the engine shows the host's memory, as Docker
does). The page cache is ``memory_stats.stats["cache"]`` on v1 and ``["file"]``
on v2. Sections whose files are missing (a controller that is not enabled) are
left out. The engine adds what is not the cgroup's: ``read``,
``system_cpu_usage``, ``online_cpus``, ``networks``. Parsers take text.
"""

from __future__ import annotations

from berth.cgroups.values import parse_limit
from berth.errors import KernelError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from berth.cgroups.cgroup import Cgroup

USER_HZ = 100


def _digits(text: str) -> bool:
    """Only ASCII digits (``str.isdigit`` is true of "²" too, which int() refuses)."""
    return text.isascii() and text.isdigit()


def parse_flat(text: str) -> dict[str, int]:
    """``key value`` lines (memory.stat, cpu.stat, cpuacct.stat, *.events) -> {key: value}."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and _digits(parts[1].lstrip("-")):
            out[parts[0]] = int(parts[1])
    return out


def parse_ints(text: str) -> list[int]:
    """Whitespace-separated numbers (cpuacct.usage_percpu)."""
    return [int(x) for x in text.split()]


def parse_blkio_v1(text: str) -> list[dict[str, Any]]:
    """blkio.throttle.io_service_bytes(_recursive) lines ``maj:min Op value``."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 3 or ":" not in parts[0]:
            continue  # the closing "Total N" line
        major, _, minor = parts[0].partition(":")
        if not (_digits(major) and _digits(minor) and _digits(parts[2])):
            continue
        out.append(
            {"major": int(major), "minor": int(minor), "op": parts[1], "value": int(parts[2])}
        )
    return out


def parse_io_stat(text: str) -> dict[tuple[int, int], dict[str, int]]:
    """v2 io.stat lines ``maj:min rbytes=N wbytes=N rios=N wios=N ...``."""
    out: dict[tuple[int, int], dict[str, int]] = {}
    for line in text.splitlines():
        parts = line.split()
        if not parts or ":" not in parts[0]:
            continue
        major, _, minor = parts[0].partition(":")
        if not (_digits(major) and _digits(minor)):
            continue
        fields = {}
        for item in parts[1:]:
            key, _, value = item.partition("=")
            if _digits(value):
                fields[key] = int(value)
        out[(int(major), int(minor))] = fields
    return out


def io_stat_to_blkio(stat: dict[tuple[int, int], dict[str, int]]) -> dict[str, Any]:
    """v2 io.stat -> Docker's blkio_stats (ops ``read``/``write``, as Docker reports v2)."""
    service_bytes, serviced = [], []
    for (major, minor), f in sorted(stat.items()):
        for op, b, n in (("read", "rbytes", "rios"), ("write", "wbytes", "wios")):
            service_bytes.append({"major": major, "minor": minor, "op": op, "value": f.get(b, 0)})
            serviced.append({"major": major, "minor": minor, "op": op, "value": f.get(n, 0)})
    return {"io_service_bytes_recursive": service_bytes, "io_serviced_recursive": serviced}


def collect(cg: Cgroup) -> dict[str, Any]:
    fs = cg.fs

    def read(path: str) -> str | None:
        try:
            return fs.read(path)
        except KernelError as e:
            if e.errno in (2, 19, 95):  # ENOENT, ENODEV, EOPNOTSUPP: not here
                return None
            raise

    if cg.layout.mode == "v2":
        return _collect_v2(cg.paths["unified"], read)
    return _collect_v1(cg.paths, read)


def _collect_v1(paths: dict[str, str], read: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    acct = paths.get("cpuacct")
    cpu_stats: dict[str, Any] = {}
    if acct is not None:
        usage: dict[str, Any] = {}
        total = read(f"{acct}/cpuacct.usage")
        if total is not None:
            usage["total_usage"] = int(total)
            percpu = read(f"{acct}/cpuacct.usage_percpu")
            if percpu is not None:
                usage["percpu_usage"] = parse_ints(percpu)
            user, system = read(f"{acct}/cpuacct.usage_user"), read(f"{acct}/cpuacct.usage_sys")
            if user is not None and system is not None:
                usage["usage_in_usermode"] = int(user)
                usage["usage_in_kernelmode"] = int(system)
            else:
                ticks = parse_flat(read(f"{acct}/cpuacct.stat") or "")
                usage["usage_in_usermode"] = ticks.get("user", 0) * 10**9 // USER_HZ
                usage["usage_in_kernelmode"] = ticks.get("system", 0) * 10**9 // USER_HZ
            cpu_stats["cpu_usage"] = usage
    cpu = paths.get("cpu")
    if cpu is not None:
        st = read(f"{cpu}/cpu.stat")
        if st is not None:
            f = parse_flat(st)
            cpu_stats["throttling_data"] = {
                "periods": f.get("nr_periods", 0),
                "throttled_periods": f.get("nr_throttled", 0),
                "throttled_time": f.get("throttled_time", 0),
            }
    if cpu_stats:
        out["cpu_stats"] = cpu_stats
    mem = paths.get("memory")
    if mem is not None:
        usage_text = read(f"{mem}/memory.usage_in_bytes")
        if usage_text is not None:
            m: dict[str, Any] = {"usage": int(usage_text)}
            for key, name in (("max_usage", "max_usage_in_bytes"), ("failcnt", "failcnt")):
                text = read(f"{mem}/memory.{name}")
                if text is not None:
                    m[key] = int(text)
            m["limit"] = parse_limit(read(f"{mem}/memory.limit_in_bytes") or "max")
            m["stats"] = parse_flat(read(f"{mem}/memory.stat") or "")
            out["memory_stats"] = m
    pids = paths.get("pids")
    if pids is not None:
        current = read(f"{pids}/pids.current")
        if current is not None:
            out["pids_stats"] = {
                "current": int(current),
                "limit": parse_limit(read(f"{pids}/pids.max") or "max"),
            }
    blkio = paths.get("blkio")
    if blkio is not None:
        b = read(f"{blkio}/blkio.throttle.io_service_bytes_recursive")
        n = read(f"{blkio}/blkio.throttle.io_serviced_recursive")
        if b is not None or n is not None:
            out["blkio_stats"] = {
                "io_service_bytes_recursive": parse_blkio_v1(b or ""),
                "io_serviced_recursive": parse_blkio_v1(n or ""),
            }
    return out


def _collect_v2(d: str, read: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    st = read(f"{d}/cpu.stat")
    if st is not None:
        f = parse_flat(st)
        out["cpu_stats"] = {
            "cpu_usage": {
                "total_usage": f.get("usage_usec", 0) * 1000,
                "usage_in_usermode": f.get("user_usec", 0) * 1000,
                "usage_in_kernelmode": f.get("system_usec", 0) * 1000,
            },
            "throttling_data": {
                "periods": f.get("nr_periods", 0),
                "throttled_periods": f.get("nr_throttled", 0),
                "throttled_time": f.get("throttled_usec", 0) * 1000,
            },
        }
    current = read(f"{d}/memory.current")
    if current is not None:
        m: dict[str, Any] = {"usage": int(current)}
        peak = read(f"{d}/memory.peak")
        if peak is not None:
            m["max_usage"] = int(peak)
        m["limit"] = parse_limit(read(f"{d}/memory.max") or "max")
        m["stats"] = parse_flat(read(f"{d}/memory.stat") or "")
        out["memory_stats"] = m
    pids = read(f"{d}/pids.current")
    if pids is not None:
        out["pids_stats"] = {
            "current": int(pids),
            "limit": parse_limit(read(f"{d}/pids.max") or "max"),
        }
    io = read(f"{d}/io.stat")
    if io is not None:
        out["blkio_stats"] = io_stat_to_blkio(parse_io_stat(io))
    return out
