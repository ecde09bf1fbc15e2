"""``berth run`` / ``berth create`` flags -> the Engine API's create body (docker CLI's way).

The CLI does this translation (not the daemon), so that the real docker CLI
and berth's produce the same request: ``Config`` (with ``HostConfig`` and
``NetworkingConfig`` inside), and the query (``name``, ``platform``).
Values are parsed with Docker's rules and error messages: sizes
(``512m``, ``1g``: 1024-based, case-insensitive, optional ``b``), ``--cpus``
(decimal), ``--ulimit name=soft[:hard]``, ``--restart no|always|
on-failure[:N]|unless-stopped``, ``-p``, ``--expose``, ``-v``, ``--mount``,
``--device``, ``--env-file``, ``--add-host``, ``--time-offset`` (berth's
own: ``monotonic=SECONDS,boottime=SECONDS``, Go durations accepted).
"""

from __future__ import annotations

import os

from berth.cli.flags import Flag
from berth.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from berth.cli.flags import Parsed


def _L(*names: str, help: str = "") -> Flag:
    return Flag(*names, kind="list", help=help)


def _S(*names: str, help: str = "", default: str | None = None) -> Flag:
    return Flag(*names, kind="str", help=help, default=default)


def _B(*names: str, help: str = "") -> Flag:
    return Flag(*names, help=help)


