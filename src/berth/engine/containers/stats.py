"""``docker stats``: Docker's stats JSON for a container, sampled from its cgroup.

``GET /containers/{id}/stats?stream=&one-shot=`` answers Docker's
``StatsJSON``::

    {"read": RFC 3339, "preread": RFC 3339,
     "pids_stats": {...}, "blkio_stats": {...}, "num_procs": 0, "storage_stats": {},
     "cpu_stats": {"cpu_usage": {...}, "system_cpu_usage": ns, "online_cpus": N,
                   "throttling_data": {...}},
     "precpu_stats": {... the previous sample's cpu_stats ...},
     "memory_stats": {"usage", "max_usage", "limit", "stats": {...}},
     "name": "/name", "id": ID,
     "networks": {"eth0": {"rx_bytes", "rx_packets", "rx_errors", "rx_dropped",
                           "tx_bytes", "tx_packets", "tx_errors", "tx_dropped"}}}

The cgroup part comes from :meth:`berth.cgroups.Cgroup.stats`; berth adds
the host's CPU time (``/proc/stat``, the first seven fields of the ``cpu``
line, in ns), the online CPUs, the host's memory as the limit of a
container that has none (as Docker shows it), and the counters of the
container's interfaces but ``lo``, read from ``/proc/<pid>/net/dev`` (its
network namespace). As Docker: streamed once a second (the first document
has an empty ``precpu_stats``); ``stream=false`` waits for a second sample
so that the CPU share can be computed, unless ``one-shot``; a container that
is not running gives documents with only ``name`` and ``id`` set.

Parsers take text (:func:`parse_net_dev`, :func:`parse_proc_stat`), so
they are tested without a container.
"""

from __future__ import annotations

import os
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any

    from berth.engine.containers.service import ContainerService
    from berth.engine.containers.store import ContainerRow

INTERVAL = 1.0  # seconds between two samples, as Docker's collector
ZERO_TIME = "0001-01-01T00:00:00Z"
CLOCK_TICKS = 100  # USER_HZ: /proc/stat counts in 1/100 s
_NET_FIELDS = ("bytes", "packets", "errs", "drop")
_NET_NAMES = ("bytes", "packets", "errors", "dropped")
_BLKIO_KEYS = (
    "io_service_bytes_recursive",
    "io_serviced_recursive",
    "io_queue_recursive",
    "io_service_time_recursive",
    "io_wait_time_recursive",
    "io_merged_recursive",
    "io_time_recursive",
    "sectors_recursive",
)


def parse_net_dev(text: str) -> dict[str, dict[str, int]]:
    """``/proc/<pid>/net/dev`` -> Docker's per-interface counters (``lo`` left out)."""
    out: dict[str, dict[str, int]] = {}
    for line in text.splitlines():
        name, colon, rest = line.partition(":")
        if not colon or "|" in line:
            continue
        name = name.strip()
        values = rest.split()
        if name == "lo" or len(values) < 16 or not all(v.isdigit() for v in values):
            continue
        rx, tx = values[0:4], values[8:12]
        counters: dict[str, int] = {}
        for key, r, t in zip(_NET_NAMES, rx, tx, strict=True):
            counters["rx_" + key] = int(r)
            counters["tx_" + key] = int(t)
        out[name] = {
            k: counters[k]
            for k in (
                "rx_bytes",
                "rx_packets",
                "rx_errors",
                "rx_dropped",
                "tx_bytes",
                "tx_packets",
                "tx_errors",
                "tx_dropped",
            )
        }
    return out


def parse_proc_stat(text: str) -> tuple[int, int]:
    """``/proc/stat`` -> (the host's CPU time in ns, the number of CPUs it lists)."""
    total = 0
    cpus = 0
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "cpu" and len(parts) >= 8:
            total = sum(int(v) for v in parts[1:8]) * 1_000_000_000 // CLOCK_TICKS
        elif parts[0].startswith("cpu") and parts[0][3:].isdigit():
            cpus += 1
    return total, cpus


def parse_meminfo_total(text: str) -> int:
    """``MemTotal:  24576000 kB`` -> bytes (0 when absent)."""
    for line in text.splitlines():
        if line.startswith("MemTotal:"):
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                return int(parts[1]) * 1024
    return 0


