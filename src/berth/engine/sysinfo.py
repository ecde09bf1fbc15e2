"""Facts about the host for ``/info`` and ``/version``.

Parsers take text (``/etc/os-release``, ``/proc/meminfo``,
``/proc/self/mountinfo``) so they are tested without the files;
:func:`host_facts` reads the files once, at daemon start.
"""

from __future__ import annotations

import os

# statfs f_type -> the name Docker shows as "Backing Filesystem"
FS_NAMES = {
    0xEF53: "extfs",
    0x58465342: "xfs",
    0x01021994: "tmpfs",
    0x9123683E: "btrfs",
    0x794C7630: "overlayfs",
    0x2FC12FC1: "zfs",
    0x6969: "nfs",
    0xF2F52010: "f2fs",
}


def parse_os_release(text: str) -> dict[str, str]:
    """``KEY=value`` / ``KEY="quoted value"`` lines -> dict (comments skipped)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
            if line.partition("=")[2].strip()[0] == '"':
                value = value.replace('\\"', '"').replace("\\\\", "\\").replace("\\$", "$")
        out[key.strip()] = value
    return out


def parse_meminfo_total(text: str) -> int:
    """MemTotal in bytes (0 when absent)."""
    for line in text.splitlines():
        if line.startswith("MemTotal:"):
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                factor = 1024 if len(parts) < 3 or parts[2].lower() == "kb" else 1
                return int(parts[1]) * factor
    return 0


def parse_cgroup_mounts(mountinfo: str) -> tuple[str, frozenset[str]]:
    """(cgroup version as Docker reports it, v1 controllers mounted).

    Version "2" only when the unified hierarchy is all there is (no v1
    controller mounted); a hybrid host (v1 controllers + an empty cgroup2)
    is "1", as dockerd reports it.
    """
    controllers: set[str] = set()
    unified = False
    for line in mountinfo.splitlines():
        _left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields = right.split()
        if len(fields) < 3:
            continue
        fstype, options = fields[0], fields[2]
        if fstype == "cgroup2":
            unified = True
        elif fstype == "cgroup":
            for opt in options.split(","):
                if opt in ("rw", "ro") or "=" in opt:
                    continue
                controllers.add(opt)
    version = "2" if unified and not controllers else "1"
    return version, frozenset(controllers)


class HostFacts:
    """What the host is, read once."""

    def __init__(
        self,
        kernel: str,
        os_name: str,
        os_version: str,
        machine: str,
        hostname: str,
        ncpu: int,
        mem_total: int,
        cgroup_version: str,
        controllers: frozenset[str],
    ) -> None:
        self.kernel = kernel
        self.os_name = os_name
        self.os_version = os_version
        self.machine = machine
        self.hostname = hostname
        self.ncpu = ncpu
        self.mem_total = mem_total
        self.cgroup_version = cgroup_version
        self.controllers = controllers


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def host_facts() -> HostFacts:
    uname = os.uname()
    release = parse_os_release(_read("/etc/os-release") or _read("/usr/lib/os-release"))
    version, controllers = parse_cgroup_mounts(_read("/proc/self/mountinfo"))
    try:
        ncpu = len(os.sched_getaffinity(0))
    except OSError:
        ncpu = os.cpu_count() or 1
    return HostFacts(
        kernel=uname.release,
        os_name=release.get("PRETTY_NAME", "Linux"),
        os_version=release.get("VERSION_ID", ""),
        machine=uname.machine,
        hostname=uname.nodename,
        ncpu=ncpu,
        mem_total=parse_meminfo_total(_read("/proc/meminfo")),
        cgroup_version=version,
        controllers=controllers,
    )


def backing_filesystem(path: str) -> str:
    """Docker's name for the filesystem ``path`` is on (``extfs``, ``xfs``...)."""
    from berth.errors import KernelError
    from berth.kernel.syscalls import Syscalls

    try:
        magic = Syscalls().statfs_type(path)
    except KernelError:
        return "unknown"
    return FS_NAMES.get(magic, f"<unknown 0x{magic:x}>")


def ip_forwarding() -> bool:
    return _read("/proc/sys/net/ipv4/ip_forward").strip() == "1"
