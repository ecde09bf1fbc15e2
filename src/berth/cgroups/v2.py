"""cgroup v2: the file writes that apply OCI ``linux.resources`` (pure planning).

What is written (runc's and crun's conversions)::

    cpuset.cpus, cpuset.mems
    memory.swap.max    OCI swap is memory + swap (v1's meaning): swap - limit; -1: max;
                       swap == limit: 0 (no swap)
    memory.max         limit (-1: max);  memory.low  reservation
    cpu.weight         from cpu.shares: 1 + ((shares - 2) * 9999) / 262142
    cpu.idle
    cpu.max            "<quota|max> [<period>]";  cpu.max.burst
    pids.max           limit (<= -1: max)
    io.weight          blkio weight (10..1000) -> 1 + (w - 10) * 9999 / 990
    io.bfq.weight      the blkio weight as is, when BFQ schedules cgroup I/O
    io.max             "<major>:<minor> rbps=|wbps=|riops=|wiops=<rate>"  (0: max, no limit)
    hugetlb.<size>.max, rdma.max
    unified            each key is a file of the container's cgroup, written last

Device rules are not writes on v2: ``berth.cgroups.devices.bpf_program``.
Settings v2 has no file for (swappiness, kernel TCP memory, the OOM killer
switch, net_cls/net_prio, leaf weights) are not written; :func:`ignored` lists
them. Realtime CPU settings are refused (v2 cannot express them).
"""

from __future__ import annotations

from berth.cgroups import values as val
from berth.cgroups.v1 import rdma_lines
from berth.cgroups.write import Write
from berth.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from berth.oci.runtime_spec import BlockIO, Resources

    Put = Callable[[str, str, str], None]

R = "linux.resources"
#: core files every cgroup2 directory has (no controller needed)
CORE = "cgroup"


def plan(
    res: Resources,
    directory: str,
    *,
    controllers: tuple[str, ...] | None = None,
    bfq: bool = False,
    current: Mapping[str, str] | None = None,
) -> list[Write]:
    """Every write, in order, into the container's v2 directory.

    ``controllers`` are the controllers available to it (None: do not check);
    ``current`` holds present file contents an update needs (``cpu.max``).
    """
    current = current or {}
    out: list[Write] = []

    def put(filename: str, value: str, what: str) -> None:
        controller = filename.split(".", 1)[0]
        if controllers is not None and controller != CORE and controller not in controllers:
            have = ", ".join(controllers) or "none"
            raise InvalidArgument(
                f"{what} needs the {controller} controller, which this cgroup v2 hierarchy does "
                f"not offer here (available: {have}); leave {what} unset"
            )
        out.append(Write(directory, filename, value))

    c = res.cpu
    if c is not None:
        if c.cpus:
            put("cpuset.cpus", val.cpu_list(c.cpus, f"{R}.cpu.cpus"), f"{R}.cpu.cpus")
        if c.mems:
            put("cpuset.mems", val.cpu_list(c.mems, f"{R}.cpu.mems"), f"{R}.cpu.mems")
    m = res.memory
    if m is not None:
        limit = m.limit or 0
        if limit < -1:
            raise InvalidArgument(f"{R}.memory.limit: {limit} is not a size (or -1)")
        swap = val.swap_v2(limit, m.swap)
        if swap is not None:
            put("memory.swap.max", val.v2_number(swap), f"{R}.memory.swap")
        if limit:
            put("memory.max", val.v2_number(limit), f"{R}.memory.limit")
        if m.reservation:
            put("memory.low", val.v2_number(m.reservation), f"{R}.memory.reservation")
    if c is not None:
        if c.realtime_period or c.realtime_runtime:
            raise InvalidArgument(
                f"{R}.cpu.realtimePeriod/realtimeRuntime: cgroup v2 has no realtime CPU "
                "settings — leave them unset"
            )
        if c.shares:
            weight = val.shares_to_weight(val.non_negative(c.shares, f"{R}.cpu.shares"))
            put("cpu.weight", str(weight), f"{R}.cpu.shares")
        if c.idle is not None:
            if c.idle not in (0, 1):
                raise InvalidArgument(f"{R}.cpu.idle: {c.idle} is not 0 or 1")
            put("cpu.idle", str(c.idle), f"{R}.cpu.idle")
        if c.quota or c.period:
            put("cpu.max", cpu_max(c.quota, c.period, current.get("cpu.max")), f"{R}.cpu.quota")
        if c.burst is not None:
            put("cpu.max.burst", str(val.non_negative(c.burst, f"{R}.cpu.burst")), f"{R}.cpu.burst")
    if res.pids is not None and res.pids.limit != 0:
        put("pids.max", val.v2_number(res.pids.limit), f"{R}.pids.limit")
    b = res.block_io
    if b is not None:
        _io(b, bfq, put)
    for i, h in enumerate(res.hugepage_limits):
        where = f"{R}.hugepageLimits[{i}]"
        size = val.page_size(h.page_size, f"{where}.pageSize")
        put(f"hugetlb.{size}.max", str(val.non_negative(h.limit, f"{where}.limit")), where)
    if res.rdma:
        for line in rdma_lines(res.rdma):
            put("rdma.max", line, f"{R}.rdma")
    for key, value in (res.unified or {}).items():
        where = f"{R}.unified[{key!r}]"
        if "/" in key or "." not in key or key.startswith(".") or key in (".", ".."):
            raise InvalidArgument(f"{where}: not a cgroup v2 file name like memory.high")
        put(key, value, where)
    return out


