"""The network manager: what berthd calls for networks and containers' networking.

Lifecycle (one manager per daemon)::

    nm = NetworkManager(db, exec_root)
    nm.start(live_container_ids)        # tables, default bridge, ip_forward, nft table,
                                        # reconcile: drop what dead containers left,
                                        # embedded DNS thread
    sb = nm.setup(SandboxRequest(cid, name="web", network="mynet", ports=[...]))
        # -> Sandbox: netns path for the runtime, hosts/resolv.conf/hostname, settings
    nm.connect(cid, "other", aliases=["db"])   # docker network connect
    nm.release(cid)                     # on rm: veths, netns, ports, addresses, DNS
    nm.close()                          # daemon exit: containers keep their network

Network objects (``docker network ...``): :meth:`create_network`,
:meth:`list_networks`, :meth:`inspect_network`, :meth:`remove_network`,
:meth:`prune_networks`, :meth:`disconnect`, in Docker's JSON shapes
(:mod:`berth.network.model`). Errors: NotFound (no such network/container),
Conflict (name taken, port taken, network in use), InvalidArgument (bad
subnet, gateway, --ip, name).

Kernel state berth owns: bridges (``berth0`` and ``br-<id12>``), veths named
``bv<endpoint id 12>`` whose container end is ``eth0``, ``eth1``..., netns
files ``<exec_root>/netns/<container id>``, and the nft table
(:mod:`berth.network.nftplan`). The database says which of them should
exist; :meth:`reconcile` removes the rest that is berth's. (The host object also
keeps two spare network namespaces, held only by its descriptors: see
:meth:`berth.network.host.HostNet.create_netns`.)
"""

from __future__ import annotations

import os
import threading

from berth import jsonio
from berth.errors import Conflict, InvalidArgument, KernelError, NotFound
from berth.network import files, ipam, nftplan
from berth.network.networks import MTU_OPT, NetworkObjects, new_id
from berth.network.sandbox import Sandbox, SandboxRequest
from berth.network.store import MIGRATIONS
from berth.network.views import NetworkViews

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from berth.network.dns import DnsServer
    from berth.network.host import HostNet, Inside
    from berth.network.portspec import PortMapping
    from berth.store.db import Database, Tx


ENODEV = 19


def engine_names(data_root: str, default_root: str = "/var/lib/berth") -> tuple[str, str]:
    """(default bridge, nft table) of the engine whose data root is ``data_root``.

    The engine on the default root gets ``berth0`` and ``berth``; any other
    gets names of its own (``berth<6 hex>``, ``berth_<6 hex>``, from its
    root's path), so that engines side by side on one host (tests, a
    user's second engine) never share -- or remove -- each other's.
    """
    real = os.path.realpath(data_root)
    if real == os.path.realpath(default_root):
        return "berth0", "berth"
    import hashlib

    tag = hashlib.sha256(real.encode()).hexdigest()[:6]
    return f"berth{tag}", f"berth_{tag}"


