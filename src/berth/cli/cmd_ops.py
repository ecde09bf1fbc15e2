"""``berth rename``, ``berth update``, ``berth container prune``: Docker's flags and output."""

from __future__ import annotations

from berth.cli.command import Context, command
from berth.cli.flags import Flag
from berth.errors import BerthError, InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from berth.cli.flags import Parsed


@command("berth rename CONTAINER NEW_NAME", "Rename a container", [], min_args=2, max_args=2)
def rename(ctx: Context, opts: Parsed) -> int:
    old, new = opts.args
    if not old.strip() or not new.strip():
        raise BerthError("Error: Neither old nor new names may be empty")
    try:
        ctx.client.post_json(f"/containers/{old}/rename", {"name": new})
    except BerthError as e:
        ctx.err.write(f"Error response from daemon: {e.message}\n")
        raise BerthError(f"Error: failed to rename container named {old}") from None
    return 0


UPDATE_FLAGS = [
    Flag(
        "--blkio-weight",
        kind="str",
        help="Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)",
    ),
    Flag("--cpu-period", kind="str", help="Limit CPU CFS (Completely Fair Scheduler) period"),
    Flag("--cpu-quota", kind="str", help="Limit CPU CFS (Completely Fair Scheduler) quota"),
    Flag("--cpu-rt-period", kind="str", help="Limit the CPU real-time period in microseconds"),
    Flag("--cpu-rt-runtime", kind="str", help="Limit the CPU real-time runtime in microseconds"),
    Flag("-c", "--cpu-shares", kind="str", help="CPU shares (relative weight)"),
    Flag("--cpus", kind="str", help="Number of CPUs"),
    Flag("--cpuset-cpus", kind="str", help="CPUs in which to allow execution (0-3, 0,1)"),
    Flag("--cpuset-mems", kind="str", help="MEMs in which to allow execution (0-3, 0,1)"),
    Flag("--kernel-memory", kind="str", help="Kernel memory limit"),
    Flag("-m", "--memory", kind="str", help="Memory limit"),
    Flag("--memory-reservation", kind="str", help="Memory soft limit"),
    Flag(
        "--memory-swap",
        kind="str",
        help="Swap limit equal to memory plus swap: '-1' to enable unlimited swap",
    ),
    Flag("--pids-limit", kind="str", help="Tune container pids limit (set -1 for unlimited)"),
    Flag("--restart", kind="str", help="Restart policy to apply when a container exits"),
]


def _int(text: str, flag: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise InvalidArgument(f'invalid argument "{text}" for "{flag}" flag: invalid syntax')


def update_body(opts: Parsed) -> dict[str, Any]:
    """The UpdateConfig docker's CLI sends for these flags (only what was given)."""
    from berth.cli.runopts import parse_restart, ram_in_bytes

    body: dict[str, Any] = {}
    for dest, key, flag in (
        ("blkio_weight", "BlkioWeight", "--blkio-weight"),
        ("cpu_period", "CpuPeriod", "--cpu-period"),
        ("cpu_quota", "CpuQuota", "--cpu-quota"),
        ("cpu_rt_period", "CpuRealtimePeriod", "--cpu-rt-period"),
        ("cpu_rt_runtime", "CpuRealtimeRuntime", "--cpu-rt-runtime"),
        ("cpu_shares", "CpuShares", "--cpu-shares"),
        ("pids_limit", "PidsLimit", "--pids-limit"),
    ):
        value = opts.get(dest)
        if value is not None:
            body[key] = _int(value, flag)
    for dest, key in (
        ("memory", "Memory"),
        ("memory_reservation", "MemoryReservation"),
        ("kernel_memory", "KernelMemory"),
    ):
        value = opts.get(dest)
        if value is not None:
            body[key] = ram_in_bytes(value)
    if opts.memory_swap is not None:
        body["MemorySwap"] = -1 if opts.memory_swap == "-1" else ram_in_bytes(opts.memory_swap)
    if opts.cpus is not None:
        try:
            body["NanoCpus"] = round(float(opts.cpus) * 1e9)
        except ValueError:
            raise InvalidArgument(
                f'invalid argument "{opts.cpus}" for "--cpus" flag: failed to parse'
                f" {opts.cpus} as a rational number"
            ) from None
    for dest, key in (("cpuset_cpus", "CpusetCpus"), ("cpuset_mems", "CpusetMems")):
        value = opts.get(dest)
        if value is not None:
            body[key] = value
    if opts.restart is not None:
        body["RestartPolicy"] = parse_restart(opts.restart)
    return body


@command(
    "berth update [OPTIONS] CONTAINER [CONTAINER...]",
    "Update configuration of one or more containers",
    UPDATE_FLAGS,
    min_args=1,
)
def update(ctx: Context, opts: Parsed) -> int:
    if not opts.given:
        raise BerthError("You must provide one or more flags when using this command.")
    body = update_body(opts)
    warnings: list[str] = []
    errors: list[str] = []
    for ref in opts.args:
        try:
            answer = ctx.client.post_json(f"/containers/{ref}/update", None, body) or {}
        except BerthError as e:
            errors.append(f"Error response from daemon: {e.message}")
            continue
        ctx.print(ref)
        warnings += answer.get("Warnings") or []
    if warnings:
        ctx.print("\n".join(warnings))
    if errors:
        raise BerthError("\n".join(errors))
    return 0


@command(
    "berth container prune [OPTIONS]",
    "Remove all stopped containers",
    [
        Flag("--filter", kind="list", help='Provide filter values (e.g. "until=<timestamp>")'),
        Flag("-f", "--force", help="Do not prompt for confirmation"),
    ],
    max_args=0,
)
def container_prune(ctx: Context, opts: Parsed) -> int:

    from berth.cli.units import size3
    from berth.engine.filters import from_flags, to_json

    f = from_flags(opts.filter)
    if not opts.force and not ctx.confirm("WARNING! This will remove all stopped containers."):
        ctx.print("Total reclaimed space: 0B")
        return 0
    report = ctx.client.post_json("/containers/prune", {"filters": to_json(f)} if f else None)
    report = report or {}
    deleted = report.get("ContainersDeleted") or []
    reclaimed = 0
    if deleted:
        ctx.print("Deleted Containers:")
        for cid in deleted:
            ctx.print(cid)
        ctx.print()
        reclaimed = int(report.get("SpaceReclaimed") or 0)
    ctx.print(f"Total reclaimed space: {size3(float(reclaimed))}")
    return 0
