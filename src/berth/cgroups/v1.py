"""cgroup v1: the file writes that apply OCI ``linux.resources`` (pure planning).

What is written where (runc's choices; a value of None, or 0 where runc reads
0 as "unset", writes nothing)::

    cpuset   cpuset.cpus, cpuset.mems
    devices  devices.deny / devices.allow                 (berth.cgroups.devices)
    memory   memory.limit_in_bytes, memory.memsw.limit_in_bytes (OCI swap = memory + swap),
             memory.soft_limit_in_bytes (reservation), memory.kmem.tcp.limit_in_bytes,
             memory.swappiness, memory.oom_control (1: OOM killer off), memory.use_hierarchy
    cpu      cpu.shares, cpu.cfs_period_us, cpu.cfs_quota_us, cpu.cfs_burst_us,
             cpu.rt_period_us, cpu.rt_runtime_us, cpu.idle
    pids     pids.max                                     (limit <= -1: "max")
    blkio    blkio.weight | blkio.bfq.weight, blkio.leaf_weight, *weight_device,
             blkio.throttle.{read,write}_{bps,iops}_device
    hugetlb  hugetlb.<size>.limit_in_bytes
    net_cls  net_cls.classid;  net_prio  net_prio.ifpriomap
    rdma     rdma.max

Memory and memory+swap are written in the order the kernel accepts (memory
must stay <= memory+swap): the limit first unless the new memory+swap is above
the current limit (``current["memory.limit_in_bytes"]``; a fresh cgroup has
none). ``unified`` keys are refused: they need cgroup v2. Kernel memory limits
are not written (Linux no longer enforces them); :func:`ignored` lists them.
"""

from __future__ import annotations

from berth.cgroups import devices as dev
from berth.cgroups import values as val
from berth.cgroups.write import Write
from berth.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from berth.oci.runtime_spec import Resources

    Need = Callable[[str, str], str]

R = "linux.resources"


def plan(
    res: Resources,
    dirs: Mapping[str, str],
    *,
    bfq: bool = False,
    memsw: bool = True,
    current: Mapping[str, str] | None = None,
) -> list[Write]:
    """Every write, in order. ``dirs``: controller -> the container's directory."""
    if res.unified:
        raise InvalidArgument(
            f"{R}.unified: {', '.join(sorted(res.unified))} can only be set on cgroup v2; "
            "this host's controllers are cgroup v1: use the matching v1 settings instead"
        )

    def need(controller: str, what: str) -> str:
        d = dirs.get(controller)
        if d is None:
            have = ", ".join(sorted(k for k in dirs if k != "unified")) or "none"
            raise InvalidArgument(
                f"{what} needs the {controller} cgroup controller, which is not mounted on this "
                f"host (mounted: {have}); leave {what} unset"
            )
        return d

    out: list[Write] = []
    cpu = res.cpu
    if cpu is not None:
        if cpu.cpus:
            out.append(
                Write(
                    need("cpuset", f"{R}.cpu.cpus"),
                    "cpuset.cpus",
                    val.cpu_list(cpu.cpus, f"{R}.cpu.cpus"),
                )
            )
        if cpu.mems:
            out.append(
                Write(
                    need("cpuset", f"{R}.cpu.mems"),
                    "cpuset.mems",
                    val.cpu_list(cpu.mems, f"{R}.cpu.mems"),
                )
            )
    if res.devices:
        out.extend(dev.v1_writes(res.devices, need("devices", f"{R}.devices")))
    if res.memory is not None:
        out.extend(_memory(res, need, memsw, current or {}))
    if cpu is not None:
        out.extend(_cpu(res, need))
    if res.pids is not None and res.pids.limit != 0:
        d = need("pids", f"{R}.pids")
        out.append(Write(d, "pids.max", val.v2_number(res.pids.limit)))
    if res.block_io is not None:
        out.extend(_blkio(res, need, bfq))
    for i, h in enumerate(res.hugepage_limits):
        where = f"{R}.hugepageLimits[{i}]"
        size = val.page_size(h.page_size, f"{where}.pageSize")
        out.append(
            Write(
                need("hugetlb", where),
                f"hugetlb.{size}.limit_in_bytes",
                str(val.non_negative(h.limit, f"{where}.limit")),
            )
        )
    net = res.network
    if net is not None:
        if net.class_id is not None:
            d = need("net_cls", f"{R}.network.classID")
            out.append(
                Write(
                    d,
                    "net_cls.classid",
                    str(val.non_negative(net.class_id, f"{R}.network.classID")),
                )
            )
        for i, p in enumerate(net.priorities):
            where = f"{R}.network.priorities[{i}]"
            if not p.name or any(ch.isspace() for ch in p.name):
                raise InvalidArgument(f"{where}.name: {p.name!r} is not a network interface name")
            out.append(
                Write(
                    need("net_prio", where),
                    "net_prio.ifpriomap",
                    f"{p.name} {val.non_negative(p.priority, where + '.priority')}",
                )
            )
    if res.rdma:
        d = need("rdma", f"{R}.rdma")
        out.extend(Write(d, "rdma.max", line) for line in rdma_lines(res.rdma))
    return out