CREATE_FLAGS = [
    _L("--add-host", help="Add a custom host-to-IP mapping (host:ip)"),
    _L("-a", "--attach", help="Attach to STDIN, STDOUT or STDERR"),
    _S("--blkio-weight", help="Block IO (relative weight), between 10 and 1000, or 0 to disable"),
    _L("--blkio-weight-device", help="Block IO weight (relative device weight)"),
    _L("--cap-add", help="Add Linux capabilities"),
    _L("--cap-drop", help="Drop Linux capabilities"),
    _S("--cgroup-parent", help="Optional parent cgroup for the container"),
    _S("--cgroupns", help="Cgroup namespace to use (host|private)"),
    _S("--cidfile", help="Write the container ID to the file"),
    _S("--cpu-period", help="Limit CPU CFS (Completely Fair Scheduler) period"),
    _S("--cpu-quota", help="Limit CPU CFS (Completely Fair Scheduler) quota"),
    _S("-c", "--cpu-shares", help="CPU shares (relative weight)"),
    _S("--cpus", help="Number of CPUs"),
    _S("--cpuset-cpus", help="CPUs in which to allow execution (0-3, 0,1)"),
    _S("--cpuset-mems", help="MEMs in which to allow execution (0-3, 0,1)"),
    _L("--device", help="Add a host device to the container"),
    _L("--device-cgroup-rule", help="Add a rule to the cgroup allowed devices list"),
    _L("--device-read-bps", help="Limit read rate (bytes per second) from a device"),
    _L("--device-read-iops", help="Limit read rate (IO per second) from a device"),
    _L("--device-write-bps", help="Limit write rate (bytes per second) to a device"),
    _L("--device-write-iops", help="Limit write rate (IO per second) to a device"),
    _L("--dns", help="Set custom DNS servers"),
    _L("--dns-option", help="Set DNS options"),
    _L("--dns-search", help="Set custom DNS search domains"),
    _S("--domainname", help="Container NIS domain name"),
    _S("--entrypoint", help="Overwrite the default ENTRYPOINT of the image"),
    _L("-e", "--env", help="Set environment variables"),
    _L("--env-file", help="Read in a file of environment variables"),
    _L("--expose", help="Expose a port or a range of ports"),
    _L("--group-add", help="Add additional groups to join"),
    _L("--link", help="Add link to another container"),
    _S("--health-cmd", help="Command to run to check health"),
    _S("--health-interval", help="Time between running the check"),
    _S("--health-retries", help="Consecutive failures needed to report unhealthy"),
    _S(
        "--health-start-interval",
        help="Time between running the check during the start period",
    ),
    _S(
        "--health-start-period",
        help="Start period for the container to initialize before starting health-retries"
        " countdown",
    ),
    _S("--health-timeout", help="Maximum time to allow one check to run"),
    _B("--no-healthcheck", help="Disable any container-specified HEALTHCHECK"),
    _S("-h", "--hostname", help="Container host name"),
    _B("--init", help="Run an init inside the container that forwards signals and reaps processes"),
    _B("-i", "--interactive", help="Keep STDIN open even if not attached"),
    _S("--ip", help="IPv4 address (e.g., 172.30.100.104)"),
    _S("--ipc", help="IPC mode to use"),
    _L("-l", "--label", help="Set meta data on a container"),
    _L("--label-file", help="Read in a line delimited file of labels"),
    _S("--log-driver", help="Logging driver for the container"),
    _L("--log-opt", help="Log driver options"),
    _S("--mac-address", help="Container MAC address (e.g., 92:d0:c6:0a:29:33)"),
    _S("-m", "--memory", help="Memory limit"),
    _S("--memory-reservation", help="Memory soft limit"),
    _S("--memory-swap", help="Swap limit equal to memory plus swap: '-1' to enable unlimited swap"),
    _S("--memory-swappiness", help="Tune container memory swappiness (0 to 100)"),
    _L("--mount", help="Attach a filesystem mount to the container"),
    _S("--name", help="Assign a name to the container"),
    _S("--network", "--net", help="Connect a container to a network"),
    _L("--network-alias", "--net-alias", help="Add network-scoped alias for the container"),
    _B("--oom-kill-disable", help="Disable OOM Killer"),
    _S("--oom-score-adj", help="Tune host's OOM preferences (-1000 to 1000)"),
    _S("--pid", help="PID namespace to use"),
    _S("--pids-limit", help="Tune container pids limit (set -1 for unlimited)"),
    _S("--platform", help="Set platform if server is multi-platform capable"),
    _B("--privileged", help="Give extended privileges to this container"),
    _L("-p", "--publish", help="Publish a container's port(s) to the host"),
    _B("-P", "--publish-all", help="Publish all exposed ports to random ports"),
    _S(
        "--pull", help='Pull image before running ("always", "missing", "never")', default="missing"
    ),
    _B("-q", "--quiet", help="Suppress the pull output"),
    _B("--read-only", help="Mount the container's root filesystem as read only"),
    _S("--restart", help="Restart policy to apply when a container exits", default="no"),
    _B("--rm", help="Automatically remove the container when it exits"),
    _L("--security-opt", help="Security Options"),
    _S("--shm-size", help="Size of /dev/shm"),
    _S("--stop-signal", help="Signal to stop the container"),
    _S("--stop-timeout", help="Timeout (in seconds) to stop a container"),
    _L("--sysctl", help="Sysctl options"),
    _L("--tmpfs", help="Mount a tmpfs directory"),
    _B("-t", "--tty", help="Allocate a pseudo-TTY"),
    _S(
        "--time-offset",
        help="Clock offsets in a time namespace (monotonic=SECONDS,boottime=SECONDS)",
    ),
    _L("--ulimit", help="Ulimit options"),
    _S("-u", "--user", help="Username or UID (format: <name|uid>[:<group|gid>])"),
    _S("--userns", help="User namespace to use"),
    _S("--uts", help="UTS namespace to use"),
    _L("-v", "--volume", help="Bind mount a volume"),
    _L("--volumes-from", help="Mount volumes from the specified container(s)"),
    _S("-w", "--workdir", help="Working directory inside the container"),
]
RUN_FLAGS = [
    *CREATE_FLAGS,
    _B("-d", "--detach", help="Run container in background and print container ID"),
    _S("--detach-keys", help="Override the key sequence for detaching a container"),
    Flag("--sig-proxy", default=True, help="Proxy received signals to the process"),
]

_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def ram_in_bytes(text: str, flag: str = "") -> int:
    """Docker's RAMInBytes: ``512m``, ``1g``, ``1024``, ``2GB`` (1024-based)."""
    s = text.strip().lower()
    if s.endswith("b") and len(s) > 1 and not s[-2].isdigit():
        s = s[:-1]
    num = s
    unit = ""
    if s and s[-1] in "bkmgtp":
        num, unit = s[:-1], s[-1]
    try:
        value = float(num)
    except ValueError:
        raise InvalidArgument(f"invalid size: '{text}'") from None
    if value < 0:
        raise InvalidArgument(f"invalid size: '{text}'")
    return int(value * _UNITS[unit])


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InvalidArgument(
            f'invalid argument "{text}" for "{what}" flag: invalid syntax'
        ) from None


