"""What the API shows of a container's network: ``NetworkSettings`` and its ``Ports``.

:class:`NetworkViews` is a mixin of :class:`berth.network.manager.NetworkManager`
(reads its ``db``); :func:`stopped_settings` is what a container shows once
its network is released (Docker's "operational data" cleared).
"""

from __future__ import annotations

from berth import jsonio
from berth.errors import NotFound
from berth.network.networks import virtual_network

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from berth.store.db import Database


class NetworkViews:
    db: Database

    def ports(self, container_id: str) -> dict[str, list[dict[str, str]] | None]:
        """``NetworkSettings.Ports``: ``{"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "80"}]}``."""
        out: dict[str, list[dict[str, str]] | None] = {}
        for r in self.db.query(
            "SELECT * FROM ports WHERE container_id = ? ORDER BY container_port, host_port",
            container_id,
        ):
            out.setdefault(f"{r['container_port']}/{r['proto']}", []).append(  # type: ignore[union-attr]
                {"HostIp": r["host_ip"] or "0.0.0.0", "HostPort": str(r["host_port"])}
            )
        return out

    def _settings(self, container_id: str, mode: str) -> dict[str, Any]:
        from berth.network.model import EndpointIPAMConfig, EndpointSettings

        networks: dict[str, Any] = {}
        first: Any = None
        sb = self.db.query_one("SELECT * FROM sandboxes WHERE container_id = ?", container_id)
        for ep in self.db.query(
            "SELECT e.*, n.name AS nname, n.gateway, n.is_default FROM endpoints e JOIN networks n"
            " ON n.id = e.network_id WHERE e.container_id = ? ORDER BY e.ifname",
            container_id,
        ):
            first = first or ep
            aliases = tuple(jsonio.loads(ep["aliases"]))
            dns_names = None
            if not ep["is_default"] and sb is not None:
                dns_names = tuple(n for n in (sb["name"], *aliases, container_id[:12]) if n)
            networks[ep["nname"]] = _endpoint_json(
                EndpointSettings(
                    ipam_config=None if ep["is_default"] else EndpointIPAMConfig(),
                    links=None,
                    mac_address=ep["mac"],
                    aliases=aliases or None,
                    driver_opts=None,
                    network_id=ep["network_id"],
                    endpoint_id=ep["id"],
                    gateway=ep["gateway"],
                    ip_address=ep["address"],
                    ip_prefix_len=ep["prefixlen"],
                    ipv6_gateway="",
                    global_ipv6_address="",
                    global_ipv6_prefix_len=0,
                    dns_names=dns_names,
                ).to_json()
            )
        if mode in ("host", "none"):
            networks[mode] = _endpoint_json(
                EndpointSettings(network_id=virtual_network(mode, mode)["Id"]).to_json()
            )
        return {
            "Bridge": "",
            "SandboxID": container_id if sb is not None and sb["netns"] else "",
            "SandboxKey": sb["netns"] if sb is not None else "",
            "HairpinMode": False,
            "LinkLocalIPv6Address": "",
            "LinkLocalIPv6PrefixLen": 0,
            "Ports": self.ports(container_id),
            "SecondaryIPAddresses": None,
            "SecondaryIPv6Addresses": None,
            "EndpointID": first["id"] if first is not None and first["is_default"] else "",
            "Gateway": first["gateway"] if first is not None and first["is_default"] else "",
            "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0,
            "IPAddress": first["address"] if first is not None and first["is_default"] else "",
            "IPPrefixLen": first["prefixlen"] if first is not None and first["is_default"] else 0,
            "IPv6Gateway": "",
            "MacAddress": first["mac"] if first is not None and first["is_default"] else "",
            "Networks": networks,
        }

    def settings(self, container_id: str) -> dict[str, Any]:
        """``NetworkSettings`` of a container (NotFound when it has no network)."""
        sb = self.db.query_one("SELECT mode FROM sandboxes WHERE container_id = ?", container_id)
        if sb is None:
            raise NotFound(f"container {container_id} has no network")
        return self._settings(container_id, sb["mode"])


#: Docker's order of an endpoint's keys (``null`` ones included, as Docker writes them).
_ENDPOINT_KEYS = (
    "IPAMConfig",
    "Links",
    "Aliases",
    "MacAddress",
    "DriverOpts",
    "NetworkID",
    "EndpointID",
    "Gateway",
    "IPAddress",
    "IPPrefixLen",
    "IPv6Gateway",
    "GlobalIPv6Address",
    "GlobalIPv6PrefixLen",
    "DNSNames",
)
_ENDPOINT_DEFAULTS: dict[str, Any] = {
    "MacAddress": "",
    "NetworkID": "",
    "EndpointID": "",
    "Gateway": "",
    "IPAddress": "",
    "IPPrefixLen": 0,
    "IPv6Gateway": "",
    "GlobalIPv6Address": "",
    "GlobalIPv6PrefixLen": 0,
}


def _endpoint_json(doc: dict[str, Any]) -> dict[str, Any]:
    out = {k: doc.get(k, _ENDPOINT_DEFAULTS.get(k)) for k in _ENDPOINT_KEYS}
    out.update((k, v) for k, v in doc.items() if k not in out)
    return out


def stopped_settings(settings: dict[str, Any] | None) -> dict[str, Any]:
    """``NetworkSettings`` of a container whose network was released (it exited).

    As Docker does: the networks stay listed with their configuration
    (NetworkID, aliases, IPAM config), the operational data goes (endpoint,
    addresses, gateway, ports, sandbox).
    """
    out = dict(settings or {})
    if not out:
        return out
    for key in ("SandboxID", "SandboxKey", "EndpointID", "Gateway", "IPAddress", "MacAddress"):
        out[key] = ""
    out["IPPrefixLen"] = 0
    out["Ports"] = {}
    networks = {}
    for name, ep in (out.get("Networks") or {}).items():
        ep = dict(ep)
        for key in ("EndpointID", "Gateway", "IPAddress", "IPv6Gateway", "GlobalIPv6Address"):
            ep[key] = ""
        ep["IPPrefixLen"] = 0
        ep["GlobalIPv6PrefixLen"] = 0
        networks[name] = ep
    out["Networks"] = networks
    return out
