"""rename, update, prune: changes to containers that are not their lifecycle.

=====================================  =============================================
endpoint                               function
=====================================  =============================================
POST /containers/{id}/rename?name=     :func:`rename`
POST /containers/{id}/update           :func:`update` -> {"Warnings"}
POST /containers/prune?filters=        :func:`prune` -> {"ContainersDeleted",
                                       "SpaceReclaimed"}
=====================================  =============================================

``update`` follows Docker: the body's resources (``Memory``, ``MemorySwap``,
``MemoryReservation``, ``NanoCpus``, ``CpuPeriod``, ``CpuQuota``,
``CpuShares``, ``CpusetCpus``, ``CpusetMems``, ``BlkioWeight``,
``PidsLimit``, ``CpuRealtimePeriod``/``Runtime``) and ``RestartPolicy``;
a zero (or absent) value leaves the setting as it is. They are merged into
the stored HostConfig with Docker's checks (:func:`merge_update`, pure), and
for a running or paused container written to its cgroup through the
runtime (``berth.runtime.lifecycle.update``), which also keeps the runtime
state's config in step. A stopped container gets them at its next start.
One difference from Docker: a memory limit on a container whose swap is
unlimited (``--memory-swap -1``) is accepted without ``--memory-swap``.

``prune`` removes every container that is not running (not paused), with
the ``until`` and ``label``/``label!`` filters; the space reclaimed is the
size of their writable layers.
"""

from __future__ import annotations

import os
import threading

from berth.errors import BerthError, Conflict, InvalidArgument, NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from berth.engine.containers.service import ContainerService
    from berth.engine.filters import Filters

MIN_MEMORY = 6 * 1024 * 1024
PRUNE_FILTERS = ("until", "label", "label!")

_INT_FIELDS = (
    "Memory",
    "MemorySwap",
    "MemoryReservation",
    "KernelMemory",
    "NanoCpus",
    "CpuPeriod",
    "CpuQuota",
    "CpuShares",
    "BlkioWeight",
    "CpuRealtimePeriod",
    "CpuRealtimeRuntime",
    "PidsLimit",
)
_RESTART_POLICIES = ("", "no", "always", "on-failure", "unless-stopped")


# -- rename ---------------------------------------------------------------------------------


def rename(svc: ContainerService, ref: str, new_name: str) -> None:
    """Give a container another name (Docker's checks and messages); event ``rename``."""
    from berth.engine.containers import names

    if not ref or not new_name:
        raise InvalidArgument("Neither old nor new names may be empty")
    row = svc.find(ref)
    bare = names.check(new_name)
    with svc.lock:
        old = row.name
        if bare == old:
            raise InvalidArgument("Renaming a container with the same name as its current name")
        for other in svc.rows.values():
            if other.name == bare and other.id != row.id:
                raise Conflict(
                    f'Conflict. The container name "/{bare}" is already in use by container '
                    f'"{other.id}". You have to remove (or rename) that container to be able '
                    "to reuse that name."
                )
        row.name = bare
        try:
            svc.store.save(row)
        except BaseException:
            row.name = old
            raise
    rename_endpoint = getattr(svc.network, "rename", None)
    if rename_endpoint is not None:  # the embedded DNS answers to the new name
        rename_endpoint(row.id, bare)
    svc._publish(row, "rename", {"oldName": "/" + old})


# -- update ---------------------------------------------------------------------------------


def _check_body(body: dict[str, Any]) -> None:
    for key in _INT_FIELDS:
        v = body.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
            raise InvalidArgument(f"{key}: expected an integer, got {type(v).__name__}")
    for key in ("CpusetCpus", "CpusetMems"):
        v = body.get(key)
        if v is not None and not isinstance(v, str):
            raise InvalidArgument(f"{key}: expected a string, got {type(v).__name__}")
    policy = body.get("RestartPolicy")
    if policy is not None and not isinstance(policy, dict):
        raise InvalidArgument("RestartPolicy: expected an object")


