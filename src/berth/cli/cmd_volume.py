"""Volume commands: volume create, ls, inspect, rm, prune -- docker's flags and output."""

from __future__ import annotations

from berth.cli.command import FORMAT_HELP, Context, command
from berth.cli.flags import Flag
from berth.errors import BerthError, InvalidArgument, NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from berth.cli.flags import Parsed

DEFAULT_FORMAT = "table {{.Driver}}\t{{.Name}}"
HEADERS = {
    "Driver": "DRIVER",
    "Name": "VOLUME NAME",
    "Mountpoint": "MOUNTPOINT",
    "Labels": "LABELS",
    "Scope": "SCOPE",
    "Links": "LINKS",
    "Size": "SIZE",
    "Group": "GROUP",
    "Availability": "AVAILABILITY",
    "Status": "STATUS",
}
PRUNE_WARNING = (
    "WARNING! This will remove anonymous local volumes not used by at least one container."
)
PRUNE_ALL_WARNING = (
    "WARNING! This will remove all local volumes not used by at least one container."
)


class VolumeRow:
    """The fields ``docker volume ls --format`` knows."""

    def __init__(self, v: dict[str, Any]) -> None:
        labels = v.get("Labels") or {}
        self.Driver = str(v.get("Driver", ""))
        self.Name = str(v.get("Name", ""))
        self.Mountpoint = str(v.get("Mountpoint", ""))
        self.Scope = str(v.get("Scope", ""))
        self.Labels = ",".join(f"{k}={val}" for k, val in sorted(labels.items()))
        self.Links = "N/A"
        self.Size = "N/A"
        self.Group = "N/A"
        self.Availability = "N/A"
        self.Status = "N/A"
        self._labels = labels

    def Label(self, key: str) -> str:
        return str(self._labels.get(key, ""))


def _filters(items: list[str]) -> dict[str, Any]:
    from berth.engine.filters import from_flags, to_json

    f = from_flags(items)
    return {"filters": to_json(f)} if f else {}


@command(
    "berth volume create [OPTIONS] [VOLUME]",
    "Create a volume",
    [
        Flag("-d", "--driver", kind="str", default="local", help="Specify volume driver name"),
        Flag("--label", kind="list", help="Set metadata for a volume"),
        Flag("--name", kind="str", help="Specify volume name"),
        Flag("-o", "--opt", kind="list", help="Set driver specific options"),
    ],
    max_args=1,
)
def volume_create(ctx: Context, opts: Parsed) -> int:
    name = opts.name or ""
    if opts.args:
        if name:
            raise InvalidArgument(
                "conflicting options: cannot specify a volume-name through both --name and"
                " as a positional arg"
            )
        name = opts.args[0]
    options: dict[str, str] = {}
    for item in opts.opt:
        key, eq, value = item.partition("=")
        if not eq:
            raise InvalidArgument(f'invalid argument "{item}" for "-o, --opt" flag: bad format')
        options[key] = value
    labels = dict(item.partition("=")[::2] for item in opts.label)
    body = {"Name": name, "Driver": opts.driver or "local", "DriverOpts": options, "Labels": labels}
    vol = ctx.client.post_json("/volumes/create", None, body) or {}
    ctx.print(str(vol.get("Name", "")))
    return 0


@command(
    "berth volume ls [OPTIONS]",
    "List volumes",
    [
        Flag("-f", "--filter", kind="list", help='Provide filter values (e.g. "dangling=true")'),
        Flag("--format", kind="str", help=FORMAT_HELP),
        Flag("-q", "--quiet", help="Only display volume names"),
    ],
    max_args=0,
)
def volume_ls(ctx: Context, opts: Parsed) -> int:
    from berth.cli.template import render

    answer = ctx.client.get_json("/volumes", _filters(opts.filter)) or {}
    volumes = sorted(answer.get("Volumes") or [], key=lambda v: str(v.get("Name", "")))
    for w in answer.get("Warnings") or []:
        ctx.err.write(f"{w}\n")
    if opts.quiet:
        for v in volumes:
            ctx.print(str(v.get("Name", "")))
        return 0
    ctx.out.write(render(opts.format or DEFAULT_FORMAT, [VolumeRow(v) for v in volumes], HEADERS))
    return 0


@command(
    "berth volume inspect [OPTIONS] VOLUME [VOLUME...]",
    "Display detailed information on one or more volumes",
    [Flag("-f", "--format", kind="str", help=FORMAT_HELP)],
    min_args=1,
)
def volume_inspect(ctx: Context, opts: Parsed) -> int:
    from berth.client.api import quote

    docs: list[Any] = []
    failed = 0
    for name in opts.args:
        try:
            docs.append(ctx.client.get_json(f"/volumes/{quote(name)}"))
        except NotFound:
            failed += 1
            ctx.err.write(f"Error: No such volume: {name}\n")
    if opts.format:
        from berth.cli.template import render

        ctx.out.write(render(opts.format, docs, None))
    elif docs or not failed:
        ctx.print_json(docs)
    return 1 if failed else 0


@command(
    "berth volume rm [OPTIONS] VOLUME [VOLUME...]",
    "Remove one or more volumes",
    [Flag("-f", "--force", help="Force the removal of one or more volumes")],
    min_args=1,
)
def volume_rm(ctx: Context, opts: Parsed) -> int:
    from berth.client.api import quote

    failed = 0
    for name in opts.args:
        try:
            ctx.client.delete(f"/volumes/{quote(name)}", {"force": 1} if opts.force else None)
            ctx.print(name)
        except BerthError as e:
            failed += 1
            ctx.err.write(f"Error response from daemon: {e}\n")
    return 1 if failed else 0


@command(
    "berth volume prune [OPTIONS]",
    "Remove unused local volumes",
    [
        Flag("-a", "--all", help="Remove all unused volumes, not just anonymous ones"),
        Flag("--filter", kind="list", help='Provide filter values (e.g. "label=<label>")'),
        Flag("-f", "--force", help="Do not prompt for confirmation"),
    ],
    max_args=0,
)
def volume_prune(ctx: Context, opts: Parsed) -> int:

    from berth.cli.units import human_size

    items = list(opts.filter)
    if opts.all:
        items.append("all=true")
    if not opts.force:
        warning = PRUNE_ALL_WARNING if opts.all else PRUNE_WARNING
        if not ctx.confirm(warning):
            return 0
    report = ctx.client.post_json("/volumes/prune", _filters(items)) or {}
    deleted = report.get("VolumesDeleted") or []
    if deleted:
        ctx.print("Deleted Volumes:")
        for name in deleted:
            ctx.print(str(name))
        ctx.print()
    ctx.print(f"Total reclaimed space: {human_size(float(report.get('SpaceReclaimed') or 0))}")
    return 0
