"""``berth version``, ``info``, ``events``, ``system df``, ``system prune``."""

from __future__ import annotations

from berth.cli.command import FORMAT_HELP, Context, command
from berth.cli.flags import Flag

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from berth.cli.flags import Parsed

FORMAT = Flag("-f", "--format", kind="str", help=FORMAT_HELP)


def _client_version(ctx: Context) -> dict[str, Any]:
    import os

    from berth.api.versions import API_VERSION, BERTH_VERSION, build_info, go_arch, python_version

    commit, built = build_info()
    import time

    api = ctx.client.api_version if ctx._client is not None else API_VERSION
    return {
        "Platform": {"Name": ""},
        "Version": BERTH_VERSION,
        "ApiVersion": api,
        "DefaultAPIVersion": API_VERSION,
        "GitCommit": commit,
        "GoVersion": python_version(),
        "Os": "linux",
        "Arch": go_arch(os.uname().machine),
        "BuildTime": time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(built)) if built else "",
        "Context": "default",
    }


def _line(indent: int, label: str, value: object) -> str:
    text = " " * indent + label + ":"
    return text.ljust(20) + str(value) + "\n"


@command("berth version [OPTIONS]", "Show the berth version information", [FORMAT], max_args=0)
def version(ctx: Context, opts: Parsed) -> int:
    from berth.errors import BerthError

    server: dict[str, Any] | None = None
    error: BerthError | None = None
    try:
        server = ctx.client.get_json("/version")
    except BerthError as e:
        error = e
    client = _client_version(ctx)
    if opts.format:
        from berth.cli.template import Template, parse_format

        _, text = parse_format(opts.format)
        ctx.out.write(Template(text).execute({"Client": client, "Server": server}) + "\n")
    else:
        ctx.out.write(_render_version(client, server))
    if error is not None:
        raise error
    return 0


def _render_version(client: dict[str, Any], server: dict[str, Any] | None) -> str:
    from berth.api.versions import API_VERSION

    api = client["ApiVersion"]
    if api != API_VERSION:
        api = f"{api} (downgraded from {API_VERSION})"
    out = "Client:\n"
    out += _line(1, "Version", client["Version"])
    out += _line(1, "API version", api)
    out += _line(1, "Python version", client["GoVersion"])
    out += _line(1, "Git commit", client["GitCommit"])
    out += _line(1, "Built", client["BuildTime"])
    out += _line(1, "OS/Arch", f"{client['Os']}/{client['Arch']}")
    out += _line(1, "Context", client["Context"])
    if server is None:
        return out
    platform = (server.get("Platform") or {}).get("Name", "")
    out += "\nServer:" + (f" {platform}" if platform else "") + "\n"
    for comp in server.get("Components") or []:
        name = comp.get("Name", "")
        details = comp.get("Details") or {}
        out += f" {name}:\n"
        if name == "Engine":
            out += _line(2, "Version", comp.get("Version", ""))
            out += _line(
                2,
                "API version",
                f"{details.get('ApiVersion', '')} (minimum version "
                f"{details.get('MinAPIVersion', '')})",
            )
            go = str(details.get("GoVersion", ""))
            out += _line(2, "Python version" if go.startswith("python") else "Go version", go)
            out += _line(2, "Git commit", details.get("GitCommit", ""))
            out += _line(2, "Built", details.get("BuildTime", ""))
            out += _line(2, "OS/Arch", f"{details.get('Os', '')}/{details.get('Arch', '')}")
            out += _line(2, "Experimental", details.get("Experimental", ""))
        else:
            out += _line(2, "Version", comp.get("Version", ""))
            for key in sorted(details):
                out += _line(2, key, details[key])
    return out