def verify_resources(body: dict[str, Any]) -> list[str]:
    """Docker's checks of the values themselves; returns the warnings."""
    warnings: list[str] = []
    mem = int(body.get("Memory") or 0)
    if 0 < mem < MIN_MEMORY:
        raise InvalidArgument("Minimum memory limit allowed is 6MB")
    swap = int(body.get("MemorySwap") or 0)
    if swap > 0 and mem > 0 and swap < mem:
        raise InvalidArgument(
            "Minimum memoryswap limit should be larger than memory limit, see usage"
        )
    reservation = int(body.get("MemoryReservation") or 0)
    if 0 < reservation < MIN_MEMORY:
        raise InvalidArgument("Minimum memory reservation allowed is 6MB")
    if mem > 0 and reservation > 0 and mem < reservation:
        raise InvalidArgument(
            "Minimum memory limit can not be less than memory reservation limit, see usage"
        )
    if body.get("KernelMemory"):
        warnings.append(
            "Kernel memory limit is not supported or is deprecated; the limit is ignored"
        )
    period = int(body.get("CpuPeriod") or 0)
    if period and not 1000 <= period <= 1_000_000:
        raise InvalidArgument(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"
        )
    quota = int(body.get("CpuQuota") or 0)
    if quota > 0 and quota < 1000:
        raise InvalidArgument("CPU cfs quota can not be less than 1ms (i.e. 1000)")
    nano = int(body.get("NanoCpus") or 0)
    if nano and (period or quota):
        raise InvalidArgument("Conflicting options: Nano CPUs and CPU Period cannot both be set")
    ncpu = os.cpu_count() or 1
    if nano < 0 or nano > ncpu * 1_000_000_000:
        raise InvalidArgument(
            f"Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
        )
    weight = int(body.get("BlkioWeight") or 0)
    if weight and not 10 <= weight <= 1000:
        raise InvalidArgument("Range of blkio weight is from 10 to 1000")
    if int(body.get("CpuShares") or 0) < 0:
        raise InvalidArgument("CpuShares: must not be negative")
    return warnings


def _effective_swap(hc: dict[str, Any]) -> int:
    """The swap limit a container has: its own, or twice its memory (Docker's default)."""
    swap = int(hc.get("MemorySwap") or 0)
    if swap == 0 and hc.get("Memory"):
        return int(hc["Memory"]) * 2
    return swap


