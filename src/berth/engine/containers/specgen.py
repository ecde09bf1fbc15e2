"""Docker's container configuration -> an OCI runtime spec, with Docker's defaults.

Input: the container's ``Config`` and ``HostConfig`` (Docker's API shapes,
the image's config already merged into ``Config`` at create), the mounted
rootfs, the container's directory (hosts, resolv.conf, hostname files) and
the network namespace path from the network manager. Output: a
``config.json`` document for berth's runtime. Pure apart from reading the
container's ``/etc/passwd`` and ``/etc/group`` (user names) and the host's
rlimits and device numbers -- unit-tested without root.

Docker's defaults reproduced here: the 14 capabilities, its masked and
read-only /proc and /sys paths, a 64 MiB /dev/shm, the default seccomp
profile (berth's own, equivalent to Docker's), private pid/ipc/uts/mount
namespaces, ``HOSTNAME`` and ``PATH`` in the environment, the container's
short ID as hostname, the cgroup beneath the daemon's own (``berth/<id>``
unless ``--cgroup-parent``).
"""

from __future__ import annotations

import os

from berth.errors import CannotInvoke, InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DEFAULT_CAPS = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
)
MASKED_PATHS = (
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
)
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_SHM = 64 * 1024 * 1024
INIT_PATH = "/sbin/docker-init"
INIT_BINARY = "/usr/bin/catatonit"  # a static init (Debian's catatonit), as podman uses
CGROUP_PARENT = "berth"

_ULIMITS = {
    "core": "RLIMIT_CORE",
    "cpu": "RLIMIT_CPU",
    "data": "RLIMIT_DATA",
    "fsize": "RLIMIT_FSIZE",
    "locks": "RLIMIT_LOCKS",
    "memlock": "RLIMIT_MEMLOCK",
    "msgqueue": "RLIMIT_MSGQUEUE",
    "nice": "RLIMIT_NICE",
    "nofile": "RLIMIT_NOFILE",
    "nproc": "RLIMIT_NPROC",
    "rss": "RLIMIT_RSS",
    "rtprio": "RLIMIT_RTPRIO",
    "rttime": "RLIMIT_RTTIME",
    "sigpending": "RLIMIT_SIGPENDING",
    "stack": "RLIMIT_STACK",
    "as": "RLIMIT_AS",
}


class SpecInput:
    """Everything the spec depends on (gathered by the container service)."""

    __slots__ = (
        "cgroup_parent",
        "cgroupns_private",
        "config",
        "container_dir",
        "container_id",
        "etc_files",
        "host_config",
        "ipc_path",
        "netns_path",
        "pid_path",
        "rootfs",
        "uts_path",
        "volume_mounts",
    )

    def __init__(
        self, container_id: str, config: dict[str, Any], host_config: dict[str, Any]
    ) -> None:
        self.container_id = container_id
        self.config = config
        self.host_config = host_config
        self.rootfs = ""
        self.container_dir = ""
        self.netns_path: str | None = None  # None: a new empty one; "host": the host's
        self.pid_path: str | None = None
        self.ipc_path: str | None = None
        self.uts_path: str | None = None
        self.etc_files: dict[str, str] = {}  # /etc/hosts -> host file to bind
        self.volume_mounts: list[dict[str, Any]] = []  # OCI mounts for -v/--mount/VOLUME
        self.cgroupns_private = False
        self.cgroup_parent = CGROUP_PARENT  # the daemon's default (--cgroup-parent)


def command_of(config: dict[str, Any]) -> list[str]:
    args = list(config.get("Entrypoint") or []) + list(config.get("Cmd") or [])
    if not args:
        raise InvalidArgument("No command specified")
    return args


def merged_env(config: dict[str, Any], hostname: str) -> list[str]:
    env = list(config.get("Env") or [])
    names = {e.split("=", 1)[0] for e in env}
    out = []
    if "PATH" not in names:
        out.append(f"PATH={DEFAULT_PATH}")
    out.append(f"HOSTNAME={hostname}")
    if config.get("Tty") and "TERM" not in names:
        out.append("TERM=xterm")
    return out + [e for e in env if not e.startswith("HOSTNAME=")]


