"""``stats`` output: Docker's computed columns from the Engine API's stats JSON.

:func:`entry` turns one stats document into a :class:`StatsRow` -- the
fields docker's ``--format`` knows (``.Container``, ``.ID``, ``.Name``,
``.CPUPerc``, ``.MemUsage``, ``.MemPerc``, ``.NetIO``, ``.BlockIO``,
``.PIDs``) -- computed as docker's CLI computes them:

- CPU %: the container's CPU time over the host's between ``precpu_stats``
  and ``cpu_stats``, times the online CPUs;
- memory: usage without the inactive page cache (``total_inactive_file`` on
  cgroup v1, ``inactive_file`` on v2), over the limit;
- NET I/O and BLOCK I/O: sums over the interfaces and the devices.
"""

from __future__ import annotations

from berth.cli.units import size3

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DEFAULT = (
    "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}"
    "\t{{.BlockIO}}\t{{.PIDs}}"
)
HEADERS = {
    "Container": "CONTAINER",
    "ID": "CONTAINER ID",
    "Name": "NAME",
    "CPUPerc": "CPU %",
    "MemUsage": "MEM USAGE / LIMIT",
    "MemPerc": "MEM %",
    "NetIO": "NET I/O",
    "BlockIO": "BLOCK I/O",
    "PIDs": "PIDS",
}


def cpu_percent(doc: dict[str, Any]) -> float:
    cpu = doc.get("cpu_stats") or {}
    pre = doc.get("precpu_stats") or {}
    total = (cpu.get("cpu_usage") or {}).get("total_usage") or 0
    pre_total = (pre.get("cpu_usage") or {}).get("total_usage") or 0
    cpu_delta = float(total) - float(pre_total)
    system_delta = float(cpu.get("system_cpu_usage") or 0) - float(pre.get("system_cpu_usage") or 0)
    online = float(cpu.get("online_cpus") or 0)
    if online == 0.0:
        online = float(len((cpu.get("cpu_usage") or {}).get("percpu_usage") or []))
    if system_delta > 0.0 and cpu_delta > 0.0:
        return cpu_delta / system_delta * online * 100.0
    return 0.0


def memory_usage(memory: dict[str, Any]) -> float:
    """Usage without the inactive file cache, as docker shows it."""
    usage = int(memory.get("usage") or 0)
    stats = memory.get("stats") or {}
    if "total_inactive_file" in stats:  # cgroup v1
        v = int(stats["total_inactive_file"])
        if v < usage:
            return float(usage - v)
    v = int(stats.get("inactive_file") or 0)
    if v < usage:
        return float(usage - v)
    return float(usage)


def block_io(blkio: dict[str, Any]) -> tuple[int, int]:
    read = write = 0
    for entry in blkio.get("io_service_bytes_recursive") or []:
        op = str(entry.get("op") or "")
        if op[:1] in ("r", "R"):
            read += int(entry.get("value") or 0)
        elif op[:1] in ("w", "W"):
            write += int(entry.get("value") or 0)
    return read, write


def network_io(networks: dict[str, Any] | None) -> tuple[int, int]:
    rx = tx = 0
    for counters in (networks or {}).values():
        rx += int(counters.get("rx_bytes") or 0)
        tx += int(counters.get("tx_bytes") or 0)
    return rx, tx


class StatsRow:
    """One line of ``berth stats``: Docker's field names for ``--format``."""

    def __init__(self, container: str, doc: dict[str, Any] | None, trunc: bool = True) -> None:
        from berth.cli.units import bytes_size

        self._doc = doc or {}
        self._trunc = trunc
        self.Container = container
        d = self._doc
        full_id = str(d.get("id") or container)
        self.ID = full_id[:12] if trunc else full_id
        name = str(d.get("name") or "")
        self.Name = name[1:] if len(name) > 1 else "--"
        if doc is None:  # no answer (yet, or an error): docker's "--" cells
            self.CPUPerc = self.MemPerc = self.NetIO = self.BlockIO = self.PIDs = "--"
            self.MemUsage = "-- / --"
            return
        memory = d.get("memory_stats") or {}
        used = memory_usage(memory)
        limit = float(memory.get("limit") or 0)
        self.CPUPerc = f"{cpu_percent(d):.2f}%"
        self.MemUsage = f"{bytes_size(used)} / {bytes_size(limit)}"
        self.MemPerc = f"{(used / limit * 100.0) if limit else 0.0:.2f}%"
        rx, tx = network_io(d.get("networks"))
        self.NetIO = f"{size3(rx)} / {size3(tx)}"
        r, w = block_io(d.get("blkio_stats") or {})
        self.BlockIO = f"{size3(r)} / {size3(w)}"
        self.PIDs = str(int((d.get("pids_stats") or {}).get("current") or 0))

    def to_json(self) -> dict[str, str]:
        return {
            "BlockIO": self.BlockIO,
            "CPUPerc": self.CPUPerc,
            "Container": self.Container,
            "ID": self.ID,
            "MemPerc": self.MemPerc,
            "MemUsage": self.MemUsage,
            "Name": self.Name,
            "NetIO": self.NetIO,
            "PIDs": self.PIDs,
        }


def render(rows: list[StatsRow], fmt: str | None) -> str:
    from berth.cli.template import render as render_template

    return render_template(fmt or DEFAULT, list(rows), HEADERS)
