"""A container's networking as the container service drives it (the glue to berth.network).

The container service owns the containers; :class:`berth.network.manager.NetworkManager`
(``svc.network``) owns the kernel side. This module is what sits between:

- :func:`validate` -- at create: Docker's refusals of options that cannot go
  with ``--network container:`` / ``host`` / the default bridge;
- :func:`setup` -- at start: the sandbox (netns, veth, ports, DNS) for the
  container's network mode, its other networks (``EndpointsConfig``, and
  what ``network connect`` added while it was stopped), the
  hosts/resolv.conf/hostname files, ``NetworkSettings``;
- :func:`release` -- at exit and removal: everything released, the
  operational part of ``NetworkSettings`` cleared as Docker does;
- :func:`connect` / :func:`disconnect` -- ``docker network connect`` for
  running containers (now) and stopped ones (recorded, applied at start);
- :func:`create_network`, :func:`remove_network`, :func:`prune_networks` --
  the network objects, with their events.

A container's networks are its ``HostConfig.NetworkMode`` (the first, eth0)
plus every other key of ``Config.NetworkingConfig.EndpointsConfig`` (which
also carries each one's ``Aliases`` and ``IPAMConfig.IPv4Address``).
Setup and release times go to berthd's debug log (``berth.network``).
"""

from __future__ import annotations

import os
import time

from berth.errors import Conflict, InvalidArgument, NotFound, Unavailable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from berth.engine.containers.service import ContainerService
    from berth.engine.containers.store import ContainerRow
    from berth.network.manager import NetworkManager

SHARED_NETWORK = (
    "container sharing network namespace with another container or host cannot be "
    "connected to any other network"
)
HOST_NETWORK = "container cannot be disconnected from host network or connected to host network"
NO_NETWORK = (
    "container cannot be connected to multiple networks with one of the networks in "
    "private (none) mode"
)


def network_mode(host_config: dict[str, Any]) -> str:
    """``HostConfig.NetworkMode`` with Docker's ``default`` spelled ``bridge``."""
    mode = str(host_config.get("NetworkMode") or "default")
    return "bridge" if mode == "default" else mode