def _memory(res: Resources, need: Need, memsw: bool, current: Mapping[str, str]) -> list[Write]:
    m = res.memory
    assert m is not None
    d = need("memory", f"{R}.memory")
    out: list[Write] = []
    limit = m.limit or 0
    swap = m.swap or 0
    if limit < -1:
        raise InvalidArgument(f"{R}.memory.limit: {limit} is not a size (or -1)")
    if swap < -1:
        raise InvalidArgument(f"{R}.memory.swap: {swap} is not a size (or -1)")
    if limit == -1 and swap == 0 and memsw:
        swap = -1  # unlimited memory: unlimited memory+swap too, as runc does
    if swap != 0 and not memsw:
        raise InvalidArgument(
            f"{R}.memory.swap: this kernel has no swap accounting (no memory.memsw.* files; "
            "boot with swapaccount=1) — leave swap unset"
        )
    if limit > 0 and swap > 0 and swap < limit:
        raise InvalidArgument(
            f"{R}.memory.swap: {swap} is below the memory limit {limit} "
            "(on cgroup v1 swap is memory + swap, so it must be at least the memory limit)"
        )
    w_limit = Write(d, "memory.limit_in_bytes", str(limit))
    w_swap = Write(d, "memory.memsw.limit_in_bytes", str(swap))
    if limit != 0 and swap != 0:
        cur = val.parse_limit(current.get("memory.limit_in_bytes", "max"))
        if swap == -1 or (cur is not None and cur < swap):
            out += [w_swap, w_limit]
        else:
            out += [w_limit, w_swap]
    elif limit != 0:
        out.append(w_limit)
    elif swap != 0:
        out.append(w_swap)
    if m.reservation:
        if m.reservation < -1:
            raise InvalidArgument(f"{R}.memory.reservation: {m.reservation} is not a size (or -1)")
        out.append(Write(d, "memory.soft_limit_in_bytes", str(m.reservation)))
    if m.kernel_tcp:
        out.append(Write(d, "memory.kmem.tcp.limit_in_bytes", str(m.kernel_tcp)))
    if m.swappiness is not None and m.swappiness != -1:
        if not 0 <= m.swappiness <= 100:
            raise InvalidArgument(f"{R}.memory.swappiness: {m.swappiness} is not within 0..100")
        out.append(Write(d, "memory.swappiness", str(m.swappiness)))
    if m.disable_oom_killer is not None:
        out.append(Write(d, "memory.oom_control", "1" if m.disable_oom_killer else "0"))
    if m.use_hierarchy is not None:
        out.append(Write(d, "memory.use_hierarchy", "1" if m.use_hierarchy else "0"))
    return out