def _read(path: str) -> str:
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def resolve_user(rootfs: str, user: str, group_add: list[str]) -> dict[str, Any]:
    """``user[:group]`` (names or numbers) -> OCI user, from the container's files."""
    passwd = _read(os.path.join(rootfs, "etc/passwd"))
    groups = _read(os.path.join(rootfs, "etc/group"))
    name, _, grp = (user or "0").partition(":")
    uid = gid = None
    username = None
    for line in passwd.splitlines():
        f = line.split(":")
        if len(f) >= 4 and (f[0] == name or f[2] == name):
            uid, gid, username = int(f[2]), int(f[3]), f[0]
            break
    if uid is None:
        if not name.isdigit():
            raise CannotInvoke(f"unable to find user {name}: no matching entries in passwd file")
        uid, gid = int(name), 0
    if grp:
        found = None
        for line in groups.splitlines():
            f = line.split(":")
            if len(f) >= 3 and (f[0] == grp or f[2] == grp):
                found = int(f[2])
                break
        if found is None:
            if not grp.isdigit():
                raise CannotInvoke(f"unable to find group {grp}: no matching entries in group file")
            found = int(grp)
        gid = found
    extra: list[int] = []
    if username:
        for line in groups.splitlines():
            f = line.split(":")
            if len(f) >= 4 and username in f[3].split(",") and int(f[2]) != gid:
                extra.append(int(f[2]))
    for g in group_add:
        if g.isdigit():
            extra.append(int(g))
            continue
        for line in groups.splitlines():
            f = line.split(":")
            if len(f) >= 3 and f[0] == g:
                extra.append(int(f[2]))
                break
        else:
            raise InvalidArgument(f"unable to find group {g}: no matching entries in group file")
    return {"uid": uid, "gid": gid or 0, "additionalGids": sorted(set(extra))}


def capabilities(host_config: dict[str, Any]) -> list[str]:
    from berth.kernel.consts import CAPABILITIES

    if host_config.get("Privileged"):
        from berth.runtime.process import last_cap

        top = last_cap()
        return [n for n, v in CAPABILITIES.items() if v <= top]
    caps = list(DEFAULT_CAPS)
    add = [_cap(c) for c in host_config.get("CapAdd") or []]
    drop = [_cap(c) for c in host_config.get("CapDrop") or []]
    if "ALL" in add:
        caps = list(CAPABILITIES)
    if "ALL" in drop:
        caps = []
    for c in add:
        if c != "ALL" and c not in caps:
            if c not in CAPABILITIES:
                raise InvalidArgument(f"unknown capability: {c!r}")
            caps.append(c)
    for c in drop:
        if c != "ALL":
            if c not in CAPABILITIES:
                raise InvalidArgument(f"unknown capability: {c!r}")
            if c in caps:
                caps.remove(c)
    return caps


def _cap(name: str) -> str:
    n = name.upper()
    if n == "ALL":
        return n
    return n if n.startswith("CAP_") else "CAP_" + n


def rlimits(host_config: dict[str, Any], warnings: list[str]) -> list[dict[str, Any]]:
    """--ulimit values, clamped to what the host allows (no CAP_SYS_RESOURCE here)."""
    import resource

    out = []
    for u in host_config.get("Ulimits") or []:
        name = str(u.get("Name", ""))
        rl = _ULIMITS.get(name)
        if rl is None:
            raise InvalidArgument(f"invalid ulimit type: {name}")
        soft, hard = int(u.get("Soft", 0)), int(u.get("Hard", 0))
        from berth.kernel.consts import RLIMITS

        host_hard = resource.getrlimit(RLIMITS[rl])[1]
        if host_hard != resource.RLIM_INFINITY:
            if hard > host_hard or hard < 0:
                warnings.append(
                    f"ulimit {name}: hard limit {hard} is above the host's {host_hard};"
                    f" using {host_hard}"
                )
                hard = host_hard
            if soft > hard or soft < 0:
                soft = hard
        out.append({"type": rl, "soft": soft, "hard": hard})
    return out


def _device_numbers(path: str) -> tuple[str, int, int]:
    import stat

    try:
        st = os.stat(path)
    except OSError as e:
        raise InvalidArgument(
            "error gathering device information while adding custom device"
            f" {path!r}: {os.strerror(e.errno or 0)}"
        ) from None
    if stat.S_ISCHR(st.st_mode):
        kind = "c"
    elif stat.S_ISBLK(st.st_mode):
        kind = "b"
    else:
        raise InvalidArgument(f"{path} is not a device node")
    return kind, os.major(st.st_rdev), os.minor(st.st_rdev)


