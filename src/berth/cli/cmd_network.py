"""Network commands: network create/ls/inspect/rm/connect/disconnect/prune, and port.

Each parses Docker's flags, calls one Engine API endpoint (``berth.api.networks``,
or the container's inspect for ``port``) and prints what docker prints:

- ``network ls``: ``NETWORK ID  NAME  DRIVER  SCOPE``, sorted by name (natural
  order), IDs cut to 12; ``-q``, ``--no-trunc``, ``--filter``, ``--format``
  (fields ``.ID .Name .Driver .Scope .IPv6 .Internal .Labels .CreatedAt``);
- ``network create`` prints the new network's ID; ``--subnet``,
  ``--gateway``, ``--ip-range`` are matched to each other as docker's CLI
  does (a gateway or range belongs to the subnet that contains it);
- ``network rm`` prints each name removed; ``network prune`` asks first
  unless ``-f`` and lists what it deleted;
- ``port CONTAINER [PRIVATE_PORT[/PROTO]]``: ``80/tcp -> 0.0.0.0:8080`` lines
  (naturally sorted), or only the host side for one port.
"""

from __future__ import annotations

from berth.cli.command import FORMAT_HELP, Context, command
from berth.cli.flags import Flag
from berth.errors import BerthError, InvalidArgument, NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from berth.cli.flags import Parsed

LS_FORMAT = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"
LS_HEADERS = {
    "ID": "NETWORK ID",
    "Name": "NAME",
    "Driver": "DRIVER",
    "Scope": "SCOPE",
    "IPv6": "IPV6",
    "Internal": "INTERNAL",
    "Labels": "LABELS",
    "CreatedAt": "CREATED AT",
}


def natural_key(text: str) -> list[Any]:
    """Sort key that orders ``net2`` before ``net10`` (docker's sortorder.NaturalLess)."""
    out: list[Any] = []
    digits = ""
    word = ""
    for ch in text:
        if ch.isdigit():
            if word:
                out.append((1, word, 0))
                word = ""
            digits += ch
        else:
            if digits:
                out.append((0, "", int(digits)))
                digits = ""
            word += ch
    if digits:
        out.append((0, "", int(digits)))
    if word:
        out.append((1, word, 0))
    return out