def _cpu(res: Resources, need: Need) -> list[Write]:
    c = res.cpu
    assert c is not None
    out: list[Write] = []

    def cpu_dir() -> str:
        return need("cpu", f"{R}.cpu")

    if c.shares:
        out.append(
            Write(cpu_dir(), "cpu.shares", str(val.non_negative(c.shares, f"{R}.cpu.shares")))
        )
    if c.period:
        out.append(
            Write(
                cpu_dir(), "cpu.cfs_period_us", str(val.non_negative(c.period, f"{R}.cpu.period"))
            )
        )
    if c.quota:
        if c.quota < -1:
            raise InvalidArgument(f"{R}.cpu.quota: {c.quota} is not a time in µs (or -1)")
        out.append(Write(cpu_dir(), "cpu.cfs_quota_us", str(c.quota)))
    if c.burst is not None:
        out.append(
            Write(cpu_dir(), "cpu.cfs_burst_us", str(val.non_negative(c.burst, f"{R}.cpu.burst")))
        )
    if c.realtime_period:
        out.append(
            Write(
                cpu_dir(),
                "cpu.rt_period_us",
                str(val.non_negative(c.realtime_period, f"{R}.cpu.realtimePeriod")),
            )
        )
    if c.realtime_runtime:
        out.append(Write(cpu_dir(), "cpu.rt_runtime_us", str(c.realtime_runtime)))
    if c.idle is not None:
        if c.idle not in (0, 1):
            raise InvalidArgument(f"{R}.cpu.idle: {c.idle} is not 0 or 1")
        out.append(Write(cpu_dir(), "cpu.idle", str(c.idle)))
    return out


def _blkio(res: Resources, need: Need, bfq: bool) -> list[Write]:
    b = res.block_io
    assert b is not None
    out: list[Write] = []

    def d() -> str:
        return need("blkio", f"{R}.blockIO")

    weight_file = "blkio.bfq.weight" if bfq else "blkio.weight"
    low = 1 if bfq else 10
    if b.weight:
        if not low <= b.weight <= 1000:
            raise InvalidArgument(f"{R}.blockIO.weight: {b.weight} is not within {low}..1000")
        out.append(Write(d(), weight_file, str(b.weight)))
    if b.leaf_weight:
        if bfq:
            raise InvalidArgument(
                f"{R}.blockIO.leafWeight: this kernel schedules cgroup I/O with BFQ, which has "
                "no leaf weights — leave leafWeight unset"
            )
        out.append(Write(d(), "blkio.leaf_weight", str(b.leaf_weight)))
    for i, wd in enumerate(b.weight_device):
        where = f"{R}.blockIO.weightDevice[{i}]"
        key = val.device(wd.major, wd.minor, where)
        if wd.weight:
            out.append(Write(d(), weight_file + "_device", f"{key} {wd.weight}"))
        if wd.leaf_weight:
            if bfq:
                raise InvalidArgument(
                    f"{where}.leafWeight: BFQ has no leaf weights — leave it unset"
                )
            out.append(Write(d(), "blkio.leaf_weight_device", f"{key} {wd.leaf_weight}"))
    for name, devs, json in (
        ("read_bps_device", b.throttle_read_bps_device, "throttleReadBpsDevice"),
        ("write_bps_device", b.throttle_write_bps_device, "throttleWriteBpsDevice"),
        ("read_iops_device", b.throttle_read_iops_device, "throttleReadIOPSDevice"),
        ("write_iops_device", b.throttle_write_iops_device, "throttleWriteIOPSDevice"),
    ):
        for i, t in enumerate(devs):
            where = f"{R}.blockIO.{json}[{i}]"
            key = val.device(t.major, t.minor, where)
            out.append(
                Write(
                    d(),
                    f"blkio.throttle.{name}",
                    f"{key} {val.non_negative(t.rate, where + '.rate')}",
                )
            )
    return out


def rdma_lines(rdma: Mapping[str, object]) -> list[str]:
    """OCI rdma {device: {hcaHandles, hcaObjects}} -> rdma.max lines."""
    out = []
    for name, limits in rdma.items():
        where = f"{R}.rdma.{name}"
        if not name or any(ch.isspace() for ch in name) or not isinstance(limits, dict):
            raise InvalidArgument(f"{where}: expected a device name and an object of limits")
        parts = [name]
        for key, word in (("hcaHandles", "hca_handle"), ("hcaObjects", "hca_object")):
            v = limits.get(key)
            if v is None:
                continue
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise InvalidArgument(f"{where}.{key}: {v!r} is not a count")
            parts.append(f"{word}={v}")
        if len(parts) > 1:
            out.append(" ".join(parts))
    return out


def ignored(res: Resources) -> list[str]:
    """Settings this driver accepts but does not apply, for the runtime to warn about."""
    out = []
    if res.memory is not None and res.memory.kernel:
        out.append(f"{R}.memory.kernel: kernel memory limits are no longer enforced by Linux")
    return out