def parse_restart(text: str) -> dict[str, Any]:
    name, _, count = text.partition(":")
    if name not in ("no", "always", "on-failure", "unless-stopped"):
        raise InvalidArgument(f"invalid restart policy format: {text}")
    if count and name != "on-failure":
        raise InvalidArgument(
            "invalid restart policy format: maximum retry count cannot be used with"
            f" restart policy '{name}'"
        )
    return {"Name": name, "MaximumRetryCount": _int(count, "--restart") if count else 0}


def parse_ulimit(text: str) -> dict[str, Any]:
    name, eq, values = text.partition("=")
    if not eq:
        raise InvalidArgument(f"invalid ulimit argument: {text}")
    soft, _, hard = values.partition(":")
    s = _int(soft, "--ulimit")
    return {"Name": name, "Soft": s, "Hard": _int(hard, "--ulimit") if hard else s}


def parse_env_file(path: str) -> list[str]:
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise InvalidArgument(f"open {path}: {os.strerror(e.errno or 0)}") from None
    out = []
    for line in lines:
        line = line.lstrip()
        if not line or line.startswith("#"):
            continue
        out.extend(_env_item(line))
    return out


def _env_item(item: str) -> list[str]:
    if "=" in item:
        if item.startswith("="):
            raise InvalidArgument(f"invalid environment variable: {item}")
        return [item]
    value = os.environ.get(item)
    return [f"{item}={value}"] if value is not None else []