def empty_cpu() -> dict[str, Any]:
    return {
        "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    }


def empty_stats(name: str, cid: str) -> dict[str, Any]:
    """What Docker answers for a container that does not run: only the name and id."""
    return {
        "read": ZERO_TIME,
        "preread": ZERO_TIME,
        "pids_stats": {},
        "blkio_stats": dict.fromkeys(_BLKIO_KEYS),
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": empty_cpu(),
        "precpu_stats": empty_cpu(),
        "memory_stats": {},
        "name": name,
        "id": cid,
    }


class Sample:
    """One reading of a container's counters."""

    __slots__ = ("cgroup", "networks", "online_cpus", "read", "system_cpu")

    def __init__(
        self,
        read: str,
        cgroup: dict[str, Any],
        system_cpu: int,
        online_cpus: int,
        networks: dict[str, dict[str, int]] | None,
    ) -> None:
        self.read = read
        self.cgroup = cgroup
        self.system_cpu = system_cpu
        self.online_cpus = online_cpus
        self.networks = networks

    def cpu_stats(self) -> dict[str, Any]:
        cpu = dict(self.cgroup.get("cpu_stats") or empty_cpu())
        cpu.setdefault("cpu_usage", empty_cpu()["cpu_usage"])
        cpu.setdefault("throttling_data", empty_cpu()["throttling_data"])
        cpu["system_cpu_usage"] = self.system_cpu
        cpu["online_cpus"] = self.online_cpus
        return cpu


def document(
    name: str, cid: str, cur: Sample, prev: Sample | None, host_memory: int
) -> dict[str, Any]:
    """Docker's StatsJSON from this sample and the previous one (if any)."""
    cg = cur.cgroup
    memory = dict(cg.get("memory_stats") or {})
    if memory:
        limit = memory.get("limit")
        if host_memory and (limit is None or limit > host_memory):
            memory["limit"] = host_memory
        elif limit is None:
            memory["limit"] = 0
    pids = dict(cg.get("pids_stats") or {})
    if pids and pids.get("limit") is None:
        pids.pop("limit")
    blkio = dict.fromkeys(_BLKIO_KEYS)
    blkio.update(cg.get("blkio_stats") or {})
    doc: dict[str, Any] = {
        "read": cur.read,
        "preread": prev.read if prev is not None else ZERO_TIME,
        "pids_stats": pids,
        "blkio_stats": blkio,
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": cur.cpu_stats(),
        "precpu_stats": prev.cpu_stats() if prev is not None else empty_cpu(),
        "memory_stats": memory,
        "name": name,
        "id": cid,
    }
    if cur.networks:
        doc["networks"] = cur.networks
    return doc


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def host_memory() -> int:
    return parse_meminfo_total(_read("/proc/meminfo"))


def take_sample(svc: ContainerService, row: ContainerRow) -> Sample | None:
    """Read the container's counters now; None when it does not run (any more)."""
    from berth.engine.monitor.logfile import now_rfc3339
    from berth.errors import BerthError

    if not row.state.get("Running"):
        return None
    pid = int(row.state.get("Pid") or 0)
    try:
        cg = svc._cgroup(row)
        if cg is None:
            return None
        cgroup = cg.stats()
    except BerthError:
        return None
    system_cpu, listed = parse_proc_stat(_read("/proc/stat"))
    online = os.sysconf("SC_NPROCESSORS_ONLN") if hasattr(os, "sysconf") else listed
    networks = None
    if pid and str(row.host_config.get("NetworkMode") or "") != "host":
        networks = parse_net_dev(_read(f"/proc/{pid}/net/dev"))
    return Sample(now_rfc3339(), cgroup, system_cpu, int(online or listed), networks)


def stats(
    svc: ContainerService,
    row: ContainerRow,
    *,
    stream: bool = True,
    one_shot: bool = False,
    interval: float = INTERVAL,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[dict[str, Any]]:
    """The documents of ``GET /containers/{id}/stats``: one per ``interval`` while
    streaming (until the container is removed), else one."""
    name = "/" + row.name
    memory = host_memory()
    prev = None
    if not stream:
        cur = take_sample(svc, row)
        if cur is None:
            yield empty_stats(name, row.id)
            return
        if not one_shot:
            prev = cur
            sleep(interval)
            cur = take_sample(svc, row) or cur
        yield document(name, row.id, cur, prev, memory)
        return
    while row.id in svc.rows:
        name = "/" + row.name
        sample = take_sample(svc, row)
        if sample is None:
            prev = None
            yield empty_stats(name, row.id)
        else:
            yield document(name, row.id, sample, prev, memory)
            prev = sample
        sleep(interval)