@command("berth info [OPTIONS]", "Display system-wide information", [FORMAT], max_args=0)
def info(ctx: Context, opts: Parsed) -> int:
    from berth.errors import BerthError

    server: dict[str, Any] | None = None
    error: BerthError | None = None
    try:
        server = ctx.client.get_json("/info")
    except BerthError as e:
        error = e
    client_info = {"Debug": ctx.debug, "Context": "default", "Plugins": [], "Warnings": None}
    if opts.format:
        from berth.cli.template import Template, parse_format

        _, text = parse_format(opts.format)
        doc = dict(server or {})
        doc["ClientInfo"] = client_info
        ctx.out.write(Template(text).execute(doc) + "\n")
        if error is not None:
            raise error
        return 0
    out = "Client:\n Context:    default\n Debug Mode: " + str(ctx.debug).lower() + "\n"
    ctx.out.write(out)
    if error is not None:
        ctx.out.write("\nServer:\n")
        raise error
    assert server is not None
    ctx.out.write("\n" + render_info(server))
    for warning in info_warnings(server):
        ctx.err.write(warning + "\n")
    return 0


def render_info(i: dict[str, Any]) -> str:
    from berth.cli.units import bytes_size

    def g(key: str, default: object = "") -> Any:
        value = i.get(key)
        return default if value is None else value

    def b(key: str) -> str:
        return "true" if i.get(key) else "false"

    lines = ["Server:"]
    lines.append(f" Containers: {g('Containers', 0)}")
    lines.append(f"  Running: {g('ContainersRunning', 0)}")
    lines.append(f"  Paused: {g('ContainersPaused', 0)}")
    lines.append(f"  Stopped: {g('ContainersStopped', 0)}")
    lines.append(f" Images: {g('Images', 0)}")
    lines.append(f" Server Version: {g('ServerVersion')}")
    lines.append(f" Storage Driver: {g('Driver')}")
    for pair in g("DriverStatus", []):
        if isinstance(pair, list) and len(pair) == 2:
            lines.append(f"  {pair[0]}: {pair[1]}")
    lines.append(f" Logging Driver: {g('LoggingDriver')}")
    lines.append(f" Cgroup Driver: {g('CgroupDriver')}")
    lines.append(f" Cgroup Version: {g('CgroupVersion')}")
    plugins = g("Plugins", {})
    lines.append(" Plugins:")
    for kind in ("Volume", "Network", "Authorization", "Log"):
        names = plugins.get(kind) or []
        if names:
            lines.append(f"  {kind}: {' '.join(names)}")
    swarm = g("Swarm", {})
    lines.append(f" Swarm: {swarm.get('LocalNodeState', 'inactive')}")
    runtimes = g("Runtimes", {})
    lines.append(f" Runtimes: {' '.join(sorted(runtimes))}")
    lines.append(f" Default Runtime: {g('DefaultRuntime')}")
    opts = g("SecurityOptions", [])
    if opts:
        lines.append(" Security Options:")
        for opt in opts:
            fields = dict(p.partition("=")[::2] for p in opt.split(","))
            lines.append(f"  {fields.get('name', opt)}")
            for k, v in fields.items():
                if k != "name":
                    lines.append(f"   {k.capitalize()}: {v}")
    lines.append(f" Kernel Version: {g('KernelVersion')}")
    lines.append(f" Operating System: {g('OperatingSystem')}")
    lines.append(f" OSType: {g('OSType')}")
    lines.append(f" Architecture: {g('Architecture')}")
    lines.append(f" CPUs: {g('NCPU', 0)}")
    lines.append(f" Total Memory: {bytes_size(float(g('MemTotal', 0)))}")
    lines.append(f" Name: {g('Name')}")
    lines.append(f" ID: {g('ID')}")
    lines.append(f" Berth Root Dir: {g('DockerRootDir')}")
    lines.append(f" Debug Mode: {b('Debug')}")
    if i.get("Debug"):
        lines.append(f"  File Descriptors: {g('NFd', 0)}")
        lines.append(f"  Threads: {g('NGoroutines', 0)}")
        lines.append(f"  System Time: {g('SystemTime')}")
        lines.append(f"  EventsListeners: {g('NEventsListener', 0)}")
    for key, label in (("HttpProxy", "HTTP Proxy"), ("HttpsProxy", "HTTPS Proxy")):
        if i.get(key):
            lines.append(f" {label}: {i[key]}")
    if i.get("NoProxy"):
        lines.append(f" No Proxy: {i['NoProxy']}")
    lines.append(f" Registry: {g('IndexServerAddress')}")
    lines.append(" Labels:")
    lines.extend(f"  {label}" for label in g("Labels", []))
    lines.append(f" Experimental: {b('ExperimentalBuild')}")
    reg = g("RegistryConfig", {})
    insecure = list(reg.get("InsecureRegistryCIDRs") or [])
    insecure += [
        name for name, ic in (reg.get("IndexConfigs") or {}).items() if not ic.get("Secure", True)
    ]
    if insecure:
        lines.append(" Insecure Registries:")
        lines.extend(f"  {r}" for r in insecure)
    mirrors = reg.get("Mirrors") or []
    if mirrors:
        lines.append(" Registry Mirrors:")
        lines.extend(f"  {m}" for m in mirrors)
    lines.append(f" Live Restore Enabled: {b('LiveRestoreEnabled')}")
    return "\n".join(lines) + "\n\n"