_SYSCTLS = frozenset(
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


def parse_sysctl(text: str) -> tuple[str, str]:
    """``--sysctl name=value``: only namespaced ones (the docker CLI's list and words)."""
    name, eq, value = text.partition("=")
    if eq and (name in _SYSCTLS or name.startswith(("net.", "fs.mqueue."))):
        return name, value
    raise InvalidArgument(
        f'invalid argument "{text}" for "--sysctl" flag: sysctl \'{text}\' is not whitelisted'
    )


def parse_device(text: str) -> dict[str, str]:
    parts = text.split(":")
    host = parts[0]
    inside = host
    perms = "rwm"
    if len(parts) == 2:
        if set(parts[1]) <= set("rwm") and parts[1]:
            perms = parts[1]
        else:
            inside = parts[1]
    elif len(parts) == 3:
        inside, perms = parts[1], parts[2]
    elif len(parts) > 3:
        raise InvalidArgument(f"invalid device specification: {text}")
    if not set(perms) <= set("rwm"):
        raise InvalidArgument(f"invalid device mode: {perms}")
    return {"PathOnHost": host, "PathInContainer": inside, "CgroupPermissions": perms}


def parse_mount(text: str) -> dict[str, Any]:
    """``--mount type=bind,source=/a,target=/b,readonly`` -> a HostConfig.Mounts entry."""
    m: dict[str, Any] = {"Type": "volume"}
    for field in text.split(","):
        key, eq, value = field.partition("=")
        key = key.strip().lower()
        if key == "type":
            m["Type"] = value
        elif key in ("source", "src"):
            m["Source"] = (
                os.path.abspath(value) if value == "." or value.startswith("./") else value
            )
        elif key in ("target", "destination", "dst"):
            m["Target"] = value
        elif key in ("readonly", "ro"):
            m["ReadOnly"] = value.lower() not in ("false", "0") if eq else True
        elif key == "bind-propagation":
            m.setdefault("BindOptions", {})["Propagation"] = value
        elif key == "volume-nocopy":
            m.setdefault("VolumeOptions", {})["NoCopy"] = (
                value.lower() not in ("false", "0") if eq else True
            )
        elif key == "volume-label":
            k, _, v = value.partition("=")
            m.setdefault("VolumeOptions", {}).setdefault("Labels", {})[k] = v
        elif key == "volume-driver":
            m.setdefault("VolumeOptions", {}).setdefault("DriverConfig", {})["Name"] = value
        elif key == "volume-opt":
            k, _, v = value.partition("=")
            driver = m.setdefault("VolumeOptions", {}).setdefault("DriverConfig", {})
            driver.setdefault("Options", {})[k] = v
        elif key == "tmpfs-size":
            m.setdefault("TmpfsOptions", {})["SizeBytes"] = ram_in_bytes(value)
        elif key == "tmpfs-mode":
            m.setdefault("TmpfsOptions", {})["Mode"] = int(value, 8)
        elif key == "consistency":
            m["Consistency"] = value
        else:
            raise InvalidArgument(f"unexpected key '{key}' in '{field}'")
    if "Target" not in m:
        raise InvalidArgument("target is required")
    if m["Type"] not in ("bind", "volume", "tmpfs"):
        raise InvalidArgument(f"invalid mount type: {m['Type']}")
    return m


def parse_time_offset(text: str) -> dict[str, int]:
    from berth.cli.units import parse_go_duration

    out: dict[str, int] = {}
    for item in text.split(","):
        clock, eq, value = item.partition("=")
        if clock not in ("monotonic", "boottime") or not eq:
            raise InvalidArgument(
                f"invalid --time-offset {item!r}: use monotonic=SECONDS or boottime=SECONDS"
            )
        try:
            out[clock] = (
                int(value) if value.lstrip("-").isdigit() else int(parse_go_duration(value))
            )
        except ValueError:
            raise InvalidArgument(f"invalid --time-offset value {value!r}") from None
    return out


def _throttle(items: list[str], flag: str, size: bool) -> list[dict[str, Any]]:
    out = []
    for item in items:
        path, sep, rate = item.rpartition(":")
        if not sep or not path:
            raise InvalidArgument(f"bad format: {item}")
        out.append({"Path": path, "Rate": ram_in_bytes(rate) if size else _int(rate, flag)})
    return out


def build(opts: Parsed, image: str, command: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(create body, query) for ``run``/``create`` with these options."""
    from berth.network.portspec import parse_port_range, parse_port_specs

    config: dict[str, Any] = {"Image": image}
    hc: dict[str, Any] = {}
    attach = [a.lower() for a in opts.attach or []]
    detach = bool(opts.get("detach"))
    if opts.interactive:
        config["OpenStdin"] = True
    if not detach:
        config["AttachStdin"] = bool(opts.interactive) or "stdin" in attach
        config["AttachStdout"] = not attach or "stdout" in attach
        config["AttachStderr"] = not attach or "stderr" in attach
        if config["AttachStdin"]:
            config["StdinOnce"] = True
    config["Tty"] = bool(opts.tty)
    if command:
        config["Cmd"] = command
    if opts.entrypoint is not None:
        config["Entrypoint"] = [opts.entrypoint] if opts.entrypoint else [""]
    env: list[str] = []
    for path in opts.env_file:
        env += parse_env_file(path)
    for item in opts.env:
        env += _env_item(item)
    if env:
        config["Env"] = env
    for key, flag in (
        ("Hostname", "hostname"),
        ("Domainname", "domainname"),
        ("User", "user"),
        ("WorkingDir", "workdir"),
        ("StopSignal", "stop_signal"),
        ("MacAddress", "mac_address"),
    ):
        value = opts.get(flag)
        if value:
            config[key] = value
    if opts.stop_timeout:
        config["StopTimeout"] = _int(opts.stop_timeout, "--stop-timeout")
    labels: dict[str, str] = {}
    for path in opts.label_file:
        for line in open(path).read().splitlines():
            if line.strip() and not line.startswith("#"):
                k, _, v = line.partition("=")
                labels[k] = v
    for item in opts.label:
        k, _, v = item.partition("=")
        labels[k] = v
    if labels:
        config["Labels"] = labels
    exposed: dict[str, dict[str, Any]] = {}
    for item in opts.expose:
        port, _, proto = item.partition("/")
        lo, hi = parse_port_range(port)
        for p in range(lo, hi + 1):
            exposed[f"{p}/{proto or 'tcp'}"] = {}
    bindings: dict[str, list[dict[str, str]]] = {}
    for m in parse_port_specs(opts.publish):
        key = f"{m.container_port}/{m.proto}"
        exposed[key] = {}
        host_port = ""
        if m.host_port:
            host_port = (
                str(m.host_port)
                if m.host_port_end == m.host_port
                else f"{m.host_port}-{m.host_port_end}"
            )
        bindings.setdefault(key, []).append({"HostIp": m.host_ip, "HostPort": host_port})
    if exposed:
        config["ExposedPorts"] = exposed
    if bindings:
        hc["PortBindings"] = bindings
    if opts.publish_all:
        hc["PublishAllPorts"] = True
    health = _healthcheck(opts)
    if health is not None:
        config["Healthcheck"] = health
    # volumes
    binds: list[str] = []
    volumes: dict[str, dict[str, Any]] = {}
    for v in opts.volume:
        parts = v.split(":")
        if len(parts) == 1:
            volumes[parts[0]] = {}
        else:
            if len(parts) > 3:
                raise InvalidArgument(f"invalid spec: {v}: too many colons")
            if not parts[1].startswith("/"):
                raise InvalidArgument(f"invalid volume specification: '{v}'")
            if parts[0] == "." or parts[0].startswith("./"):  # docker's CLI: relative to here
                v = ":".join([os.path.abspath(parts[0]), *parts[1:]])
            binds.append(v)
    if volumes:
        config["Volumes"] = volumes
    if binds:
        hc["Binds"] = binds
    mounts = [parse_mount(m) for m in opts.mount]
    if mounts:
        hc["Mounts"] = mounts
    if opts.volumes_from:
        hc["VolumesFrom"] = list(opts.volumes_from)
    if opts.link:
        hc["Links"] = list(opts.link)
    tmpfs: dict[str, str] = {}
    for t in opts.tmpfs:
        path, _, o = t.partition(":")
        tmpfs[path] = o
    if tmpfs:
        hc["Tmpfs"] = tmpfs
    # resources
    if opts.memory:
        hc["Memory"] = ram_in_bytes(opts.memory)
    if opts.memory_swap:
        hc["MemorySwap"] = -1 if opts.memory_swap == "-1" else ram_in_bytes(opts.memory_swap)
    if opts.memory_reservation:
        hc["MemoryReservation"] = ram_in_bytes(opts.memory_reservation)
    if opts.memory_swappiness:
        hc["MemorySwappiness"] = _int(opts.memory_swappiness, "--memory-swappiness")
    if opts.oom_kill_disable:
        hc["OomKillDisable"] = True
    if opts.oom_score_adj:
        hc["OomScoreAdj"] = _int(opts.oom_score_adj, "--oom-score-adj")
    if opts.cpus:
        try:
            hc["NanoCpus"] = round(float(opts.cpus) * 1e9)
        except ValueError:
            raise InvalidArgument(
                f'invalid argument "{opts.cpus}" for "--cpus" flag: failed to parse'
                f" {opts.cpus} as a rational number"
            ) from None
    for key, flag in (
        ("CpuPeriod", "cpu_period"),
        ("CpuQuota", "cpu_quota"),
        ("CpuShares", "cpu_shares"),
        ("BlkioWeight", "blkio_weight"),
    ):
        value = opts.get(flag)
        if value:
            hc[key] = _int(value, "--" + flag.replace("_", "-"))
    if opts.pids_limit:
        hc["PidsLimit"] = _int(opts.pids_limit, "--pids-limit")
    for key, flag in (
        ("CpusetCpus", "cpuset_cpus"),
        ("CpusetMems", "cpuset_mems"),
        ("CgroupParent", "cgroup_parent"),
        ("IpcMode", "ipc"),
        ("PidMode", "pid"),
        ("UTSMode", "uts"),
        ("CgroupnsMode", "cgroupns"),
    ):
        value = opts.get(flag)
        if value:
            hc[key] = value
    if opts.userns:
        if opts.userns.partition(":")[0] != "host":
            raise InvalidArgument("--userns: invalid USER mode")
        hc["UsernsMode"] = opts.userns
    if opts.shm_size:
        hc["ShmSize"] = ram_in_bytes(opts.shm_size)
    for key, flag, size in (
        ("BlkioDeviceReadBps", "device_read_bps", True),
        ("BlkioDeviceWriteBps", "device_write_bps", True),
        ("BlkioDeviceReadIOps", "device_read_iops", False),
        ("BlkioDeviceWriteIOps", "device_write_iops", False),
    ):
        items = opts.get(flag) or []
        if items:
            hc[key] = _throttle(items, "--" + flag.replace("_", "-"), size)
    if opts.blkio_weight_device:
        out = []
        for item in opts.blkio_weight_device:
            path, _, w = item.rpartition(":")
            out.append({"Path": path, "Weight": _int(w, "--blkio-weight-device")})
        hc["BlkioWeightDevice"] = out
    if opts.ulimit:
        hc["Ulimits"] = [parse_ulimit(u) for u in opts.ulimit]
    if opts.device:
        hc["Devices"] = [parse_device(d) for d in opts.device]
    if opts.device_cgroup_rule:
        hc["DeviceCgroupRules"] = list(opts.device_cgroup_rule)
    # security
    if opts.privileged:
        hc["Privileged"] = True
    if opts.read_only:
        hc["ReadonlyRootfs"] = True
    if opts.cap_add:
        hc["CapAdd"] = list(opts.cap_add)
    if opts.cap_drop:
        hc["CapDrop"] = list(opts.cap_drop)
    if opts.security_opt:
        hc["SecurityOpt"] = [_security_opt(s) for s in opts.security_opt]
    if opts.group_add:
        hc["GroupAdd"] = list(opts.group_add)
    if opts.sysctl:
        hc["Sysctls"] = dict(parse_sysctl(s) for s in opts.sysctl)
    if opts.time_offset:
        hc["TimeOffsets"] = parse_time_offset(opts.time_offset)
    if opts.init:
        hc["Init"] = True
    # network
    if opts.network:
        hc["NetworkMode"] = opts.network
    if opts.dns:
        hc["Dns"] = list(opts.dns)
    if opts.dns_search:
        hc["DnsSearch"] = list(opts.dns_search)
    if opts.dns_option:
        hc["DnsOptions"] = list(opts.dns_option)
    if opts.add_host:
        hc["ExtraHosts"] = list(opts.add_host)
    endpoint: dict[str, Any] = {}
    if opts.network_alias:
        endpoint["Aliases"] = list(opts.network_alias)
    if opts.ip:
        endpoint["IPAMConfig"] = {"IPv4Address": opts.ip}
    # lifecycle
    hc["RestartPolicy"] = parse_restart(opts.restart or "no")
    if opts.rm:
        if hc["RestartPolicy"]["Name"] not in ("no", ""):
            raise InvalidArgument("Conflicting options: --restart and --rm")
        hc["AutoRemove"] = True
    if opts.log_driver:
        hc["LogConfig"] = {
            "Type": opts.log_driver,
            "Config": dict(o.partition("=")[::2] for o in opts.log_opt),
        }
    config["HostConfig"] = hc
    if endpoint:
        net = opts.network or "bridge"
        config["NetworkingConfig"] = {"EndpointsConfig": {net: endpoint}}
    query: dict[str, Any] = {}
    if opts.name:
        query["name"] = opts.name
    if opts.platform:
        query["platform"] = opts.platform
    return config, query


def _security_opt(text: str) -> str:
    """seccomp=FILE is sent as the profile's JSON content, as docker's CLI does."""
    key, sep, value = text.partition("=")
    if not sep:
        key, sep, value = text.partition(":")
    if key == "seccomp" and value not in ("unconfined", "builtin", ""):
        try:
            with open(value) as f:
                content = f.read()
        except OSError as e:
            raise InvalidArgument(
                f"opening seccomp profile ({value}) failed: {os.strerror(e.errno or 0)}"
            ) from None
        import json

        return "seccomp=" + json.dumps(json.loads(content), separators=(",", ":"))
    return text


def _healthcheck(opts: Parsed) -> dict[str, Any] | None:
    """``--health-*`` and ``--no-healthcheck`` -> Config.Healthcheck, as Docker's CLI
    makes it (unset parts are inherited from the image's HEALTHCHECK by the engine)."""
    from berth import durations

    def duration(flag: str, value: str | None) -> int:
        if value is None:
            return 0
        try:
            ns = durations.parse(value)
        except InvalidArgument as e:
            raise InvalidArgument(f'invalid argument "{value}" for "{flag}" flag: {e}') from None
        if ns < 0:
            raise InvalidArgument(f"{flag} cannot be negative")
        return ns

    out: dict[str, Any] = {
        "Interval": duration("--health-interval", opts.health_interval),
        "Timeout": duration("--health-timeout", opts.health_timeout),
        "StartPeriod": duration("--health-start-period", opts.health_start_period),
        "StartInterval": duration("--health-start-interval", opts.health_start_interval),
    }
    retries = 0
    if opts.health_retries is not None:
        text = opts.health_retries.strip()
        if not text.lstrip("-").isdigit():
            raise InvalidArgument(
                f'invalid argument "{opts.health_retries}" for "--health-retries" flag:'
                f' strconv.ParseInt: parsing "{opts.health_retries}": invalid syntax'
            )
        retries = int(text)
        if retries < 0:
            raise InvalidArgument("--health-retries cannot be negative")
    have = bool(opts.health_cmd) or retries != 0 or any(out.values())
    if opts.no_healthcheck:
        if have:
            raise InvalidArgument("--no-healthcheck conflicts with --health-* options")
        return {"Test": ["NONE"]}
    if not have:
        return None
    out["Retries"] = retries
    if opts.health_cmd:
        out["Test"] = ["CMD-SHELL", opts.health_cmd]
    return out
