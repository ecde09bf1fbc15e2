"""Network objects (``docker network create/ls/inspect/rm/prune``) and the default bridge.

A mixin of :class:`berth.network.manager.NetworkManager`: it uses the
manager's ``db``, ``host``, ``_lock``, ``apply_rules`` and settings. The
``doc`` column keeps each network's :class:`~berth.network.model.Network`
JSON (without ``Containers``, which come from the endpoints when read).
``host`` and ``none`` are listed as Docker lists them but are not stored.
"""

from __future__ import annotations

import os

from berth import jsonio
from berth.errors import Conflict, InvalidArgument, NotFound
from berth.network import ipam
from berth.network.model import Network, NetworkContainer, network_doc

TYPE_CHECKING = False
if TYPE_CHECKING:
    import threading
    from typing import Any

    from berth.network.host import HostNet
    from berth.store.db import Database

DEFAULT_NETWORK = "bridge"
BRIDGE_NAME_OPT = "com.docker.network.bridge.name"
MTU_OPT = "com.docker.network.driver.mtu"
_NAME_OK = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


def new_id() -> str:
    return os.urandom(32).hex()


def _now() -> str:
    import time

    t = time.time()
    whole = int(t)
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{int((t - whole) * 1e9):09d}Z"
    )


def virtual_network(name: str, driver: str) -> dict[str, Any]:
    """``host`` and ``none``: listed as Docker lists them; they have no bridge."""
    import hashlib

    doc = network_doc(
        id=hashlib.sha256(f"berth-network-{name}".encode()).hexdigest(),
        name=name,
        created="0001-01-01T00:00:00Z",
        subnet="",
        gateway="",
    ).to_json()
    doc["Driver"] = driver
    doc["IPAM"]["Config"] = []
    return doc