def resources(host_config: dict[str, Any]) -> dict[str, Any]:
    hc = host_config
    res: dict[str, Any] = {}
    mem: dict[str, Any] = {}
    memory = int(hc.get("Memory") or 0)
    if memory:
        mem["limit"] = memory
        swap = int(hc.get("MemorySwap") or 0)
        if swap == 0:
            swap = memory * 2  # Docker: swap defaults to the same amount again
        mem["swap"] = swap
    if hc.get("MemoryReservation"):
        mem["reservation"] = int(hc["MemoryReservation"])
    if hc.get("OomKillDisable"):
        mem["disableOOMKiller"] = True
    if hc.get("MemorySwappiness") not in (None, -1):
        mem["swappiness"] = int(hc["MemorySwappiness"])
    if mem:
        res["memory"] = mem
    cpu: dict[str, Any] = {}
    if hc.get("NanoCpus"):
        if hc.get("CpuQuota") or hc.get("CpuPeriod"):
            raise InvalidArgument(
                "Conflicting options: Nano CPUs and CPU Period cannot both be set"
            )
        cpu["period"] = 100000
        cpu["quota"] = int(hc["NanoCpus"]) * 100000 // 1_000_000_000
    if hc.get("CpuPeriod"):
        cpu["period"] = int(hc["CpuPeriod"])
    if hc.get("CpuQuota"):
        cpu["quota"] = int(hc["CpuQuota"])
    if hc.get("CpuShares"):
        cpu["shares"] = int(hc["CpuShares"])
    if hc.get("CpusetCpus"):
        cpu["cpus"] = str(hc["CpusetCpus"])
    if hc.get("CpusetMems"):
        cpu["mems"] = str(hc["CpusetMems"])
    if cpu:
        res["cpu"] = cpu
    pids = hc.get("PidsLimit")
    if pids is not None and int(pids) > 0:
        res["pids"] = {"limit": int(pids)}
    blkio: dict[str, Any] = {}
    if hc.get("BlkioWeight"):
        blkio["weight"] = int(hc["BlkioWeight"])
    for key, oci in (
        ("BlkioDeviceReadBps", "throttleReadBpsDevice"),
        ("BlkioDeviceWriteBps", "throttleWriteBpsDevice"),
        ("BlkioDeviceReadIOps", "throttleReadIOPSDevice"),
        ("BlkioDeviceWriteIOps", "throttleWriteIOPSDevice"),
    ):
        for d in hc.get(key) or []:
            _, major, minor = _device_numbers(str(d.get("Path")))
            blkio.setdefault(oci, []).append(
                {"major": major, "minor": minor, "rate": int(d["Rate"])}
            )
    for d in hc.get("BlkioWeightDevice") or []:
        _, major, minor = _device_numbers(str(d.get("Path")))
        blkio.setdefault("weightDevice", []).append(
            {"major": major, "minor": minor, "weight": int(d["Weight"])}
        )
    if blkio:
        res["blockIO"] = blkio
    rules: list[dict[str, Any]] = [{"allow": False, "access": "rwm"}]
    if hc.get("Privileged"):
        rules = [{"allow": True, "access": "rwm"}]
    for rule in hc.get("DeviceCgroupRules") or []:
        rules.append(_cgroup_rule(str(rule)))
    res["devices"] = rules
    return res


def _cgroup_rule(text: str) -> dict[str, Any]:
    """``c 1:3 rwm`` / ``b *:* m`` (--device-cgroup-rule) -> an OCI device rule."""
    parts = text.split()
    if len(parts) != 3 or parts[0] not in ("a", "b", "c") or ":" not in parts[1]:
        raise InvalidArgument(f"invalid device cgroup format '{text}'")
    major, _, minor = parts[1].partition(":")
    rule: dict[str, Any] = {"allow": True, "type": parts[0], "access": parts[2]}
    if major != "*":
        rule["major"] = int(major)
    if minor != "*":
        rule["minor"] = int(minor)
    return rule