class NetworkManager(NetworkObjects, NetworkViews):
    """Networks, IPAM, veths, NAT and the embedded DNS of one daemon."""

    def __init__(
        self,
        db: Database,
        exec_root: str,
        *,
        host: HostNet | None = None,
        table: str = "berth",
        default_bridge: str = "berth0",
        default_subnet: str | None = None,
        default_gateway: str | None = None,
        mtu: int = 1500,
        resolv_conf_path: str = "/etc/resolv.conf",
        dns_upstreams: list[tuple[str, int]] | None = None,
        embedded_dns: bool = True,
        dns: list[str] | tuple[str, ...] = (),
        dns_search: list[str] | tuple[str, ...] = (),
        dns_options: list[str] | tuple[str, ...] = (),
    ) -> None:
        if host is None:
            from berth.network.host import HostNet

            host = HostNet()
        self.db = db
        self.host = host
        self.table = table
        self.default_bridge = default_bridge
        self.default_subnet = default_subnet
        self.default_gateway = default_gateway
        self.mtu = mtu
        self.netns_dir = os.path.join(exec_root, "netns")
        self.resolv_conf_path = resolv_conf_path
        self._dns_upstreams = dns_upstreams
        self._embedded_dns = embedded_dns
        # the daemon's --dns/--dns-search/--dns-opt: used when a container gives none
        self.default_dns = list(dns)
        self.default_dns_search = list(dns_search)
        self.default_dns_options = list(dns_options)
        self.dns: DnsServer | None = None
        self._lock = threading.RLock()
        self._names: dict[str, dict[str, list[str]]] | None = None  # network id -> name -> ips
        self._nets_of: dict[str, list[str]] = {}  # container id -> its user network ids
        # container id -> its netns, open, while a deferred setup's finish has not run
        self._unfinished: dict[str, Inside] = {}

    # -- daemon lifecycle -----------------------------------------------------
    def start(self, live: set[str] | None = None) -> None:
        """Make the network ready: schema, default bridge, forwarding, nft, DNS.

        With ``live`` (the ids of the containers that exist), also remove what
        any other container left behind (:meth:`reconcile`).
        """
        self.db.migrate(MIGRATIONS)
        os.makedirs(self.netns_dir, mode=0o711, exist_ok=True)
        old = self._recorded_table()
        if old and old != self.table:
            self.host.nft(nftplan.delete_table(old), f"delete table ip {old}")
        self.db.execute(
            "INSERT OR REPLACE INTO network_meta (key, value) VALUES ('nft_table', ?)", self.table
        )
        self._ensure_default()
        for row in self.db.query("SELECT * FROM networks"):
            self.host.ensure_bridge(row["bridge"], row["gateway"], _plen(row), self._mtu(row))
        self.host.set_sysctl("net/ipv4/ip_forward", "1")
        if live is not None:
            self.reconcile(live, apply_rules=False)
        self.apply_rules()
        if self._embedded_dns:
            self._start_dns()

    def close(self) -> None:
        """Stop serving (DNS thread, sockets); containers keep their network."""
        if self.dns is not None:
            self.dns.stop()
            self.dns = None
        self.host.close()

    def settle(self) -> None:
        """Wait until the veths of released containers are gone from the host."""
        self.host.settle()

    def uninstall(self) -> None:
        """Remove everything berth's networking made: every sandbox, bridge and the
        table (the one this database says the engine installed)."""
        self.db.migrate(MIGRATIONS)
        # every rule change below (a release that rebuilds the table) goes to that table
        self.table = self._recorded_table() or self.table
        for row in self.db.query("SELECT container_id FROM sandboxes"):
            self.release(row["container_id"])
        self.host.settle()
        for row in self.db.query("SELECT bridge FROM networks"):
            self.host.delete_link(row["bridge"])
        self.host.nft(nftplan.delete_table(self.table), f"delete table ip {self.table}")

    def _recorded_table(self) -> str:
        row = self.db.query_one("SELECT value FROM network_meta WHERE key = 'nft_table'")
        return str(row["value"]) if row else ""

    def _start_dns(self) -> None:
        from berth.network.dns import DnsServer

        upstreams = self._dns_upstreams
        if upstreams is None:
            conf = files.parse_resolv_conf(self.host.read_file(self.resolv_conf_path))
            upstreams = [(s, 53) for s in conf.nameservers if ":" not in s]
        self.dns = DnsServer(self._lookup, upstreams)
        self.dns.start()
        rows = self.db.query("SELECT container_id, netns FROM sandboxes WHERE dns = 1")
        for row in rows:
            if row["netns"] and os.path.exists(row["netns"]):
                try:
                    inside = self.host.open_netns(row["netns"], dns=True)
                except Exception:
                    continue
                self._serve_dns(row["container_id"], inside)
                inside.close()

    def _serve_dns(self, container_id: str, inside: Inside) -> None:
        socks = inside.take_dns()
        if socks is not None:
            if self.dns is not None:
                self.dns.add(container_id, *socks)
            else:
                for s in socks:
                    s.close()

    # -- rules ------------------------------------------------------------------
    def _rules(self) -> tuple[list[nftplan.NetRule], list[nftplan.PortRule]]:
        nets = [
            nftplan.NetRule(r["bridge"], r["subnet"], bool(r["internal"]))
            for r in self.db.query("SELECT bridge, subnet, internal FROM networks ORDER BY bridge")
        ]
        ports = [
            nftplan.PortRule(
                r["proto"], r["host_ip"], r["host_port"], r["container_ip"], r["container_port"]
            )
            for r in self.db.query("SELECT * FROM ports")
        ]
        return nets, ports

    def apply_rules(self) -> None:
        """Rewrite berth's nft table from the database, atomically."""
        nets, ports = self._rules()
        self.host.nft(nftplan.ruleset(self.table, nets, ports), f"table ip {self.table}")

    # -- containers -------------------------------------------------------------
    def netns_path(self, container_id: str) -> str:
        return os.path.join(self.netns_dir, container_id)

    def setup(self, req: SandboxRequest, *, defer: bool = False) -> Sandbox:
        """Give a container its network (see :class:`SandboxRequest`).

        Everything taken is released again when a step fails.

        ``defer``: on a bridge network, what only the kernel needs before the
        container's program runs -- plugging the veth (its address and routes),
        the published ports' rules, the embedded DNS -- is left to the returned
        sandbox's ``finish``. Its namespace, address and files are ready on
        return, so the runtime can create the container meanwhile (the engine
        runs ``finish`` while its monitor does: ~1.3 ms of a start here). When
        ``finish`` raises, :meth:`release` the container's network.
        """
        from contextlib import ExitStack

        mode = req.network
        host_conf_text = self.host.read_file(self.resolv_conf_path)
        host_conf = files.parse_resolv_conf(host_conf_text)
        if mode.startswith("container:"):
            return self._join_other(req, mode.partition(":")[2])
        if mode == "host":
            self._insert_sandbox(req, "host", "", False)
            return Sandbox(
                req.container_id,
                netns=None,
                hosts=self.host.read_file("/etc/hosts") or files.hosts_file(req.hostname, []),
                resolv_conf=files.resolv_conf(
                    host_conf,
                    mode="host",
                    dns=req.dns or self.default_dns,
                    dns_search=req.dns_search or self.default_dns_search,
                    dns_options=req.dns_options or self.default_dns_options,
                    host_text=host_conf_text,
                ),
                hostname=files.hostname_file(req.hostname),
                settings=self._settings(req.container_id, "host"),
                warnings=["Published ports are discarded when using host network mode"]
                if req.ports
                else [],
            )
        path = self.netns_path(req.container_id)
        extra = [files.parse_add_host(h, self._default_gateway()) for h in req.extra_hosts]
        if mode == "none":
            with ExitStack() as undo:
                self._insert_sandbox(req, "none", path, False)
                undo.callback(self._delete_sandbox, req.container_id)
                self.host.create_netns(path, dns=False).close()
                undo.pop_all()
            return Sandbox(
                req.container_id,
                netns=path,
                hosts=files.hosts_file(
                    req.hostname, [], domainname=req.domainname, extra_hosts=extra
                ),
                resolv_conf=self._resolv(req, host_conf, "bridge"),
                hostname=files.hostname_file(req.hostname),
                settings=self._settings(req.container_id, "none"),
            )
        net = self._network_row(mode)
        user = not net["is_default"]
        dns = user and self._embedded_dns
        with ExitStack() as undo:
            self._insert_sandbox(req, net["name"], path, dns)
            undo.callback(self._delete_sandbox, req.container_id)
            inside = self.host.create_netns(path, dns=dns)
            undo.callback(self.host.remove_netns, path)
            undo.callback(inside.close)
            address, plug = self._allocate(req, net, inside, "eth0", default_route=True)
            rules = self._reserve_ports(req, address, undo) if req.ports else []

            def finish() -> None:
                self._unfinished.pop(req.container_id, None)
                try:
                    plug()
                    if rules:
                        self.host.nft(
                            nftplan.add_ports(self.table, rules),
                            f"publish ports of {req.container_id[:12]}",
                        )
                    self._names = None
                    self._serve_dns(req.container_id, inside)
                finally:
                    inside.close()

            if not defer:
                finish()
            undo.pop_all()
        sb = Sandbox(
            req.container_id,
            netns=path,
            hosts=files.hosts_file(
                req.hostname, [address], domainname=req.domainname, extra_hosts=extra
            ),
            resolv_conf=self._resolv(req, host_conf, "user" if user else "bridge"),
            hostname=files.hostname_file(req.hostname),
            settings=self._settings(req.container_id, net["name"]),
        )
        if defer:
            self._unfinished[req.container_id] = inside  # (closed by release, if need be)
            sb.finish = finish
        return sb

    def _resolv(self, req: SandboxRequest, host_conf: files.ResolvConf, mode: str) -> str:
        return files.resolv_conf(
            host_conf,
            mode=mode,
            dns=req.dns or self.default_dns,
            dns_search=req.dns_search or self.default_dns_search,
            dns_options=req.dns_options or self.default_dns_options,
        )

    def _default_gateway(self) -> str:
        row = self.db.query_one("SELECT gateway FROM networks WHERE is_default = 1")
        return row["gateway"] if row else ""

    def _join_other(self, req: SandboxRequest, other: str) -> Sandbox:
        row = self.db.query_one("SELECT * FROM sandboxes WHERE container_id = ?", other)
        if row is None:
            raise NotFound(f"cannot join network of container {other}: it has no network")
        if row["mode"].startswith("container:"):
            return self._join_other(req, row["mode"].partition(":")[2])
        self._insert_sandbox(req, f"container:{other}", "", False)
        return Sandbox(
            req.container_id,
            netns=row["netns"] or None,
            hosts=None,
            resolv_conf=None,
            hostname=None,
            settings=self._settings(req.container_id, f"container:{other}"),
            files_from=other,
        )

    def _insert_sandbox(self, req: SandboxRequest, mode: str, path: str, dns: bool) -> None:
        try:
            self.db.execute(
                "INSERT INTO sandboxes (container_id, name, hostname, mode, netns, dns)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                req.container_id,
                req.name,
                req.hostname,
                mode,
                path,
                int(dns),
            )
        except Exception as e:
            if "UNIQUE" in str(e):
                raise Conflict(f"container {req.container_id} already has a network") from None
            raise

    def _delete_sandbox(self, container_id: str) -> None:
        self.db.execute("DELETE FROM sandboxes WHERE container_id = ?", container_id)
        self._names = None

    def _allocate(
        self,
        req_or_id: SandboxRequest | str,
        net: Any,
        inside: Inside,
        ifname: str,
        *,
        default_route: bool,
        aliases: tuple[str, ...] = (),
        ip: str | None = None,
        mac: str | None = None,
    ) -> tuple[str, Callable[[], None]]:
        """Allocate an address on ``net`` (the endpoint is recorded): (the address,
        the function that plugs the veth into the container -- the endpoint is
        deleted again when that fails)."""
        if isinstance(req_or_id, SandboxRequest):
            cid, aliases, ip, mac = (
                req_or_id.container_id,
                req_or_id.aliases,
                req_or_id.ip,
                req_or_id.mac,
            )
        else:
            cid = req_or_id
        if aliases and net["is_default"]:
            raise InvalidArgument(
                "network-scoped aliases are only supported for user-defined networks"
            )
        if ip and net["is_default"]:
            raise InvalidArgument(
                "user specified IP address is supported on user defined networks only"
            )
        subnet = ipam.Subnet.parse(net["subnet"])
        doc = jsonio.loads(net["doc"])
        cfg = (doc.get("IPAM", {}).get("Config") or [{}])[0]
        rng = ipam.Subnet.parse(cfg["IPRange"]) if cfg.get("IPRange") else None
        pool = ipam.Pool(subnet, ipam.ip_to_int(net["gateway"]), rng)
        ep_id = new_id()
        host_ifname = f"bv{ep_id[:12]}"
        with self.db.transaction() as tx:
            taken = {
                ipam.ip_to_int(r["address"])
                for r in tx.query(
                    "SELECT address FROM endpoints WHERE network_id = ?", (net["id"],)
                )
            }
            address = pool.allocate(taken, ipam.ip_to_int(ip) if ip else None)
            mac_addr = mac or ipam.mac_for(address)
            tx.execute(
                "INSERT INTO endpoints (id, network_id, container_id, ifname, host_ifname,"
                " address, prefixlen, mac, aliases) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    ep_id,
                    net["id"],
                    cid,
                    ifname,
                    host_ifname,
                    ipam.int_to_ip(address),
                    subnet.prefixlen,
                    mac_addr,
                    jsonio.dumps(list(aliases)),
                ),
            )
        text = ipam.int_to_ip(address)

        def plug() -> None:
            self.host.plug(
                inside,
                bridge=net["bridge"],
                host_ifname=host_ifname,
                ifname=ifname,
                address=text,
                prefixlen=subnet.prefixlen,
                gateway=None if (net["internal"] or not default_route) else net["gateway"],
                mac=mac_addr,
                mtu=self._mtu(net),
            )

        def plug_in() -> None:
            try:
                try:
                    plug()
                except KernelError as e:
                    if e.errno != ENODEV or self.host.link_index(net["bridge"]) is not None:
                        raise
                    # someone deleted the bridge under us: make it (and the rules) again
                    self.host.ensure_bridge(
                        net["bridge"], net["gateway"], _plen(net), self._mtu(net)
                    )
                    self.apply_rules()
                    plug()
            except BaseException:
                self.db.execute("DELETE FROM endpoints WHERE id = ?", ep_id)
                raise

        return text, plug_in

    def _mtu(self, net: Any) -> int:
        opts = jsonio.loads(net["doc"]).get("Options") or {}
        value = opts.get(MTU_OPT, "")
        return int(value) if str(value).isdigit() else self.mtu

    def _reserve_ports(
        self, req: SandboxRequest, address: str, undo: Any
    ) -> list[nftplan.PortRule]:
        """Pick and record the host ports of ``req`` (their rules are added later)."""
        socks = self.host.listening()
        low, high = self.host.local_port_range()
        rules: list[nftplan.PortRule] = []
        with self._lock, self.db.transaction() as tx:
            for m in req.ports:
                if ":" in m.host_ip:
                    raise InvalidArgument(
                        f"publishing on the IPv6 address {m.host_ip} is not supported yet"
                    )
                port = self._pick_port(tx, socks, m, low, high)
                tx.execute(
                    "INSERT INTO ports (container_id, proto, host_ip, host_port, container_ip,"
                    " container_port) VALUES (?, ?, ?, ?, ?, ?)",
                    (req.container_id, m.proto, m.host_ip, port, address, m.container_port),
                )
                rules.append(nftplan.PortRule(m.proto, m.host_ip, port, address, m.container_port))
        undo.callback(self._unpublish, req.container_id, rules)
        return rules

    def _pick_port(
        self, tx: Tx, socks: dict[str, dict[int, list[str]]], m: PortMapping, low: int, high: int
    ) -> int:
        from berth.network.hostinfo import conflict

        def taken(port: int) -> str:
            rows = tx.query(
                "SELECT container_id, host_ip FROM ports WHERE proto = ? AND host_port = ?"
                " AND (host_ip = ? OR host_ip = '' OR ? = '')",
                (m.proto, port, m.host_ip, m.host_ip),
            )
            if rows:
                return f"port is already allocated (published by container {rows[0][0][:12]})"
            hit = conflict(socks, m.proto, m.host_ip, port)
            if hit:
                return f"address already in use (a host process listens on {hit[0]}:{hit[1]})"
            return ""

        where = m.host_ip or "0.0.0.0"
        if m.host_port:
            last_reason = ""
            for port in range(m.host_port, m.host_port_end + 1):
                last_reason = taken(port)
                if not last_reason:
                    return port
            span = f"{m.host_port}" + (
                f"-{m.host_port_end}" if m.host_port_end > m.host_port else ""
            )
            raise Conflict(
                f"Bind for {where}:{span} failed: {last_reason}; choose another host port"
            )
        start = low + int.from_bytes(os.urandom(2), "big") % (high - low + 1)
        for i in range(high - low + 1):
            port = low + (start - low + i) % (high - low + 1)
            if not taken(port):
                return port
        raise Conflict(f"no free host port left in {low}-{high} for {m.key}")

    def _unpublish(self, container_id: str, rules: list[nftplan.PortRule]) -> None:
        self.db.execute("DELETE FROM ports WHERE container_id = ?", container_id)
        if not rules:
            return
        try:
            self.host.nft(nftplan.delete_ports(self.table, rules), "unpublish ports")
        except Exception:
            self.apply_rules()  # some element was already gone: rebuild from the database

    def release(self, container_id: str) -> None:
        """Release everything a container's network holds; safe to call twice, and
        after its processes are gone.

        Ports, DNS entries, addresses and the netns file are gone on return;
        the veths go with the netns, asynchronously (:meth:`settle` waits).
        """
        with self._lock:
            unfinished = self._unfinished.pop(container_id, None)
            if unfinished is not None:  # a deferred setup whose finish never ran
                unfinished.close()
            sb = self.db.query_one("SELECT * FROM sandboxes WHERE container_id = ?", container_id)
            if self.dns is not None:
                self.dns.remove(container_id)
            rules = [
                nftplan.PortRule(
                    r["proto"], r["host_ip"], r["host_port"], r["container_ip"], r["container_port"]
                )
                for r in self.db.query("SELECT * FROM ports WHERE container_id = ?", container_id)
            ]
            self._unpublish(container_id, rules)
            path = sb["netns"] if sb is not None and sb["netns"] else self.netns_path(container_id)
            if path.startswith(self.netns_dir + "/"):
                self.host.remove_netns(path)
            veths = self.db.query(
                "SELECT host_ifname FROM endpoints WHERE container_id = ?", container_id
            )
            self.host.delete_links_later([ep["host_ifname"] for ep in veths])
            self.db.execute("DELETE FROM endpoints WHERE container_id = ?", container_id)
            self._delete_sandbox(container_id)

    def has_sandbox(self, container_id: str) -> bool:
        """True while the container holds a network (from :meth:`setup` to :meth:`release`)."""
        row = self.db.query_one("SELECT 1 FROM sandboxes WHERE container_id = ?", container_id)
        return row is not None

    def reconcile(self, live: set[str], apply_rules: bool = True) -> list[str]:
        """Remove the networking of every container not in ``live``; return their ids."""
        gone = [
            r["container_id"]
            for r in self.db.query("SELECT container_id FROM sandboxes")
            if r["container_id"] not in live
        ]
        for cid in gone:
            self.release(cid)
        try:
            names = os.listdir(self.netns_dir)
        except FileNotFoundError:
            names = []
        for name in names:
            if name not in live:
                self.host.remove_netns(os.path.join(self.netns_dir, name))
                gone.append(name)
        known = {r["host_ifname"] for r in self.db.query("SELECT host_ifname FROM endpoints")}
        bridges = {r["bridge"] for r in self.db.query("SELECT bridge FROM networks")}
        links = self.host.link_names()
        bridge_index = {self.host.link_index(b) for b in bridges} - {None}
        for name, master in links.items():
            if name.startswith("bv") and name not in known and master in bridge_index:
                self.host.delete_link(name)
        if apply_rules:
            self.apply_rules()
        self._names = None
        return sorted(set(gone))

    # -- connect / disconnect ---------------------------------------------------
    def connect(
        self,
        container_id: str,
        network: str,
        *,
        aliases: tuple[str, ...] | list[str] = (),
        ip: str | None = None,
    ) -> dict[str, Any]:
        """``docker network connect``: one more interface (eth1, ...) in the container."""
        with self._lock:
            sb = self.db.query_one("SELECT * FROM sandboxes WHERE container_id = ?", container_id)
            if sb is None or not sb["netns"] or sb["mode"] in ("none", "host"):
                raise Conflict(
                    f"container {container_id[:12]} cannot be connected to a network: its "
                    f"network mode is {sb['mode'] if sb else 'unknown'}"
                )
            net = self._network_row(network)
            eps = self.db.query(
                "SELECT network_id, ifname FROM endpoints WHERE container_id = ?", container_id
            )
            if any(e["network_id"] == net["id"] for e in eps):
                raise Conflict(
                    f"endpoint with name {sb['name']} already exists in network {net['name']}"
                )
            used = {e["ifname"] for e in eps}
            ifname = next(f"eth{i}" for i in range(len(used) + 1) if f"eth{i}" not in used)
            want_dns = self._embedded_dns and not net["is_default"] and not sb["dns"]
            inside = self.host.open_netns(sb["netns"], dns=want_dns)
            try:
                _, plug = self._allocate(
                    container_id,
                    net,
                    inside,
                    ifname,
                    default_route=not eps,
                    aliases=tuple(aliases),
                    ip=ip,
                )
                plug()
                if want_dns:
                    self.db.execute(
                        "UPDATE sandboxes SET dns = 1 WHERE container_id = ?", container_id
                    )
                    self._serve_dns(container_id, inside)
            finally:
                inside.close()
            self._names = None
            endpoint: dict[str, Any] = self._settings(container_id, sb["mode"])["Networks"][
                net["name"]
            ]
            return endpoint

    def disconnect(self, container_id: str, network: str, force: bool = False) -> None:
        with self._lock:
            net = self._network_row(network)
            ep = self.db.query_one(
                "SELECT * FROM endpoints WHERE container_id = ? AND network_id = ?",
                container_id,
                net["id"],
            )
            if ep is None:
                if force:
                    return
                raise NotFound(
                    f"container {container_id[:12]} is not connected to network {net['name']}"
                )
            rules = [
                nftplan.PortRule(
                    r["proto"], r["host_ip"], r["host_port"], r["container_ip"], r["container_port"]
                )
                for r in self.db.query(
                    "SELECT * FROM ports WHERE container_id = ? AND container_ip = ?",
                    container_id,
                    ep["address"],
                )
            ]
            if rules:
                self.db.execute(
                    "DELETE FROM ports WHERE container_id = ? AND container_ip = ?",
                    container_id,
                    ep["address"],
                )
                try:
                    self.host.nft(nftplan.delete_ports(self.table, rules), "unpublish ports")
                except Exception:
                    self.apply_rules()
            self.host.delete_link(ep["host_ifname"])
            self.db.execute("DELETE FROM endpoints WHERE id = ?", ep["id"])
            self._names = None

    # -- the embedded DNS's view ------------------------------------------------
    def _lookup(self, container_id: str, name: str) -> list[str] | None:
        """The addresses ``name`` has for ``container_id``: None when it is not a
        container (or alias, or short id) on one of its user-defined networks."""
        with self._lock:
            if self._names is None:
                self._names = self._build_names()
            names = self._names
            nets = self._nets_of.get(container_id, ())
        found: list[str] = []
        for net in nets:
            for ip in names.get(net, {}).get(name, ()):
                if ip not in found:
                    found.append(ip)
        return found or None

    def _build_names(self) -> dict[str, dict[str, list[str]]]:
        out: dict[str, dict[str, list[str]]] = {}
        nets_of: dict[str, list[str]] = {}
        for r in self.db.query(
            "SELECT e.network_id, e.container_id, e.address, e.aliases, s.name,"
            " n.name AS nname FROM endpoints e"
            " JOIN sandboxes s ON s.container_id = e.container_id JOIN networks n"
            " ON n.id = e.network_id WHERE n.is_default = 0"
        ):
            table = out.setdefault(r["network_id"], {})
            nets_of.setdefault(r["container_id"], []).append(r["network_id"])
            suffix = "." + str(r["nname"]).lower()
            for n in (r["name"], r["container_id"][:12], *jsonio.loads(r["aliases"])):
                if n:
                    # "web" and, as Docker's resolver answers too, "web.<network>"
                    for key in (n.lower(), n.lower() + suffix):
                        ips = table.setdefault(key, [])
                        if r["address"] not in ips:
                            ips.append(r["address"])
        self._nets_of = nets_of
        return out


def _plen(row: Any) -> int:
    return int(str(row["subnet"]).rpartition("/")[2])