class NetworkObjects:
    """Create, list, inspect, remove and prune networks."""

    db: Database
    host: HostNet
    default_bridge: str
    default_subnet: str | None
    default_gateway: str | None
    mtu: int
    _lock: threading.RLock
    _names: dict[str, dict[str, list[str]]] | None

    def apply_rules(self) -> None:
        raise NotImplementedError

    def _ensure_default(self) -> None:
        if self.db.query_one("SELECT id FROM networks WHERE is_default = 1"):
            return
        if self.default_subnet:
            subnet = ipam.Subnet.parse(self.default_subnet, strict=True)
        else:
            subnet = ipam.pick_subnet(self._used_subnets())
        gateway = ipam.int_to_ip(ipam.Pool(subnet, self._default_gw()).gateway)
        options = {
            "com.docker.network.bridge.default_bridge": "true",
            "com.docker.network.bridge.enable_icc": "true",
            "com.docker.network.bridge.enable_ip_masquerade": "true",
            "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
            BRIDGE_NAME_OPT: self.default_bridge,
            MTU_OPT: str(self.mtu),
        }
        doc = network_doc(
            id=new_id(),
            name=DEFAULT_NETWORK,
            created=_now(),
            subnet=str(subnet),
            gateway=gateway,
            options=options,
        )
        self._insert_network(doc, self.default_bridge, subnet, gateway, False, True)

    def _default_gw(self) -> int | None:
        return ipam.ip_to_int(self.default_gateway) if self.default_gateway else None

    def _used_subnets(self) -> list[ipam.Subnet]:
        used = self.host.route_subnets()
        used += [
            ipam.Subnet.parse(r["subnet"]) for r in self.db.query("SELECT subnet FROM networks")
        ]
        return used

    def _insert_network(
        self,
        doc: Network,
        bridge: str,
        subnet: ipam.Subnet,
        gateway: str,
        internal: bool,
        default: bool,
    ) -> None:
        stored = doc.to_json()
        stored.pop("Containers", None)
        try:
            with self.db.transaction() as tx:
                tx.execute(
                    "INSERT INTO networks (id, name, bridge, subnet, gateway, internal,"
                    " is_default, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        doc.id,
                        doc.name,
                        bridge,
                        str(subnet),
                        gateway,
                        int(internal),
                        int(default),
                        jsonio.dumps(stored),
                    ),
                )
        except Exception as e:
            if "UNIQUE" in str(e):
                raise Conflict(f"network with name {doc.name} already exists") from None
            raise

    def create_network(
        self,
        name: str,
        *,
        subnet: str | None = None,
        gateway: str | None = None,
        ip_range: str | None = None,
        internal: bool = False,
        attachable: bool = False,
        labels: dict[str, str] | None = None,
        options: dict[str, str] | None = None,
        driver: str = "bridge",
    ) -> dict[str, str]:
        """``docker network create``; returns ``{"Id": ..., "Warning": ""}``."""
        if driver not in ("bridge", ""):
            raise InvalidArgument(f"network driver {driver!r} is not supported; use bridge")
        if not name or not name[0].isalnum() or not set(name) <= _NAME_OK:
            raise InvalidArgument(
                f"invalid network name {name!r}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )
        if name in ("host", "none", DEFAULT_NETWORK):
            raise Conflict(f"network with name {name} already exists")
        options = dict(options or {})
        with self._lock:
            used = self._used_subnets()
            if subnet:
                sub = ipam.Subnet.parse(subnet, strict=True)
                for u in used:
                    if sub.overlaps(u):
                        raise Conflict(
                            f"invalid pool request: Pool overlaps with other one on "
                            f"this address space ({sub} overlaps {u})"
                        )
            elif gateway or ip_range:
                raise InvalidArgument("--gateway and --ip-range need --subnet")
            else:
                sub = ipam.pick_subnet(used)
            gw = ipam.ip_to_int(gateway) if gateway else None
            rng = ipam.Subnet.parse(ip_range) if ip_range else None
            pool = ipam.Pool(sub, gw, rng)
            net_id = new_id()
            bridge = options.get(BRIDGE_NAME_OPT) or f"br-{net_id[:12]}"
            if len(bridge) > 15 or not set(bridge) <= _NAME_OK:
                raise InvalidArgument(f"invalid bridge name {bridge!r}")
            if MTU_OPT in options and not options[MTU_OPT].isdigit():
                raise InvalidArgument(f"invalid {MTU_OPT} {options[MTU_OPT]!r}: not a number")
            gateway_text = ipam.int_to_ip(pool.gateway)
            doc = network_doc(
                id=net_id,
                name=name,
                created=_now(),
                subnet=str(sub),
                gateway=gateway_text,
                ip_range=ip_range,
                internal=internal,
                attachable=attachable,
                options=options,
                labels=labels,
            )
            self._insert_network(doc, bridge, sub, gateway_text, internal, False)
            try:
                mtu = int(options.get(MTU_OPT) or self.mtu)
                self.host.ensure_bridge(bridge, gateway_text, sub.prefixlen, mtu)
                self.apply_rules()
            except BaseException:
                self.db.execute("DELETE FROM networks WHERE id = ?", net_id)
                self.host.delete_link(bridge)
                raise
        return {"Id": net_id, "Warning": ""}

    def create_from_request(self, body: dict[str, Any]) -> dict[str, str]:
        """``POST /networks/create``: Docker's NetworkCreateRequest body -> :meth:`create_network`.

        One IPv4 pool (``IPAM.Config[0]``: Subnet, Gateway, IPRange) is
        supported; IPv6, other drivers and swarm options are refused with a
        message that says so.
        """
        if not isinstance(body, dict):
            raise InvalidArgument("the request body must be a JSON object")
        name = body.get("Name")
        if not isinstance(name, str) or not name:
            raise InvalidArgument("network name must not be empty")
        for key, kind in (
            ("Driver", str),
            ("Internal", bool),
            ("Attachable", bool),
            ("EnableIPv6", bool),
            ("Ingress", bool),
            ("ConfigOnly", bool),
            ("Labels", dict),
            ("Options", dict),
            ("IPAM", dict),
        ):
            value = body.get(key)
            if value is not None and not isinstance(value, kind):
                raise InvalidArgument(f"{key}: expected {kind.__name__}")
        if body.get("EnableIPv6"):
            raise InvalidArgument("IPv6 networks are not supported by berth yet (EnableIPv6)")
        if body.get("Ingress") or body.get("ConfigOnly") or (body.get("ConfigFrom") or {}):
            raise InvalidArgument("swarm and config-only networks are not supported by berth")
        scope = body.get("Scope") or "local"
        if scope != "local":
            raise InvalidArgument(f"network scope {scope!r} is not supported; berth is local")
        ipam_doc = body.get("IPAM") or {}
        if (ipam_doc.get("Driver") or "default") != "default":
            raise InvalidArgument(f"IPAM driver {ipam_doc['Driver']!r} is not supported")
        pools = [c for c in ipam_doc.get("Config") or [] if isinstance(c, dict)]
        if any(":" in str(c.get("Subnet") or "") for c in pools):
            raise InvalidArgument("IPv6 subnets are not supported by berth yet")
        if len(pools) > 1:
            raise InvalidArgument("berth supports one IPv4 pool (--subnet) per network")
        if pools and pools[0].get("AuxiliaryAddresses"):
            raise InvalidArgument("auxiliary addresses (--aux-address) are not supported")
        pool = pools[0] if pools else {}
        return self.create_network(
            name,
            subnet=pool.get("Subnet") or None,
            gateway=pool.get("Gateway") or None,
            ip_range=pool.get("IPRange") or None,
            internal=bool(body.get("Internal")),
            attachable=bool(body.get("Attachable")),
            labels={str(k): str(v) for k, v in (body.get("Labels") or {}).items()},
            options={str(k): str(v) for k, v in (body.get("Options") or {}).items()},
            driver=str(body.get("Driver") or "bridge"),
        )

    def _network_row(self, ref: str) -> Any:
        row = self.db.query_one("SELECT * FROM networks WHERE id = ? OR name = ?", ref, ref)
        if row is None and ref:
            rows = self.db.query("SELECT * FROM networks WHERE id LIKE ?", ref + "%")
            if len(rows) > 1:
                raise InvalidArgument(f"network {ref} is ambiguous ({len(rows)} matches)")
            row = rows[0] if rows else None
        if row is None:
            raise NotFound(f"network {ref} not found")
        return row

    def inspect_network(self, ref: str) -> dict[str, Any]:
        """``GET /networks/{id}``: the Network document with its Containers."""
        if ref in ("host", "none"):
            return virtual_network(ref, "host" if ref == "host" else "null")
        row = self._network_row(ref)
        doc = Network.from_json(jsonio.loads(row["doc"]))
        containers = {}
        for ep in self.db.query(
            "SELECT e.*, s.name AS cname FROM endpoints e JOIN sandboxes s"
            " ON s.container_id = e.container_id WHERE e.network_id = ?",
            row["id"],
        ):
            containers[ep["container_id"]] = NetworkContainer(
                name=ep["cname"],
                endpoint_id=ep["id"],
                mac_address=ep["mac"],
                ipv4_address=f"{ep['address']}/{ep['prefixlen']}",
                ipv6_address="",
            )
        return doc.replace(containers=containers).to_json()

    def list_networks(self, filters: dict[str, list[str]] | None = None) -> list[dict[str, Any]]:
        """``GET /networks`` with Docker's filters: dangling, driver, id, label, name,
        scope, type (an unknown one is InvalidArgument)."""
        filters = filters or {}
        _check_filters(filters, LIST_FILTERS)
        used = {r["network_id"] for r in self.db.query("SELECT DISTINCT network_id FROM endpoints")}
        docs = []
        for r in self.db.query("SELECT id, doc FROM networks"):
            d = jsonio.loads(r["doc"])
            d["Containers"] = {}
            d["_used"] = r["id"] in used
            docs.append(d)
        docs += [virtual_network("host", "host"), virtual_network("none", "null")]
        out = [d for d in docs if _matches(d, filters)]
        for d in out:
            d.pop("_used", None)
        return out

    def remove_network(self, ref: str) -> None:
        if ref in ("host", "none"):
            raise Conflict(f"{ref} is a pre-defined network and cannot be removed")
        with self._lock:
            row = self._network_row(ref)
            if row["is_default"]:
                raise Conflict(f"{row['name']} is a pre-defined network and cannot be removed")
            users = self.db.query(
                "SELECT container_id FROM endpoints WHERE network_id = ?", row["id"]
            )
            if users:
                raise Conflict(
                    f"error while removing network: network {row['name']} id {row['id']} has "
                    f"active endpoints ({len(users)} containers); disconnect or remove them first"
                )
            self.db.execute("DELETE FROM networks WHERE id = ?", row["id"])
            self.host.delete_link(row["bridge"])
            self.apply_rules()
            self._names = None

    def prune_networks(self, filters: dict[str, list[str]] | None = None) -> list[str]:
        """Remove the user-defined networks no container uses; return their names.

        Filters (Docker's): ``label``, ``label!``, ``until`` (a timestamp or a
        Go duration before now).
        """
        filters = filters or {}
        _check_filters(filters, ("label", "label!", "until"))
        until = _until(filters.get("until") or [])
        removed = []
        for row in self.db.query(
            "SELECT * FROM networks n WHERE is_default = 0 AND NOT EXISTS"
            " (SELECT 1 FROM endpoints e WHERE e.network_id = n.id) ORDER BY name"
        ):
            doc = jsonio.loads(row["doc"])
            if not _matches(doc, {"label": filters.get("label", [])}):
                continue
            labels = doc.get("Labels") or {}
            if any(_label_hit(labels, w) for w in filters.get("label!", [])):
                continue
            if until is not None and _created(doc) >= until:
                continue
            try:
                self.remove_network(row["id"])
            except (Conflict, NotFound):
                continue  # taken into use (or removed) meanwhile
            removed.append(row["name"])
        return removed


LIST_FILTERS = ("dangling", "driver", "id", "label", "name", "scope", "type")


def _check_filters(filters: dict[str, list[str]], accepted: tuple[str, ...]) -> None:
    for key in filters:
        if key not in accepted:
            raise InvalidArgument(f"invalid filter '{key}'")


def _label_hit(labels: dict[str, str], wanted: str) -> bool:
    k, eq, v = wanted.partition("=")
    return k in labels and (not eq or labels[k] == v)


def _created(doc: dict[str, Any]) -> float:
    import calendar
    import time

    text = str(doc.get("Created") or "")
    try:
        return float(calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")))
    except ValueError:
        return 0.0


def _until(values: list[str]) -> float | None:
    """The ``until`` filter as a Unix time: a Unix timestamp, an RFC 3339 date, or a
    Go duration (``24h``, ``10m``) before now."""
    if not values:
        return None
    import time

    text = values[-1]
    try:
        return float(text)
    except ValueError:
        pass
    total = 0.0
    number = ""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0}
    for ch in text:
        if ch.isdigit() or ch == ".":
            number += ch
        elif ch in units and number:
            total += float(number) * units[ch]
            number = ""
        else:
            total = -1.0
            break
    if total >= 0 and not number:
        return time.time() - total
    created = _created({"Created": text})
    if created:
        return created
    raise InvalidArgument(f"invalid filter 'until={text}': not a timestamp or a duration")


def _matches(doc: dict[str, Any], filters: dict[str, list[str]]) -> bool:
    for key, wanted in filters.items():
        if not wanted:
            continue
        if key == "dangling":
            if len(wanted) != 1 or wanted[0].lower() not in ("true", "false", "1", "0"):
                raise InvalidArgument(f"invalid filter 'dangling={','.join(wanted)}'")
            dangling = wanted[0].lower() in ("true", "1")
            builtin = doc.get("Name") in ("bridge", "host", "none")
            if dangling != (not builtin and not doc.get("_used")):
                return False
        if key == "scope" and "local" not in wanted:
            return False
        if key == "name" and not any(w in doc.get("Name", "") for w in wanted):
            return False
        if key == "id" and not any(doc.get("Id", "").startswith(w) for w in wanted):
            return False
        if key == "driver" and doc.get("Driver") not in wanted:
            return False
        if key == "type":
            builtin = doc.get("Name") in ("bridge", "host", "none")
            if not any((w == "builtin") == builtin for w in wanted):
                return False
        if key == "label":
            labels = doc.get("Labels") or {}
            for w in wanted:
                k, eq, v = w.partition("=")
                if k not in labels or (eq and labels[k] != v):
                    return False
    return True