def endpoints_config(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    doc = (config.get("NetworkingConfig") or {}).get("EndpointsConfig") or {}
    return {str(k): dict(v or {}) for k, v in doc.items()}


def _primary_keys(host_config: dict[str, Any]) -> tuple[str, ...]:
    raw = str(host_config.get("NetworkMode") or "default")
    return ("default", "bridge") if raw in ("default", "bridge") else (raw,)


def _log() -> Any:
    import logging

    return logging.getLogger("berth.network")


def _manager(svc: ContainerService) -> NetworkManager:
    nm: NetworkManager | None = svc.network
    if nm is None:
        raise Unavailable("networking is disabled in this daemon (BERTH_NO_NETWORK is set)")
    return nm


# -- create ------------------------------------------------------------------------------
def validate(config: dict[str, Any], host_config: dict[str, Any]) -> None:
    """Docker's checks of the network options of a create request (InvalidArgument)."""
    mode = network_mode(host_config)
    container_mode = mode.startswith("container:")
    if container_mode and not mode.partition(":")[2]:
        raise InvalidArgument("Invalid network mode: invalid container format container:<name|id>")
    if container_mode:
        for given, what in (
            (config.get("Hostname"), "hostname"),
            (host_config.get("Dns"), "dns"),
            (host_config.get("ExtraHosts"), "custom host-to-IP mapping"),
        ):
            if given:
                raise InvalidArgument(f"conflicting options: {what} and the network mode")
        if host_config.get("PortBindings") or host_config.get("PublishAllPorts"):
            raise InvalidArgument(
                "conflicting options: port publishing and the container type network mode"
            )
        if config.get("ExposedPorts"):
            raise InvalidArgument(
                "conflicting options: port exposing and the container type network mode"
            )
    if (container_mode or mode == "host") and config.get("MacAddress"):
        raise InvalidArgument("conflicting options: mac-address and the network mode")
    if mode in ("bridge", "host", "none") or container_mode:
        endpoint = _endpoint_for(config, host_config)
        if (endpoint.get("IPAMConfig") or {}).get("IPv4Address"):
            raise InvalidArgument(
                "user specified IP address is supported on user defined networks only"
            )
        if endpoint.get("Aliases") and mode == "bridge":
            raise InvalidArgument(
                "network-scoped alias is supported only for containers in user defined networks"
            )


def _endpoint_for(config: dict[str, Any], host_config: dict[str, Any]) -> dict[str, Any]:
    eps = endpoints_config(config)
    for key in _primary_keys(host_config):
        if key in eps:
            return eps[key]
    return {}


def created_settings(
    svc: ContainerService, config: dict[str, Any], host_config: dict[str, Any]
) -> dict[str, Any]:
    """``NetworkSettings`` of a container just created: the networks it will join at its
    start, listed as Docker lists them (configuration only, no addresses yet); clients
    such as docker-compose read them to decide whether to disconnect and reconnect it.
    A network that does not exist fails the create (404), as with Docker."""
    from berth.network.views import _endpoint_json, stopped_settings

    mode = network_mode(host_config)
    if mode.startswith("container:"):
        return {}
    eps = endpoints_config(config)
    primary = _primary_keys(host_config)
    wanted = [(mode, _endpoint_for(config, host_config))]
    wanted += [(k, v) for k, v in eps.items() if k not in primary]
    nm: NetworkManager | None = svc.network
    networks: dict[str, Any] = {}
    for ref, ep in wanted:
        name, net_id = ref, ""
        if nm is not None:
            net = nm.inspect_network(ref)  # NotFound: "network X not found"
            name, net_id = str(net["Name"]), str(net["Id"])
        networks[name] = _endpoint_json(
            {
                "IPAMConfig": ep.get("IPAMConfig") or None,
                "Aliases": ep.get("Aliases") or None,
                "NetworkID": net_id,
            }
        )
    return stopped_settings({"Networks": networks, "Bridge": "", "HairpinMode": False})


# -- start / exit ------------------------------------------------------------------------
def predict(svc: ContainerService, row: ContainerRow, inp: Any) -> bool:
    """Give ``inp`` what :func:`setup` will give it -- the namespace's path and the
    files bound on /etc/hosts, resolv.conf and hostname -- before it runs, where
    they are known beforehand: on a network of berth's own (a bridge or none),
    without legacy links. False (``inp`` untouched) otherwise: then the spec is
    made once the network is set up. :func:`setup` sets the same again."""
    nm: NetworkManager | None = svc.network
    mode = network_mode(row.host_config)
    if nm is None or mode == "host" or mode.startswith("container:"):
        return False
    if row.host_config.get("Links"):
        return False
    from berth.network.sandbox import ETC_FILES

    directory = svc.dir_of(row.id)
    inp.netns_path = nm.netns_path(row.id)
    inp.etc_files = {target: os.path.join(directory, name) for name, target in ETC_FILES}
    return True


def setup(
    svc: ContainerService, row: ContainerRow, inp: Any, undo: Any
) -> Callable[[], None] | None:
    """Give ``row`` its network for a start (``inp``: the spec input; ``undo``: the
    start's cleanup stack, which releases it all again when the start fails).

    Returns what is left to do before the container's program runs, when the
    kernel side of its network is deferred (see NetworkManager.setup): the
    caller runs it while the runtime creates the container."""
    hc, cfg = row.host_config, row.config
    mode = network_mode(hc)
    nm: NetworkManager | None = svc.network
    if nm is None:
        inp.netns_path = "host" if mode == "host" else None
        return None
    from berth.network.sandbox import SandboxRequest

    t0 = time.perf_counter()
    network = mode
    if mode.startswith("container:"):
        other = svc.find(mode.partition(":")[2])
        if other.id == row.id:
            raise InvalidArgument("cannot join own network namespace")
        if not other.state.get("Running"):
            raise Conflict(f"cannot join network of a non running container: {other.id}")
        network = f"container:{other.id}"
        # as Docker: the container takes the other one's host and domain name
        cfg["Hostname"] = other.config.get("Hostname") or other.id[:12]
        if other.config.get("Domainname"):
            cfg["Domainname"] = other.config["Domainname"]
    elif mode == "host" and not cfg.get("Hostname"):
        cfg["Hostname"] = os.uname().nodename
    ports = None
    if mode != "host" and (hc.get("PortBindings") or hc.get("PublishAllPorts")):
        from berth.engine.containers.config import port_mappings

        ports = port_mappings(cfg, hc)
    endpoint = _endpoint_for(cfg, hc)
    req = SandboxRequest(
        row.id,
        name=row.name,
        hostname=str(cfg.get("Hostname") or row.id[:12]),
        domainname=str(cfg.get("Domainname") or ""),
        network=network,
        aliases=list(endpoint.get("Aliases") or []),
        ip=(endpoint.get("IPAMConfig") or {}).get("IPv4Address") or None,
        mac=cfg.get("MacAddress") or endpoint.get("MacAddress") or None,
        ports=ports,
        dns=list(hc.get("Dns") or []),
        dns_search=list(hc.get("DnsSearch") or []),
        dns_options=list(hc.get("DnsOptions") or []),
        extra_hosts=[*_link_hosts(svc, row, network, inp), *(hc.get("ExtraHosts") or [])],
    )
    primary = _primary_keys(hc)
    extra = [(k, v) for k, v in endpoints_config(cfg).items() if k not in primary]
    # (more networks are plugged in after the first: then nothing is deferred)
    sb = nm.setup(req, defer=not extra)
    undo.callback(nm.release, row.id)
    for key, ep in extra:
        nm.connect(
            row.id,
            key,
            aliases=list(ep.get("Aliases") or []),
            ip=(ep.get("IPAMConfig") or {}).get("IPv4Address") or None,
        )
    inp.netns_path = sb.netns if sb.netns else "host"
    if sb.files_from:
        other_dir = svc.dir_of(sb.files_from)
        inp.etc_files = {
            target: path
            for target, path in (
                ("/etc/hosts", os.path.join(other_dir, "hosts")),
                ("/etc/resolv.conf", os.path.join(other_dir, "resolv.conf")),
                ("/etc/hostname", os.path.join(other_dir, "hostname")),
            )
            if os.path.exists(path)
        }
    else:
        inp.etc_files = sb.write_files(svc.dir_of(row.id))
    row.network_settings = nm.settings(row.id) if extra else sb.settings
    if not mode.startswith("container:"):
        _endpoint_events(svc, row, "connect")
    _log().debug(
        "network setup of %s (%s, %d ports, %d more networks): %.1f ms%s",
        row.id[:12],
        mode,
        len(ports or ()),
        len(extra),
        (time.perf_counter() - t0) * 1e3,
        " (its kernel side follows)" if sb.finish else "",
    )
    return sb.finish


def release(svc: ContainerService, row: ContainerRow) -> None:
    """Release the container's network (exit, removal); never raises."""
    nm: NetworkManager | None = svc.network
    if nm is None or not nm.has_sandbox(row.id):
        return  # released already (at its exit: this is its removal), or never set up
    t0 = time.perf_counter()
    if not network_mode(row.host_config).startswith("container:"):
        _endpoint_events(svc, row, "disconnect")
    try:
        nm.release(row.id)
    except Exception as e:
        _log().warning("releasing the network of %s: %s", row.id[:12], e)
    from berth.network.views import stopped_settings

    row.network_settings = stopped_settings(row.network_settings)
    _log().debug("network release of %s: %.1f ms", row.id[:12], (time.perf_counter() - t0) * 1e3)


def _networks(row: ContainerRow) -> dict[str, Any]:
    return dict((row.network_settings or {}).get("Networks") or {})


def _endpoint_events(svc: ContainerService, row: ContainerRow, action: str) -> None:
    """Docker's ``network connect`` / ``disconnect`` events of a start / an exit."""
    if svc.events is None:
        return
    drivers = {"host": "host", "none": "null"}
    for name, ep in _networks(row).items():
        net = {"Id": ep.get("NetworkID", ""), "Name": name, "Driver": drivers.get(name, "bridge")}
        _publish(svc, action, net, row.id)


# -- connect / disconnect ----------------------------------------------------------------
def _publish(svc: ContainerService, action: str, net: dict[str, Any], cid: str = "") -> None:
    if svc.events is None:
        return
    attrs = {"name": str(net.get("Name", "")), "type": str(net.get("Driver") or "bridge")}
    if cid:
        attrs["container"] = cid
    svc.events.publish("network", action, str(net.get("Id", "")), attrs)


def _set_endpoint(config: dict[str, Any], name: str, endpoint: dict[str, Any] | None) -> None:
    nc = dict(config.get("NetworkingConfig") or {})
    eps = dict(nc.get("EndpointsConfig") or {})
    if endpoint is None:
        eps.pop(name, None)
    else:
        eps[name] = endpoint
    nc["EndpointsConfig"] = eps
    config["NetworkingConfig"] = nc


def _check_shared(mode: str, target: str) -> None:
    """Docker's refusals of ``network connect`` for shared and private namespaces."""
    if target == "host":
        raise InvalidArgument(HOST_NETWORK)
    if mode == "host" or mode.startswith("container:"):
        raise InvalidArgument(SHARED_NETWORK)
    if target == "none" or mode == "none":
        raise InvalidArgument(NO_NETWORK)


def connect(
    svc: ContainerService, ref: str, network: str, endpoint: dict[str, Any] | None = None
) -> None:
    """``POST /networks/{id}/connect``: now when the container runs, at its next start
    otherwise (recorded in its configuration either way, so restarts keep it)."""
    nm = _manager(svc)
    endpoint = dict(endpoint or {})
    net = nm.inspect_network(network)
    name = str(net["Name"])
    row = svc.find(ref)
    aliases = [str(a) for a in endpoint.get("Aliases") or []]
    ip = str((endpoint.get("IPAMConfig") or {}).get("IPv4Address") or "") or None
    if net.get("Options", {}).get("com.docker.network.bridge.default_bridge") == "true":
        if aliases:
            raise InvalidArgument(
                "network-scoped alias is supported only for containers in user defined networks"
            )
        if ip:
            raise InvalidArgument(
                "user specified IP address is supported on user defined networks only"
            )
    with svc.lock:
        mode = network_mode(row.host_config)
        _check_shared(mode, name)
        keys = set(endpoints_config(row.config))
        if not (row.extra or {}).get("primary_disconnected"):
            keys |= set(_primary_keys(row.host_config))
        networks = (row.network_settings or {}).get("Networks") or {}
        if row.state.get("Running"):
            nm.connect(row.id, name, aliases=aliases, ip=ip)
            row.network_settings = nm.settings(row.id)
        else:
            if name in keys or net["Id"] in keys or name in networks:
                raise Conflict(f"endpoint with name {row.name} already exists in network {name}")
            from berth.network.views import _endpoint_json

            settings = dict(row.network_settings or {})
            nets = dict(settings.get("Networks") or {})
            nets[name] = _endpoint_json(
                {
                    "IPAMConfig": {"IPv4Address": ip} if ip else None,
                    "Aliases": aliases or None,
                    "NetworkID": net["Id"],
                }
            )
            settings["Networks"] = nets
            row.network_settings = settings
        stored = {k: v for k, v in endpoint.items() if v not in (None, "", [], {})}
        _set_endpoint(row.config, name, stored)
        if name in _primary_keys(row.host_config) or net["Id"] in _primary_keys(row.host_config):
            row.extra = {k: v for k, v in (row.extra or {}).items() if k != "primary_disconnected"}
        svc.store.save(row)
    _publish(svc, "connect", net, row.id)


def disconnect(svc: ContainerService, ref: str, network: str, force: bool = False) -> None:
    """``POST /networks/{id}/disconnect``."""
    nm = _manager(svc)
    net = nm.inspect_network(network)
    name = str(net["Name"])
    try:
        row = svc.find(ref)
    except NotFound:
        if force:
            return
        raise
    with svc.lock:
        mode = network_mode(row.host_config)
        if name == "host" or mode == "host":
            raise InvalidArgument(HOST_NETWORK)
        eps = endpoints_config(row.config)
        networks = dict((row.network_settings or {}).get("Networks") or {})
        running = bool(row.state.get("Running"))
        connected = name in networks
        if not running:  # also what it would be connected to at its next start
            connected = connected or name in eps or net["Id"] in eps or mode in (name, net["Id"])
        if not connected:
            if force:
                return
            raise NotFound(f"container {row.id[:12]} is not connected to network {name}")
        if running:
            nm.disconnect(row.id, name, force=force)
            row.network_settings = nm.settings(row.id)
        else:
            networks.pop(name, None)
            row.network_settings = dict(row.network_settings or {}, Networks=networks)
            if mode in (name, net["Id"]):
                # as Docker's: connecting it again (compose disconnects and reconnects a
                # created container to set its aliases) is no longer a conflict
                row.extra = dict(row.extra or {}, primary_disconnected=True)
        for key in (name, net["Id"]):
            _set_endpoint(row.config, key, None)
        svc.store.save(row)
    _publish(svc, "disconnect", net, row.id)


# -- network objects ---------------------------------------------------------------------
def create_network(svc: ContainerService, body: dict[str, Any]) -> dict[str, str]:
    nm = _manager(svc)
    answer = nm.create_from_request(body)
    _publish(svc, "create", nm.inspect_network(answer["Id"]))
    return answer


def remove_network(svc: ContainerService, ref: str) -> None:
    nm = _manager(svc)
    net = nm.inspect_network(ref)
    nm.remove_network(ref)
    _publish(svc, "destroy", net)


def prune_networks(svc: ContainerService, filters: dict[str, list[str]]) -> list[str]:
    nm = _manager(svc)
    docs = {d["Name"]: d for d in nm.list_networks()}
    removed = nm.prune_networks(filters)
    for name in removed:
        if name in docs:
            _publish(svc, "destroy", docs[name])
    if svc.events is not None:
        svc.events.publish("network", "prune", "", {"reclaimed": "0"})
    return removed


def parse_link(text: str) -> tuple[str, str]:
    """``name[:alias]`` (also Docker's stored ``/name:/container/alias``) -> (name, alias)."""
    name, _, alias = text.partition(":")
    name = name.strip("/")
    alias = alias.rsplit("/", 1)[-1] if alias else name
    if not name or not alias:
        raise InvalidArgument(f"invalid link {text!r}: expected name[:alias]")
    return name, alias


def _link_hosts(svc: Any, row: ContainerRow, network: str, inp: Any) -> list[str]:
    """Legacy links (``--link name:alias``): /etc/hosts lines for the linked containers
    (``IP alias hostname name``) and, on the default bridge, Docker's ``ALIAS_PORT_*``,
    ``ALIAS_NAME`` and ``ALIAS_ENV_*`` variables (set on ``inp.link_env``)."""
    links = list(row.host_config.get("Links") or [])
    if not links:
        return []
    if network in ("host", "none") or network.startswith("container:"):
        kind = "container" if network.startswith("container:") else network
        raise InvalidArgument(
            f"conflicting options: {kind} type networking can't be used with links. This would"
            " result in undefined behavior"
        )
    out: list[str] = []
    env: list[str] = []
    for text in links:
        name, alias = parse_link(text)
        try:
            other = svc.find(name)
        except NotFound:
            raise InvalidArgument(f"could not get container for {name}") from None
        if not other.state.get("Running"):
            raise Conflict(
                f"Cannot link to a non running container: /{other.name} AS /{row.name}/{alias}"
            )
        nets = (other.network_settings or {}).get("Networks") or {}
        ip = str((nets.get(network) or {}).get("IPAddress") or "")
        if not ip:
            raise InvalidArgument(
                f"Cannot link to /{other.name}, as it does not belong to the network {network}"
            )
        names = [alias, str(other.config.get("Hostname") or other.id[:12])]
        if alias != other.name:
            names.append(other.name)
        out.append(f"{' '.join(names)}:{ip}")
        if network == "bridge":
            env.extend(_link_env(alias, f"/{row.name}/{alias}", ip, other.config))
    inp.link_env = env
    return out


def _link_env(alias: str, link_name: str, ip: str, config: dict[str, Any]) -> list[str]:
    prefix = alias.upper().replace("-", "_")
    ports: list[tuple[int, str]] = []
    for item in config.get("ExposedPorts") or {}:
        number, _, kind = str(item).partition("/")
        if number.isdigit():
            ports.append((int(number), kind or "tcp"))
    ports.sort()
    env = []
    if ports:
        first, first_proto = ports[0]
        env.append(f"{prefix}_PORT={first_proto}://{ip}:{first}")
    for port, proto in ports:
        key = f"{prefix}_PORT_{port}_{proto.upper()}"
        env += [
            f"{key}={proto}://{ip}:{port}",
            f"{key}_ADDR={ip}",
            f"{key}_PORT={port}",
            f"{key}_PROTO={proto}",
        ]
    env.append(f"{prefix}_NAME={link_name}")
    for item in config.get("Env") or []:
        k, eq, v = str(item).partition("=")
        if eq and k not in ("HOME", "PATH"):
            env.append(f"{prefix}_ENV_{k}={v}")
    return env