def merge_update(
    hc: dict[str, Any], body: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """(new HostConfig, OCI ``linux.resources`` to write, warnings) for an update body.

    Raises InvalidArgument/Conflict with Docker's messages for what cannot change.
    """
    _check_body(body)
    warnings = verify_resources(body)
    new = dict(hc)
    res: dict[str, Any] = {}
    nano = int(body.get("NanoCpus") or 0)
    period = int(body.get("CpuPeriod") or 0)
    quota = int(body.get("CpuQuota") or 0)
    if nano > 0 and hc.get("CpuPeriod"):
        raise Conflict(
            "Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set"
        )
    if nano > 0 and hc.get("CpuQuota"):
        raise Conflict(
            "Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set"
        )
    if period > 0 and hc.get("NanoCpus"):
        raise Conflict(
            "Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set"
        )
    if quota > 0 and hc.get("NanoCpus"):
        raise Conflict(
            "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set"
        )
    cpu: dict[str, Any] = {}
    if body.get("CpuShares"):
        new["CpuShares"] = cpu["shares"] = int(body["CpuShares"])
    if nano:
        new["NanoCpus"] = nano
        cpu["period"] = 100000
        cpu["quota"] = nano * 100000 // 1_000_000_000
    if period:
        new["CpuPeriod"] = cpu["period"] = period
    if quota:
        new["CpuQuota"] = cpu["quota"] = quota
    if body.get("CpusetCpus"):
        new["CpusetCpus"] = cpu["cpus"] = str(body["CpusetCpus"])
    if body.get("CpusetMems"):
        new["CpusetMems"] = cpu["mems"] = str(body["CpusetMems"])
    if body.get("CpuRealtimePeriod"):
        new["CpuRealtimePeriod"] = cpu["realtimePeriod"] = int(body["CpuRealtimePeriod"])
    if body.get("CpuRealtimeRuntime"):
        new["CpuRealtimeRuntime"] = cpu["realtimeRuntime"] = int(body["CpuRealtimeRuntime"])
    if cpu:
        res["cpu"] = cpu
    mem: dict[str, Any] = {}
    memory = int(body.get("Memory") or 0)
    swap = int(body.get("MemorySwap") or 0)
    if memory:
        current_swap = _effective_swap(hc)
        if current_swap != -1 and memory > current_swap and swap == 0:
            raise Conflict(
                "Memory limit should be smaller than already set memoryswap limit, update the"
                " memoryswap at the same time"
            )
        new["Memory"] = mem["limit"] = memory
    if swap:
        if swap > 0 and swap < int(new.get("Memory") or 0):
            raise InvalidArgument(
                "Minimum memoryswap limit should be larger than memory limit, see usage"
            )
        new["MemorySwap"] = mem["swap"] = swap
        if not memory and hc.get("Memory"):
            mem["limit"] = int(hc["Memory"])  # v1 writes memsw together with the limit
    if body.get("MemoryReservation"):
        new["MemoryReservation"] = mem["reservation"] = int(body["MemoryReservation"])
    if mem:
        res["memory"] = mem
    if body.get("BlkioWeight"):
        new["BlkioWeight"] = int(body["BlkioWeight"])
        res["blockIO"] = {"weight": new["BlkioWeight"]}
    if body.get("PidsLimit") is not None:
        limit = int(body["PidsLimit"])
        new["PidsLimit"] = limit if limit > 0 else 0
        res["pids"] = {"limit": limit if limit > 0 else -1}
    policy = body.get("RestartPolicy")
    if policy and policy.get("Name"):
        name = str(policy.get("Name") or "")
        count = policy.get("MaximumRetryCount") or 0
        if name not in _RESTART_POLICIES:
            raise InvalidArgument(f"invalid restart policy '{name}'")
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise InvalidArgument("invalid restart policy: maximum retry count must be >= 0")
        if count and name != "on-failure":
            raise InvalidArgument(
                f"maximum retry count cannot be used with restart policy '{name}'"
            )
        if hc.get("AutoRemove") and name != "no":
            raise Conflict(
                "Restart policy cannot be updated because AutoRemove is enabled for the container"
            )
        new["RestartPolicy"] = {"Name": name, "MaximumRetryCount": int(count)}
    return new, res, warnings


def update(svc: ContainerService, ref: str, body: dict[str, Any]) -> dict[str, Any]:
    """``docker update``: Docker's answer ``{"Warnings": [...]}``; event ``update``."""
    from berth.runtime.lifecycle import update as runtime_update
    from berth.runtime.state import StateStore

    row = svc.find(ref)
    with svc.lock:
        st = row.state
        if st.get("Status") == "removing" or st.get("Dead"):
            raise Conflict(
                f"Cannot update container {row.id}: container is marked for removal and"
                ' cannot be "update"'
            )
        try:
            new_hc, resources, warnings = merge_update(row.host_config, body)
        except Conflict as e:
            raise Conflict(f"Cannot update container {row.id}: {e.message}") from None
        if resources and st.get("Running") and not st.get("Restarting"):
            try:
                runtime_update(StateStore(svc.runtime_root), row.id, resources)
            except BerthError as e:
                raise BerthError(f"Cannot update container {row.id}: {e.message}") from None
        row.host_config = new_hc
        svc.store.save(row)
    svc._publish(row, "update")
    return {"Warnings": warnings}


# -- prune ----------------------------------------------------------------------------------


def tree_size(path: str) -> int:
    """Bytes of the regular files under ``path`` (symlinks not followed)."""
    total = 0
    stack = [path]
    while stack:
        d = stack.pop()
        try:
            entries = list(os.scandir(d))
        except OSError:
            continue
        for e in entries:
            try:
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
                else:
                    total += e.stat(follow_symlinks=False).st_size
            except OSError:
                continue
    return total


def _created_unix(text: str) -> float:
    from berth.engine.containers.service import _rfc3339_to_unix

    return _rfc3339_to_unix(text)


def prune_matches(f: Filters, labels: dict[str, str], created: float, until: float | None) -> bool:
    """Whether a stopped container with these labels and creation time is pruned."""
    if until is not None and created >= until:
        return False
    if not f.labels("label", labels):
        return False
    for item in f.get("label!"):
        key, eq, want = item.partition("=")
        if key in labels and (not eq or labels[key] == want):
            return False
    return True


def until_of(f: Filters, now: float) -> float | None:
    values = f.get("until")
    if not values:
        return None
    if len(values) > 1:
        raise InvalidArgument("more than one until filter specified")
    from berth.cli.timeutil import get_timestamp

    try:
        return float(get_timestamp(values[0], now))
    except (InvalidArgument, ValueError):
        raise InvalidArgument(f"invalid filter 'until={values[0]}'") from None


_PRUNING = threading.Lock()


def prune(svc: ContainerService, f: Filters) -> dict[str, Any]:
    """Remove the containers that do not run (matching ``f``); event ``prune``."""
    import time

    f.validate(PRUNE_FILTERS)
    until = until_of(f, time.time())
    if not _PRUNING.acquire(blocking=False):
        raise Conflict("a prune operation is already running")
    try:
        with svc.lock:
            candidates = [
                r
                for r in svc.rows.values()
                if not r.state.get("Running")
                and r.state.get("Status") != "removing"
                and prune_matches(
                    f, dict(r.config.get("Labels") or {}), _created_unix(r.created), until
                )
            ]
        deleted: list[str] = []
        reclaimed = 0
        for row in candidates:
            size = tree_size(os.path.join(svc.dir_of(row.id), "upper"))
            try:
                svc.remove(row.id)
            except (NotFound, Conflict):
                continue  # started or removed meanwhile
            deleted.append(row.id)
            reclaimed += size
    finally:
        _PRUNING.release()
    if svc.events is not None:
        svc.events.publish("container", "prune", "", {"reclaimed": str(reclaimed)})
    return {"ContainersDeleted": deleted or None, "SpaceReclaimed": reclaimed}