def info_warnings(i: dict[str, Any]) -> list[str]:
    out = [f"WARNING: {w}" for w in (i.get("Warnings") or [])]
    if i.get("CgroupVersion") == "1":
        for key, text in (
            ("MemoryLimit", "No memory limit support"),
            ("SwapLimit", "No swap limit support"),
            ("CpuCfsPeriod", "No cpu cfs period support"),
            ("CpuCfsQuota", "No cpu cfs quota support"),
            ("CPUShares", "No cpu shares support"),
            ("CPUSet", "No cpuset support"),
        ):
            if key in i and not i[key]:
                out.append(f"WARNING: {text}")
    if "IPv4Forwarding" in i and not i["IPv4Forwarding"]:
        out.append("WARNING: IPv4 forwarding is disabled")
    return out


@command(
    "berth events [OPTIONS]",
    "Get real time events from the server",
    [
        Flag(
            "-f",
            "--filter",
            kind="list",
            metavar="filter",
            help="Filter output based on conditions provided",
        ),
        Flag("--format", kind="str", help=FORMAT_HELP),
        Flag("--since", kind="str", help="Show all events created since timestamp"),
        Flag("--until", kind="str", help="Stream events until this timestamp"),
    ],
    max_args=0,
)
def events(ctx: Context, opts: Parsed) -> int:
    import time

    from berth.cli.timeutil import get_timestamp
    from berth.engine.filters import from_flags, to_json

    now = time.time()
    query: dict[str, object] = {}
    if opts.since:
        query["since"] = get_timestamp(opts.since, now)
    if opts.until:
        query["until"] = get_timestamp(opts.until, now)
    f = from_flags(opts.filter)
    if f:
        query["filters"] = to_json(f)
    tpl = None
    if opts.format:
        from berth.cli.template import Template, parse_format

        _, text = parse_format(opts.format)
        tpl = Template(text)
    out = ctx.out
    for msg in ctx.client.stream_json("GET", "/events", query):
        if tpl is not None:
            out.write(tpl.execute(EventView(msg)) + "\n")
        else:
            out.write(event_line(msg))
        out.flush()
    return 0


class EventView:
    """An event as docker's templates see it (Go field names of events.Message)."""

    def __init__(self, msg: dict[str, Any]) -> None:
        self._msg = msg

    def to_json(self) -> dict[str, Any]:
        return self._msg

    @property
    def Status(self) -> str:
        return str(self._msg.get("status", ""))

    @property
    def ID(self) -> str:
        return str(self._msg.get("id", ""))

    @property
    def From(self) -> str:
        return str(self._msg.get("from", ""))

    @property
    def Type(self) -> str:
        return str(self._msg.get("Type", ""))

    @property
    def Action(self) -> str:
        return str(self._msg.get("Action", ""))

    @property
    def Actor(self) -> dict[str, Any]:
        return dict(self._msg.get("Actor") or {"ID": "", "Attributes": {}})

    @property
    def Scope(self) -> str:
        return str(self._msg.get("scope", ""))

    @property
    def Time(self) -> int:
        return int(self._msg.get("time", 0))

    @property
    def TimeNano(self) -> int:
        return int(self._msg.get("timeNano", 0))