def devices(host_config: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(--device nodes, their cgroup rules)."""
    nodes, rules = [], []
    for d in host_config.get("Devices") or []:
        host = str(d.get("PathOnHost"))
        inside = str(d.get("PathInContainer") or host)
        perms = str(d.get("CgroupPermissions") or "rwm")
        kind, major, minor = _device_numbers(host)
        st = os.stat(host)
        nodes.append(
            {
                "type": kind,
                "path": inside,
                "major": major,
                "minor": minor,
                "fileMode": st.st_mode & 0o777,
                "uid": 0,
                "gid": 0,
            }
        )
        rules.append({"allow": True, "type": kind, "major": major, "minor": minor, "access": perms})
    return nodes, rules


def _seccomp(host_config: dict[str, Any], caps: list[str]) -> dict[str, Any] | None:
    if host_config.get("Privileged"):
        return None
    profile: str | None = None
    for opt in host_config.get("SecurityOpt") or []:
        key, sep, value = str(opt).partition("=")
        if not sep:
            key, sep, value = str(opt).partition(":")
        if key == "seccomp":
            profile = value
    if profile == "unconfined":
        return None
    from berth.seccomp import default_profile, docker_profile_to_oci

    if profile is None or profile == "builtin":
        return default_profile(caps).to_json()
    converted = docker_profile_to_oci(profile, caps)
    return converted.to_json() if converted is not None else None


def no_new_privileges(host_config: dict[str, Any]) -> bool:
    for opt in host_config.get("SecurityOpt") or []:
        text = str(opt)
        if text in ("no-new-privileges", "no-new-privileges=true", "no-new-privileges:true"):
            return True
    return False


def generate(inp: SpecInput, warnings: list[str] | None = None) -> dict[str, Any]:
    """The OCI config document of a container."""
    warnings = warnings if warnings is not None else []
    cfg, hc = inp.config, inp.host_config
    hostname = cfg.get("Hostname") or inp.container_id[:12]
    privileged = bool(hc.get("Privileged"))
    args = command_of(cfg)
    mounts: list[dict[str, Any]] = []
    if hc.get("Init"):
        args = [INIT_PATH, "--", *args]
        mounts.append(
            {
                "destination": INIT_PATH,
                "type": "bind",
                "source": INIT_BINARY,
                "options": ["rbind", "ro"],
            }
        )
    caps = capabilities(hc)
    user = resolve_user(inp.rootfs, str(cfg.get("User") or ""), list(hc.get("GroupAdd") or []))
    process: dict[str, Any] = {
        "terminal": bool(cfg.get("Tty")),
        "user": user,
        "args": args,
        "env": merged_env(cfg, hostname),
        "cwd": cfg.get("WorkingDir") or "/",
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "noNewPrivileges": no_new_privileges(hc),
    }
    rl = rlimits(hc, warnings)
    if rl:
        process["rlimits"] = rl
    if hc.get("OomScoreAdj"):
        process["oomScoreAdj"] = int(hc["OomScoreAdj"])
    shm = int(hc.get("ShmSize") or DEFAULT_SHM)
    sys_opts = ["nosuid", "noexec", "nodev"] + ([] if privileged else ["ro"])
    mounts += [
        {
            "destination": "/proc",
            "type": "proc",
            "source": "proc",
            "options": ["nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/dev",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
        },
        {
            "destination": "/dev/pts",
            "type": "devpts",
            "source": "devpts",
            "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        },
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": sys_opts},
        {
            "destination": "/sys/fs/cgroup",
            "type": "cgroup",
            "source": "cgroup",
            "options": ["nosuid", "noexec", "nodev", "relatime"] + ([] if privileged else ["ro"]),
        },
        {
            "destination": "/dev/mqueue",
            "type": "mqueue",
            "source": "mqueue",
            "options": ["nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/dev/shm",
            "type": "tmpfs",
            "source": "shm",
            "options": ["nosuid", "noexec", "nodev", "mode=1777", f"size={shm}"],
        },
    ]
    for dest in ("/etc/resolv.conf", "/etc/hostname", "/etc/hosts"):
        src = inp.etc_files.get(dest)
        if src:
            mounts.append(
                {
                    "destination": dest,
                    "type": "bind",
                    "source": src,
                    "options": ["rbind", "rprivate"],
                }
            )
    for path, opts in (hc.get("Tmpfs") or {}).items():
        options = ["nosuid", "nodev", "noexec"] + [o for o in str(opts).split(",") if o]
        mounts.append({"destination": path, "type": "tmpfs", "source": "tmpfs", "options": options})
    mounts += inp.volume_mounts
    namespaces: list[dict[str, Any]] = [{"type": "mount"}]
    for kind, path in (("pid", inp.pid_path), ("ipc", inp.ipc_path), ("uts", inp.uts_path)):
        if path == "host":
            continue
        namespaces.append({"type": kind, "path": path} if path else {"type": kind})
    if inp.netns_path != "host":
        namespaces.append(
            {"type": "network", "path": inp.netns_path} if inp.netns_path else {"type": "network"}
        )
    if inp.cgroupns_private:
        namespaces.append({"type": "cgroup"})
    linux: dict[str, Any] = {
        "namespaces": namespaces,
        "resources": resources(hc),
        "cgroupsPath": f"{hc.get('CgroupParent') or inp.cgroup_parent}/{inp.container_id}",
    }
    time_offsets = hc.get("TimeOffsets")
    if time_offsets:
        linux["timeOffsets"] = {k: {"secs": int(v), "nanosecs": 0} for k, v in time_offsets.items()}
        namespaces.append({"type": "time"})
    nodes, rules = devices(hc)
    if nodes:
        linux["devices"] = nodes
        linux["resources"]["devices"] += rules
    if hc.get("Sysctls"):
        linux["sysctl"] = dict(hc["Sysctls"])
    if not privileged:
        linux["maskedPaths"] = list(MASKED_PATHS)
        linux["readonlyPaths"] = list(READONLY_PATHS)
    seccomp = _seccomp(hc, caps)
    if seccomp is not None:
        linux["seccomp"] = seccomp
    spec: dict[str, Any] = {
        "ociVersion": "1.2.0",
        "process": process,
        "root": {"path": inp.rootfs, "readonly": bool(hc.get("ReadonlyRootfs"))},
        "mounts": mounts,
        "linux": linux,
    }
    if inp.uts_path != "host":
        spec["hostname"] = hostname
        if cfg.get("Domainname"):
            spec["domainname"] = cfg["Domainname"]
    return spec