def cpu_max(quota: int | None, period: int | None, current: str | None = None) -> str:
    """The cpu.max line: quota (or max) and, when given, the period.

    With only a period given, the quota in force (``current``, the file's
    text) is kept, so an update of the period does not lift the limit.
    """
    if quota is not None and quota < -1:
        raise InvalidArgument(f"{R}.cpu.quota: {quota} is not a time in µs (or -1)")
    if quota:
        text = "max" if quota < 0 else str(quota)
    elif current and current.split():
        text = current.split()[0]
    else:
        text = "max"
    if period:
        text += f" {val.non_negative(period, f'{R}.cpu.period')}"
    return text


def _io(b: BlockIO, bfq: bool, put: Put) -> None:
    if b.weight:
        low = 1 if bfq else 10
        if not low <= b.weight <= 1000:
            raise InvalidArgument(f"{R}.blockIO.weight: {b.weight} is not within {low}..1000")
        if bfq:
            put("io.bfq.weight", str(b.weight), f"{R}.blockIO.weight")
        else:
            put("io.weight", str(val.blkio_to_io_weight(b.weight)), f"{R}.blockIO.weight")
    for i, wd in enumerate(b.weight_device):
        where = f"{R}.blockIO.weightDevice[{i}]"
        key = val.device(wd.major, wd.minor, where)
        if wd.weight:
            if bfq:
                put("io.bfq.weight", f"{key} {wd.weight}", where)
            else:
                put("io.weight", f"{key} {val.blkio_to_io_weight(wd.weight)}", where)
    for word, devs, json in (
        ("rbps", b.throttle_read_bps_device, "throttleReadBpsDevice"),
        ("wbps", b.throttle_write_bps_device, "throttleWriteBpsDevice"),
        ("riops", b.throttle_read_iops_device, "throttleReadIOPSDevice"),
        ("wiops", b.throttle_write_iops_device, "throttleWriteIOPSDevice"),
    ):
        for i, t in enumerate(devs):
            where = f"{R}.blockIO.{json}[{i}]"
            key = val.device(t.major, t.minor, where)
            rate = val.non_negative(t.rate, where + ".rate")
            put("io.max", f"{key} {word}={rate or 'max'}", where)


def ignored(res: Resources) -> list[str]:
    """Settings this driver accepts but does not apply, for the runtime to warn about."""
    out = []
    m = res.memory
    if m is not None:
        for name, value in (
            ("kernel", m.kernel),
            ("kernelTCP", m.kernel_tcp),
            ("disableOOMKiller", m.disable_oom_killer),
            ("useHierarchy", m.use_hierarchy),
        ):
            if value:
                out.append(f"{R}.memory.{name}: cgroup v2 has no such setting")
        if m.swappiness is not None and m.swappiness != -1:
            out.append(f"{R}.memory.swappiness: cgroup v2 has no such setting")
    n = res.network
    if n is not None and (n.class_id is not None or n.priorities):
        out.append(f"{R}.network: cgroup v2 has no net_cls/net_prio controllers")
    b = res.block_io
    if b is not None and (b.leaf_weight or any(w.leaf_weight for w in b.weight_device)):
        out.append(f"{R}.blockIO leaf weights: cgroup v2 has none")
    return out