def event_line(msg: dict[str, Any]) -> str:
    """One event as ``docker events`` prints it."""
    from berth.cli.timeutil import format_local_nano

    out = ""
    if msg.get("timeNano"):
        out = format_local_nano(int(msg["timeNano"])) + " "
    elif msg.get("time"):
        out = format_local_nano(int(msg["time"]) * 1_000_000_000) + " "
    actor = msg.get("Actor") or {}
    out += f"{msg.get('Type', '')} {msg.get('Action', '')} {actor.get('ID', '')}"
    attrs = actor.get("Attributes") or {}
    if attrs:
        out += " (" + ", ".join(f"{k}={attrs[k]}" for k in sorted(attrs)) + ")"
    return out + "\n"


DF_HEADERS = {
    "Type": "TYPE",
    "TotalCount": "TOTAL",
    "Active": "ACTIVE",
    "Size": "SIZE",
    "Reclaimable": "RECLAIMABLE",
}


class DfRow:
    def __init__(self, type_: str, total: int, active: int, size: int, reclaimable: int) -> None:
        self.Type = type_
        self.TotalCount = str(total)
        self.Active = str(active)
        from berth.cli.units import human_size

        self.Size = human_size(size)
        pct = f" ({int(reclaimable * 100 / size)}%)" if size else ""
        self.Reclaimable = human_size(reclaimable) + pct


def df_rows(df: dict[str, Any]) -> list[DfRow]:
    images = df.get("Images") or []
    active_images = [i for i in images if (i.get("Containers") or 0) > 0]
    layers = int(df.get("LayersSize") or 0)
    used = sum(int(i.get("Size") or 0) - int(i.get("SharedSize") or 0) for i in active_images)
    containers = df.get("Containers") or []
    running = [c for c in containers if c.get("State") == "running"]
    c_size = sum(int(c.get("SizeRw") or 0) for c in containers)
    c_reclaim = sum(int(c.get("SizeRw") or 0) for c in containers if c not in running)
    volumes = df.get("Volumes") or []
    v_active = [v for v in volumes if ((v.get("UsageData") or {}).get("RefCount") or 0) > 0]
    v_size = sum(max(0, int((v.get("UsageData") or {}).get("Size") or 0)) for v in volumes)
    v_reclaim = sum(
        max(0, int((v.get("UsageData") or {}).get("Size") or 0))
        for v in volumes
        if v not in v_active
    )
    cache = df.get("BuildCache") or []
    b_active = [b for b in cache if b.get("InUse")]
    b_size = sum(int(b.get("Size") or 0) for b in cache if not b.get("Shared"))
    b_reclaim = sum(int(b.get("Size") or 0) for b in cache if not b.get("InUse"))
    return [
        DfRow("Images", len(images), len(active_images), layers, max(0, layers - used)),
        DfRow("Containers", len(containers), len(running), c_size, c_reclaim),
        DfRow("Local Volumes", len(volumes), len(v_active), v_size, v_reclaim),
        DfRow("Build Cache", len(cache), len(b_active), b_size, b_reclaim),
    ]


@command("berth system df [OPTIONS]", "Show berth disk usage", [FORMAT], max_args=0)
def df(ctx: Context, opts: Parsed) -> int:
    from berth.cli.template import render

    doc = ctx.client.get_json("/system/df")
    fmt = (
        opts.format or "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"
    )
    ctx.out.write(render(fmt, list(df_rows(doc)), DF_HEADERS))
    return 0