def _filters(items: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise InvalidArgument(f"bad format of filter (expected name=value): {item}")
        out.setdefault(key.strip().lower(), []).append(value)
    return out


def _filter_query(items: list[str]) -> dict[str, object]:
    f = _filters(items)
    if not f:
        return {}
    from berth.jsonio import dumps

    return {"filters": dumps({k: {v: True for v in vs} for k, vs in f.items()})}


def _key_values(items: list[str], flag: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not key:
            raise InvalidArgument(f'invalid argument "{item}" for "{flag}" flag')
        out[key] = value if sep else ""
    return out


def ipam_config(subnets: list[str], gateways: list[str], ranges: list[str]) -> list[dict[str, str]]:
    """``--subnet/--gateway/--ip-range`` -> ``IPAM.Config`` (docker CLI's matching)."""
    from berth.network import ipam

    if (gateways or ranges) and not subnets:
        what = "gateway" if gateways else "ip-range"
        raise InvalidArgument(
            f"every ip-range or gateway must have a corresponding subnet ({what})"
        )
    configs = [{"Subnet": s} for s in subnets]
    parsed = [ipam.Subnet.parse(s) if ":" not in s else None for s in subnets]

    def owner(address: int, what: str, text: str) -> dict[str, str]:
        for cfg, sub in zip(configs, parsed, strict=True):
            if sub is not None and address in sub:
                return cfg
        raise InvalidArgument(f"no matching subnet for {what} {text}")

    for r in ranges:
        cfg = owner(ipam.Subnet.parse(r).network, "range", r)
        if "IPRange" in cfg:
            raise InvalidArgument(
                f"cannot configure multiple ranges ({r}, {cfg['IPRange']})"
                f" on the same subnet ({cfg['Subnet']})"
            )
        cfg["IPRange"] = r
    for g in gateways:
        cfg = owner(ipam.ip_to_int(g), "gateway", g)
        if "Gateway" in cfg:
            raise InvalidArgument(
                f"cannot configure multiple gateways ({g}, {cfg['Gateway']})"
                f" for the same subnet ({cfg['Subnet']})"
            )
        cfg["Gateway"] = g
    return configs


@command(
    "berth network create [OPTIONS] NETWORK",
    "Create a network",
    [
        Flag("--attachable", help="Enable manual container attachment"),
        Flag(
            "--aux-address",
            kind="list",
            help="Auxiliary IPv4 or IPv6 addresses used by Network driver",
        ),
        Flag("--config-from", kind="str", help="The network from which to copy the configuration"),
        Flag("--config-only", help="Create a configuration only network"),
        Flag("-d", "--driver", kind="str", default="bridge", help="Driver to manage the Network"),
        Flag("--gateway", kind="list", help="IPv4 or IPv6 Gateway for the master subnet"),
        Flag("--ingress", help="Create swarm routing-mesh network"),
        Flag("--internal", help="Restrict external access to the network"),
        Flag("--ip-range", kind="list", help="Allocate container ip from a sub-range"),
        Flag("--ipam-driver", kind="str", default="default", help="IP Address Management Driver"),
        Flag("--ipam-opt", kind="list", help="Set IPAM driver specific options"),
        Flag("--ipv6", help="Enable IPv6 networking"),
        Flag("--label", kind="list", help="Set metadata on a network"),
        Flag("-o", "--opt", kind="list", help="Set driver specific options"),
        Flag("--scope", kind="str", help="Control the network's scope"),
        Flag(
            "--subnet", kind="list", help="Subnet in CIDR format that represents a network segment"
        ),
    ],
    min_args=1,
    max_args=1,
)
def network_create(ctx: Context, opts: Parsed) -> int:
    config = ipam_config(list(opts.subnet), list(opts.gateway), list(opts.ip_range))
    if opts.aux_address and config:
        config[0]["AuxiliaryAddresses"] = _key_values(opts.aux_address, "--aux-address")  # type: ignore[assignment]
    body: dict[str, Any] = {
        "Name": opts.args[0],
        "CheckDuplicate": True,
        "Driver": opts.driver or "bridge",
        "Scope": opts.scope or "",
        "EnableIPv6": bool(opts.ipv6),
        "IPAM": {
            "Driver": opts.ipam_driver or "default",
            "Config": config,
            "Options": _key_values(opts.ipam_opt, "--ipam-opt"),
        },
        "Internal": bool(opts.internal),
        "Attachable": bool(opts.attachable),
        "Ingress": bool(opts.ingress),
        "ConfigOnly": bool(opts.config_only),
        "Options": _key_values(opts.opt, "--opt"),
        "Labels": _key_values(opts.label, "--label"),
    }
    if opts.config_from:
        body["ConfigFrom"] = {"Network": opts.config_from}
    answer = ctx.client.post_json("/networks/create", None, body)
    if answer.get("Warning"):
        ctx.err.write(f"WARNING: {answer['Warning']}\n")
    ctx.print(str(answer["Id"]))
    return 0


def _row(net: dict[str, Any], trunc: bool) -> dict[str, Any]:
    """A row of ``network ls --format`` with Docker's field names and ``.Label "key"``."""
    from berth.cli.psformat import PsRow

    labels = net.get("Labels") or {}
    created = str(net.get("Created") or "")
    return PsRow(
        {
            "ID": net["Id"][:12] if trunc else net["Id"],
            "Name": net.get("Name", ""),
            "Driver": net.get("Driver", ""),
            "Scope": net.get("Scope", ""),
            "IPv6": "true" if net.get("EnableIPv6") else "false",
            "Internal": "true" if net.get("Internal") else "false",
            "Labels": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
            "CreatedAt": created,
        },
        labels,
    )


@command(
    "berth network ls [OPTIONS]",
    "List networks",
    [
        Flag("-f", "--filter", kind="list", help="Provide filter values (e.g. 'driver=bridge')"),
        Flag("--format", kind="str", help=FORMAT_HELP),
        Flag("--no-trunc", help="Do not truncate the output"),
        Flag("-q", "--quiet", help="Only display network IDs"),
    ],
    max_args=0,
)
def network_ls(ctx: Context, opts: Parsed) -> int:
    nets = ctx.client.get_json("/networks", _filter_query(opts.filter)) or []
    nets.sort(key=lambda n: natural_key(str(n.get("Name", ""))))
    trunc = not opts.no_trunc
    if opts.quiet:
        for n in nets:
            ctx.print(n["Id"][:12] if trunc else n["Id"])
        return 0
    from berth.cli.template import render

    ctx.out.write(render(opts.format or LS_FORMAT, [_row(n, trunc) for n in nets], LS_HEADERS))
    return 0


@command(
    "berth network inspect [OPTIONS] NETWORK [NETWORK...]",
    "Display detailed information on one or more networks",
    [
        Flag("-f", "--format", kind="str", help=FORMAT_HELP),
        Flag("-v", "--verbose", help="Verbose output for diagnostics"),
    ],
    min_args=1,
)
def network_inspect(ctx: Context, opts: Parsed) -> int:
    docs = []
    failed = 0
    for ref in opts.args:
        try:
            docs.append(ctx.client.get_json(f"/networks/{ref}", {"verbose": int(opts.verbose)}))
        except NotFound:
            failed += 1
            ctx.err.write(f"Error: No such network: {ref}\n")
    if opts.format:
        from berth.cli.template import render

        ctx.out.write(render(opts.format, docs, None))
    else:
        ctx.print_json(docs)
    return 1 if failed else 0


@command(
    "berth network rm NETWORK [NETWORK...]",
    "Remove one or more networks",
    [Flag("-f", "--force", help="Do not error if the network does not exist")],
    min_args=1,
)
def network_rm(ctx: Context, opts: Parsed) -> int:
    failed = 0
    for ref in opts.args:
        try:
            ctx.client.delete(f"/networks/{ref}")
            ctx.print(ref)
        except NotFound as e:
            if opts.force:
                continue
            failed += 1
            ctx.err.write(f"Error response from daemon: {e}\n")
        except BerthError as e:
            failed += 1
            ctx.err.write(f"Error response from daemon: {e}\n")
    return 1 if failed else 0


@command(
    "berth network connect [OPTIONS] NETWORK CONTAINER",
    "Connect a container to a network",
    [
        Flag("--alias", kind="list", help="Add network-scoped alias for the container"),
        Flag("--driver-opt", kind="list", help="driver options for the network"),
        Flag("--ip", kind="str", help="IPv4 address (e.g., 172.30.100.104)"),
        Flag("--ip6", kind="str", help="IPv6 address (e.g., 2001:db8::33)"),
        Flag("--link", kind="list", help="Add link to another container"),
        Flag("--link-local-ip", kind="list", help="Add a link-local address for the container"),
    ],
    min_args=2,
    max_args=2,
)
def network_connect(ctx: Context, opts: Parsed) -> int:
    endpoint: dict[str, Any] = {}
    if opts.ip or opts.ip6 or opts.link_local_ip:
        ipam: dict[str, Any] = {}
        if opts.ip:
            ipam["IPv4Address"] = opts.ip
        if opts.ip6:
            ipam["IPv6Address"] = opts.ip6
        if opts.link_local_ip:
            ipam["LinkLocalIPs"] = list(opts.link_local_ip)
        endpoint["IPAMConfig"] = ipam
    if opts.alias:
        endpoint["Aliases"] = list(opts.alias)
    if opts.link:
        endpoint["Links"] = list(opts.link)
    if opts.driver_opt:
        endpoint["DriverOpts"] = _key_values(opts.driver_opt, "--driver-opt")
    network, container = opts.args
    ctx.client.post_json(
        f"/networks/{network}/connect", None, {"Container": container, "EndpointConfig": endpoint}
    )
    return 0


@command(
    "berth network disconnect [OPTIONS] NETWORK CONTAINER",
    "Disconnect a container from a network",
    [Flag("-f", "--force", help="Force the container to disconnect from a network")],
    min_args=2,
    max_args=2,
)
def network_disconnect(ctx: Context, opts: Parsed) -> int:
    network, container = opts.args
    ctx.client.post_json(
        f"/networks/{network}/disconnect", None, {"Container": container, "Force": bool(opts.force)}
    )
    return 0


@command(
    "berth network prune [OPTIONS]",
    "Remove all unused networks",
    [
        Flag("--filter", kind="list", help="Provide filter values (e.g. 'until=<timestamp>')"),
        Flag("-f", "--force", help="Do not prompt for confirmation"),
    ],
    max_args=0,
)
def network_prune(ctx: Context, opts: Parsed) -> int:
    if not opts.force and not ctx.confirm(
        "WARNING! This will remove all custom networks not used by at least one container."
    ):
        return 0
    report = ctx.client.post_json("/networks/prune", _filter_query(opts.filter)) or {}
    deleted = report.get("NetworksDeleted") or []
    if deleted:
        ctx.print("Deleted Networks:\n" + "".join(f"{n}\n" for n in deleted))
    return 0


def port_lines(ports: dict[str, Any], private: str | None = None) -> list[str]:
    """``docker port``'s lines from ``NetworkSettings.Ports`` (naturally sorted).

    With ``private`` (``80`` or ``80/udp``): only that port's host addresses.
    """
    from berth.network.portspec import format_port_line

    out = []
    if private is not None:
        port, _, proto = private.partition("/")
        key = f"{port}/{proto or 'tcp'}"
        for b in ports.get(key) or []:
            ip = b.get("HostIp") or "0.0.0.0"
            out.append(f"{f'[{ip}]' if ':' in ip else ip}:{b.get('HostPort')}")
    else:
        for key, bindings in ports.items():
            for b in bindings or []:
                out.append(format_port_line(key, b.get("HostIp") or "", b.get("HostPort")))
    return sorted(out, key=natural_key)


@command(
    "berth port CONTAINER [PRIVATE_PORT[/PROTO]]",
    "List port mappings or a specific mapping for the container",
    [],
    min_args=1,
    max_args=2,
)
def port(ctx: Context, opts: Parsed) -> int:
    ref = opts.args[0]
    info = ctx.client.get_json(f"/containers/{ref}/json")
    ports = (info.get("NetworkSettings") or {}).get("Ports") or {}
    private = opts.args[1] if len(opts.args) > 1 else None
    if private is not None:
        port_text, _, proto = private.partition("/")
        if not port_text.isdigit() or proto not in ("", "tcp", "udp", "sctp"):
            raise InvalidArgument(f"Error: invalid port ({private})")
    lines = port_lines(ports, private)
    if private is not None and not lines:
        key = private if "/" in private else f"{private}/tcp"
        raise InvalidArgument(f"Error: No public port '{key}' published for {ref}")
    for line in lines:
        ctx.print(line)
    return 0
