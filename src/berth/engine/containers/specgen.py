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
        "link_env",
        "netns_path",
        "pid_path",
        "rootfs",
        "user",
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
        self.link_env: list[str] = []  # the variables of legacy links (--link)
        self.volume_mounts: list[dict[str, Any]] = []  # OCI mounts for -v/--mount/VOLUME
        self.cgroupns_private = False
        self.cgroup_parent = CGROUP_PARENT  # the daemon's default (--cgroup-parent)
        # the OCI user: resolved from the rootfs's /etc/passwd and group when None
        # (generate sets it), or given (what the same image gave before)
        self.user: dict[str, Any] | None = None


def command_of(config: dict[str, Any]) -> list[str]:
    args = list(config.get("Entrypoint") or []) + list(config.get("Cmd") or [])
    if not args:
        raise InvalidArgument("No command specified")
    return args


def merged_env(config: dict[str, Any], hostname: str, linked: list[str] | None = None) -> list[str]:
    """The process environment, in Docker's order: PATH, HOSTNAME, TERM, the variables of
    legacy links (``--link``), then the container's own (which win)."""
    env = list(config.get("Env") or [])
    names = {e.split("=", 1)[0] for e in env}
    out = []
    if "PATH" not in names:
        out.append(f"PATH={DEFAULT_PATH}")
    out.append(f"HOSTNAME={hostname}")
    if config.get("Tty") and "TERM" not in names:
        out.append("TERM=xterm")
    out.extend(e for e in linked or [] if e.split("=", 1)[0] not in names)
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
    return user_from_files(passwd, groups, user, group_add)


def user_from_files(passwd: str, groups: str, user: str, group_add: list[str]) -> dict[str, Any]:
    """:func:`resolve_user` on the texts of the container's /etc/passwd and /etc/group."""
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


def host_capabilities() -> set[str]:
    """The capabilities berthd can give a container: those in its own bounding set."""
    from berth.kernel.consts import CAPABILITIES
    from berth.runtime.process import last_cap

    top = last_cap()
    bits = -1
    for line in _read("/proc/self/status").splitlines():
        if line.startswith("CapBnd:"):
            bits = int(line.split()[1], 16)
    return {n for n, v in CAPABILITIES.items() if v <= top and bits & (1 << v)}


def capabilities(host_config: dict[str, Any], available: set[str] | None = None) -> list[str]:
    """Docker's capability set: its 14 defaults, ``--cap-add``/``--cap-drop`` (``ALL``
    too, Docker's precedence: add ALL beats drop ALL, an add beats a drop of the same
    capability), or everything with ``--privileged``. "Everything" is what berthd
    has (``available``, its bounding set): a capability it lacks cannot be given,
    and asking for one by name is an error that says so."""
    from berth.kernel.consts import CAPABILITIES

    have = host_capabilities() if available is None else available
    every = [n for n in CAPABILITIES if n in have]
    if host_config.get("Privileged"):
        return every
    add = [_cap(c) for c in host_config.get("CapAdd") or []]
    drop = [_cap(c) for c in host_config.get("CapDrop") or []]
    for c in add + drop:
        if c != "ALL" and c not in CAPABILITIES:
            raise InvalidArgument(f'unknown capability: "{c}"')
    if "ALL" in add:
        return [c for c in every if c not in drop]
    if "ALL" in drop:
        caps: list[str] = []
    else:
        caps = [c for c in DEFAULT_CAPS if c not in drop]
    for c in add:
        if c not in caps:
            if c not in have:
                raise InvalidArgument(
                    f"cannot add {c}: berthd does not have it (it is not in the daemon's"
                    " capability bounding set)"
                )
            caps.append(c)
    return [c for c in caps if c in have]


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


# /dev entries a privileged container does not take from the host: the runtime makes
# them itself (ptmx, console) or they are mounts of their own
_NOT_HOST_DEVICES = frozenset({"/dev/ptmx", "/dev/console"})
_NOT_HOST_DEVICE_DIRS = frozenset({"pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"})


def host_devices(top: str = "/dev") -> list[dict[str, Any]]:
    """Every device node of the host (``--privileged`` gets them all, as in Docker)."""
    import stat

    out = []
    for dirpath, dirnames, filenames in os.walk(top):
        if dirpath == top:
            dirnames[:] = [d for d in dirnames if d not in _NOT_HOST_DEVICE_DIRS]
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            if path in _NOT_HOST_DEVICES:
                continue
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISCHR(st.st_mode):
                kind = "c"
            elif stat.S_ISBLK(st.st_mode):
                kind = "b"
            else:
                continue
            out.append(
                {
                    "type": kind,
                    "path": path,
                    "major": os.major(st.st_rdev),
                    "minor": os.minor(st.st_rdev),
                    "fileMode": st.st_mode & 0o777,
                    "uid": st.st_uid,
                    "gid": st.st_gid,
                }
            )
    return out


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


IPC_SYSCTLS = frozenset(
    {
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    }
)


def check_sysctls(
    sysctls: dict[str, Any], *, host_net: bool, host_ipc: bool, host_uts: bool
) -> None:
    """``--sysctl``: only what the container's own namespaces hold (runc's rules and
    words): IPC ones and ``fs.mqueue.*`` need a private IPC namespace, ``net.*`` a
    network namespace of its own, ``kernel.domainname`` a private UTS namespace;
    anything else would change the host."""
    for key in sysctls:
        if key in IPC_SYSCTLS or key.startswith("fs.mqueue."):
            if host_ipc:
                raise InvalidArgument(f'sysctl "{key}" is not allowed in the hosts ipc namespace')
            continue
        if key.startswith("net."):
            if host_net:
                raise InvalidArgument(f'sysctl "{key}" not allowed in host network namespace')
            continue
        if key == "kernel.domainname" and not host_uts:
            continue
        if key == "kernel.hostname" and not host_uts:
            raise InvalidArgument(
                f'sysctl "{key}" is not allowed as it conflicts with the OCI "hostname" field'
            )
        raise InvalidArgument(f'sysctl "{key}" is not in a separate kernel namespace')


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
    user = inp.user
    if user is None:
        group_add = list(hc.get("GroupAdd") or [])
        user = inp.user = resolve_user(inp.rootfs, str(cfg.get("User") or ""), group_add)
    process: dict[str, Any] = {
        "terminal": bool(cfg.get("Tty")),
        "user": user,
        "args": args,
        "env": merged_env(cfg, hostname, inp.link_env),
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
    if privileged:
        given = {n["path"] for n in nodes}
        nodes += [n for n in host_devices() if n["path"] not in given]
    if nodes:
        linux["devices"] = nodes
        linux["resources"]["devices"] += rules
    if hc.get("Sysctls"):
        check_sysctls(
            hc["Sysctls"],
            host_net=inp.netns_path == "host",
            host_ipc=inp.ipc_path == "host",
            host_uts=inp.uts_path == "host",
        )
        linux["sysctl"] = {str(k): str(v) for k, v in hc["Sysctls"].items()}
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
    if inp.uts_path is None:  # its own UTS namespace (a joined one keeps its names)
        spec["hostname"] = hostname
        if cfg.get("Domainname"):
            spec["domainname"] = cfg["Domainname"]
    return spec