@command(
    "berth system prune [OPTIONS]",
    "Remove unused data",
    [
        Flag("-a", "--all", help="Remove all unused images not just dangling ones"),
        Flag("--filter", kind="list", help='Provide filter values (e.g. "label=<key>=<value>")'),
        Flag("-f", "--force", help="Do not prompt for confirmation"),
        Flag("--volumes", help="Prune anonymous volumes"),
    ],
    max_args=0,
)
def system_prune(ctx: Context, opts: Parsed) -> int:
    """Docker's order: containers, networks, volumes, images, build cache; one total."""

    from berth.cli.units import human_size
    from berth.engine.filters import Filters, from_flags, to_json

    f = from_flags(opts.filter)  # a bad --filter is refused before anything is removed
    if not opts.force:
        warnings = ["all stopped containers", "all networks not used by at least one container"]
        if opts.volumes:
            warnings.append("all anonymous volumes not used by at least one container")
        warnings.append(
            "all images without at least one container associated to them"
            if opts.all
            else "all dangling images"
        )
        warnings.append("all build cache" if opts.all else "unused build cache")
        text = "WARNING! This will remove:\n" + "".join(f"  - {w}\n" for w in warnings)
        if opts.filter:
            text += "\n  Items to be pruned will be filtered with:\n"
            text += "".join(f"  - {item}\n" for item in opts.filter)
        if not ctx.confirm(text):
            return 0
    query = {"filters": to_json(f)} if opts.filter else None
    reclaimed = 0

    def section(title: str, lines: list[str]) -> None:
        if lines:
            ctx.print(title + "\n" + "".join(f"{line}\n" for line in lines))

    report = ctx.client.post_json("/containers/prune", query) or {}
    section("Deleted Containers:", [str(c) for c in report.get("ContainersDeleted") or []])
    reclaimed += int(report.get("SpaceReclaimed") or 0)
    report = ctx.client.post_json("/networks/prune", query) or {}
    section("Deleted Networks:", [str(n) for n in report.get("NetworksDeleted") or []])
    if opts.volumes:
        report = ctx.client.post_json("/volumes/prune", query) or {}
        section("Deleted Volumes:", [str(v) for v in report.get("VolumesDeleted") or []])
        reclaimed += int(report.get("SpaceReclaimed") or 0)
    images = Filters(f.fields)
    if opts.all:
        images.add("dangling", "false")
    image_query = {"filters": to_json(images)} if images else None
    report = ctx.client.post_json("/images/prune", image_query) or {}
    section(
        "Deleted Images:",
        [
            f"{key.lower()}: {item[key]}"
            for item in report.get("ImagesDeleted") or []
            for key in ("Untagged", "Deleted")
            if key in item
        ],
    )
    reclaimed += int(report.get("SpaceReclaimed") or 0)
    report = ctx.client.post_json("/build/prune", {"all": 1} if opts.all else None) or {}
    section("Deleted build cache objects:", [str(c) for c in report.get("CachesDeleted") or []])
    reclaimed += int(report.get("SpaceReclaimed") or 0)
    ctx.print(f"Total reclaimed space: {human_size(float(reclaimed))}")
    return 0


@command(
    "berth builder prune",
    "Remove build cache",
    [
        Flag("-a", "--all", help="Remove all unused build cache, not just dangling ones"),
        Flag("--filter", kind="list", help='Provide filter values (e.g. "until=24h")'),
        Flag("-f", "--force", help="Do not prompt for confirmation"),
    ],
    max_args=0,
)
def builder_prune(ctx: Context, opts: Parsed) -> int:
    """berth's build cache is its intermediate images (``image prune`` removes those no
    longer needed); the daemon's answer is printed as Docker prints it."""

    from berth.cli.units import human_size
    from berth.engine.filters import from_flags, to_json

    f = from_flags(opts.filter)
    if not opts.force and not ctx.confirm(
        "WARNING! This will remove all dangling build cache.", sep=" "
    ):
        return 0
    query: dict[str, object] = {"all": int(bool(opts.all))}
    if opts.filter:
        query["filters"] = to_json(f)
    report = ctx.client.post_json("/build/prune", query) or {}
    deleted = report.get("CachesDeleted") or []
    if deleted:
        ctx.print("Deleted build cache objects:\n" + "".join(f"{d}\n" for d in deleted))
    ctx.print(f"Total reclaimed space: {human_size(float(report.get('SpaceReclaimed') or 0))}")
    return 0
