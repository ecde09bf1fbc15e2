"""What a kernel test may leave behind: a snapshot of the host to compare.

A snapshot holds the mounts of this mount namespace, the cgroup directories
beneath our own cgroup in every hierarchy, network links, named network
namespaces, nftables tables, the network sysctls berth may turn on
(ip_forward, route_localnet, bridge-nf-call-*) and the processes a test may
have started. Two snapshots differ when a test leaked something;
:func:`describe` says what.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field

CGROUP_ROOT = "/sys/fs/cgroup"
MAX_CGROUP_DEPTH = 8


@dataclass(frozen=True)
class Snapshot:
    mounts: frozenset[tuple[str, str, str]]
    cgroups: frozenset[str]
    links: frozenset[str]
    netns: frozenset[str]
    nft_tables: frozenset[str]
    processes: dict[int, str] = field(hash=False, compare=False)
    sysctls: frozenset[tuple[str, str]] = frozenset()
    dirs: frozenset[str] = frozenset()


#: berth's default state directories: a test uses directories of its own, never these
DEFAULT_DIRS = ("/run/berth", "/run/berth-runtime", "/var/lib/berth")


def _dirs() -> frozenset[str]:
    return frozenset(d for d in DEFAULT_DIRS if os.path.lexists(d))


#: Host-wide network sysctls that berth (like Docker) may change; tests restore them.
SYSCTLS = (
    "net/ipv4/ip_forward",
    "net/ipv4/conf/all/route_localnet",
    "net/ipv4/conf/default/route_localnet",
    "net/bridge/bridge-nf-call-iptables",
    "net/bridge/bridge-nf-call-ip6tables",
    "net/bridge/bridge-nf-call-arptables",
)


def own_cgroups(text: str) -> dict[str, str]:
    """Parse /proc/self/cgroup text into {hierarchy mount name: path}."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        hid, controllers, path = line.split(":", 2)
        if hid == "0" and controllers == "":
            out["unified"] = path
        else:
            for name in controllers.split(","):
                out[name.removeprefix("name=")] = path
    return out


def _mounts() -> frozenset[tuple[str, str, str]]:
    out = set()
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, right = line.split(" - ", 1)
            point = left.split()[4]
            fstype, source = right.split()[:2]
            out.add((point, fstype, source))
    return frozenset(out)


def _cgroups() -> frozenset[str]:
    with open("/proc/self/cgroup") as f:
        own = own_cgroups(f.read())
    out = set()
    try:
        names = os.listdir(CGROUP_ROOT)
    except OSError:
        return frozenset()
    for name in names:
        top = os.path.join(CGROUP_ROOT, name)
        if not os.path.isdir(top) or os.path.islink(top):
            continue
        start = os.path.join(top, own.get(name, "/").lstrip("/"))
        base_depth = start.count("/")
        for dirpath, dirnames, _ in os.walk(start):
            if dirpath.count("/") - base_depth >= MAX_CGROUP_DEPTH:
                dirnames[:] = []
            out.add(dirpath)
    return frozenset(out)


def _links() -> frozenset[str]:
    try:
        return frozenset(os.listdir("/sys/class/net"))
    except OSError:
        return frozenset()


def _netns() -> frozenset[str]:
    try:
        return frozenset(os.listdir("/run/netns"))
    except OSError:
        return frozenset()


def _nft_tables() -> frozenset[str]:
    try:
        out = subprocess.run(
            ["nft", "list", "tables"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return frozenset()
    return frozenset(line.strip() for line in out.splitlines() if line.strip())


def _processes() -> dict[int, str]:
    """pid -> "ppid starttime cmdline" for every process but kernel threads."""
    out: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if not cmd:  # kernel thread or zombie
            continue
        out[int(entry)] = f"{fields[1]} {fields[19]} {cmd}"
    return out


def _sysctls() -> frozenset[tuple[str, str]]:
    out = set()
    for name in SYSCTLS:
        try:
            with open(f"/proc/sys/{name}") as f:
                out.add((name.replace("/", "."), f.read().strip()))
        except OSError:
            continue
    return frozenset(out)


def take() -> Snapshot:
    return Snapshot(
        mounts=_mounts(),
        cgroups=_cgroups(),
        links=_links(),
        netns=_netns(),
        nft_tables=_nft_tables(),
        processes=_processes(),
        sysctls=_sysctls(),
        dirs=_dirs(),
    )


def _descends_from(pid: int, ancestor: int, procs: dict[int, str]) -> bool:
    seen = 0
    while pid in procs and seen < 64:
        ppid = int(procs[pid].split()[0])
        if ppid == ancestor:
            return True
        pid, seen = ppid, seen + 1
    return False


def leaked_processes(before: Snapshot, after: Snapshot) -> list[str]:
    """New processes that a test started and left.

    The test process is a child subreaper (tests/conftest.py), so whatever a
    test started — daemons that double-forked, containers whose runtime exited —
    stays among its descendants; processes of other runs on the machine do not.
    """
    me = os.getpid()
    out = []
    for pid, desc in after.processes.items():
        old = before.processes.get(pid)
        if old is not None and old.split()[1] == desc.split()[1]:
            continue  # same process as before
        _ppid, _, cmd = desc.split(" ", 2)
        if _descends_from(pid, me, after.processes):
            if "nft list tables" in cmd:
                continue
            out.append(f"pid {pid}: {cmd}")
    return out


def _someone_elses(name: str, item: object, own_tmp: str | None) -> bool:
    """Things other runs on a shared development machine make while we run.

    Mounts under /tmp that are not under this run's own temporary root belong
    to other test runs or benchmarks; so do cgroups of benchmarks and peers.
    In CI there is one run, and nothing is excused but those.
    """
    if name == "mounts":
        point = str(item[0]) if isinstance(item, tuple) else str(item)
        return point.startswith("/tmp/") and not (own_tmp and point.startswith(own_tmp))
    if name == "cgroups":
        return "/bench" in str(item) or "peers" in str(item)
    return False


def describe(before: Snapshot, after: Snapshot, own_tmp: str | None = None) -> list[str]:
    """Human-readable differences; empty when the host is as it was."""
    out: list[str] = []
    for name in ("mounts", "cgroups", "links", "netns", "nft_tables", "sysctls", "dirs"):
        old, new = getattr(before, name), getattr(after, name)
        for item in sorted(new - old, key=str):
            if not _someone_elses(name, item, own_tmp):
                out.append(f"{name}: left behind {item}")
        for item in sorted(old - new, key=str):
            if not _someone_elses(name, item, own_tmp):
                out.append(f"{name}: removed {item}")
    out.extend(f"processes: left behind {p}" for p in leaked_processes(before, after))
    return out
