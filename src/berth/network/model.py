"""Docker's JSON shapes for networks (moby api/swagger.yaml), as records.

- :class:`Network` — ``GET /networks/{id}`` (``docker network inspect``);
  stored as the ``doc`` column of the ``networks`` table without
  ``Containers``, which is filled in from the endpoints when it is read;
- :class:`EndpointSettings` — a container's entry under
  ``NetworkSettings.Networks``;
- :class:`NetworkContainer` — a container's entry under ``Network.Containers``;
- :class:`PortBinding` — an entry of ``NetworkSettings.Ports["80/tcp"]``.

Every field is passed when these are built, so ``to_json()`` writes all of
them as Docker does (records omit defaults that were not given).
"""

from __future__ import annotations

from berth.oci.record import Record, field


class IPAMConfig(Record):
    subnet: str = field(json="Subnet", default="")
    gateway: str = field(json="Gateway", default="")
    ip_range: str | None = field(json="IPRange", default=None)


class IPAM(Record):
    driver: str = field(json="Driver", default="default")
    options: dict[str, str] = field(json="Options", default_factory=dict)
    config: tuple[IPAMConfig, ...] = field(json="Config", default=())


class NetworkContainer(Record):
    name: str = field(json="Name")
    endpoint_id: str = field(json="EndpointID")
    mac_address: str = field(json="MacAddress")
    ipv4_address: str = field(json="IPv4Address")
    ipv6_address: str = field(json="IPv6Address", default="")


class ConfigFrom(Record):
    network: str = field(json="Network", default="")


class Network(Record):
    name: str = field(json="Name")
    id: str = field(json="Id")
    created: str = field(json="Created")
    scope: str = field(json="Scope", default="local")
    driver: str = field(json="Driver", default="bridge")
    enable_ipv6: bool = field(json="EnableIPv6", default=False)
    ipam: IPAM = field(json="IPAM", default_factory=IPAM)
    internal: bool = field(json="Internal", default=False)
    attachable: bool = field(json="Attachable", default=False)
    ingress: bool = field(json="Ingress", default=False)
    config_from: ConfigFrom = field(json="ConfigFrom", default_factory=ConfigFrom)
    config_only: bool = field(json="ConfigOnly", default=False)
    containers: dict[str, NetworkContainer] = field(json="Containers", default_factory=dict)
    options: dict[str, str] = field(json="Options", default_factory=dict)
    labels: dict[str, str] = field(json="Labels", default_factory=dict)


class EndpointIPAMConfig(Record):
    ipv4_address: str | None = field(json="IPv4Address", default=None)
    ipv6_address: str | None = field(json="IPv6Address", default=None)


class EndpointSettings(Record):
    ipam_config: EndpointIPAMConfig | None = field(json="IPAMConfig", default=None)
    links: tuple[str, ...] | None = field(json="Links", default=None)
    mac_address: str = field(json="MacAddress", default="")
    aliases: tuple[str, ...] | None = field(json="Aliases", default=None)
    driver_opts: dict[str, str] | None = field(json="DriverOpts", default=None)
    network_id: str = field(json="NetworkID", default="")
    endpoint_id: str = field(json="EndpointID", default="")
    gateway: str = field(json="Gateway", default="")
    ip_address: str = field(json="IPAddress", default="")
    ip_prefix_len: int = field(json="IPPrefixLen", default=0)
    ipv6_gateway: str = field(json="IPv6Gateway", default="")
    global_ipv6_address: str = field(json="GlobalIPv6Address", default="")
    global_ipv6_prefix_len: int = field(json="GlobalIPv6PrefixLen", default=0)
    dns_names: tuple[str, ...] | None = field(json="DNSNames", default=None)


class PortBinding(Record):
    host_ip: str = field(json="HostIp", default="")
    host_port: str = field(json="HostPort", default="")


def network_doc(
    *,
    id: str,
    name: str,
    created: str,
    subnet: str,
    gateway: str,
    ip_range: str | None = None,
    internal: bool = False,
    attachable: bool = False,
    options: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
    ipam_options: dict[str, str] | None = None,
) -> Network:
    """A network's document with every field given (so all of them are written)."""
    config = (
        IPAMConfig(subnet=subnet, gateway=gateway, ip_range=ip_range)
        if ip_range
        else IPAMConfig(subnet=subnet, gateway=gateway)
    )
    return Network(
        name=name,
        id=id,
        created=created,
        scope="local",
        driver="bridge",
        enable_ipv6=False,
        ipam=IPAM(driver="default", options=dict(ipam_options or {}), config=(config,)),
        internal=internal,
        attachable=attachable,
        ingress=False,
        config_from=ConfigFrom(network=""),
        config_only=False,
        containers={},
        options=dict(options or {}),
        labels=dict(labels or {}),
    )
