"""berth's NAT and filter rules as nft script text: the plan, before anything is applied.

Everything lives in one table berth owns (``table ip berth`` by default), so
removing berth's rules is one atomic ``delete table``, and berth never edits
another table (docker's iptables-nft rules may sit beside it)::

    set bridges          ifname      every berth bridge
    set masq_subnets     ipv4 ranges subnets of non-internal networks
    map pub_any          proto . port            : container ip . port   (-p PORT:PORT)
    map pub_addr         host ip . proto . port  : container ip . port   (-p IP:PORT:PORT)

    prerouting  (nat, dstnat)   traffic from elsewhere to a local address: jump published
    output      (nat, -100)     the host's own traffic (127.0.0.1, 192.0.2.2, ...): same
    published   (regular)       DNAT by the maps (one fib lookup per new connection)
    postrouting (nat, srcnat)   masquerade: 127/8 into a bridge (needs route_localnet),
                                DNAT'ed container traffic back into a bridge (hairpin),
                                berth subnets leaving by a non-berth interface (outbound)
    forward     (filter)        packets of established connections: accepted at once
                                (the checks below run once per connection, not per
                                packet); --internal bridges: nothing in or out but their
                                own; other bridges: no traffic between two networks
                                unless DNAT'ed to a published port

NAT chains see only the first packet of a connection (conntrack applies the
binding to the rest), so a published port costs a fib lookup and two map
lookups per connection, and nothing per packet but the address rewrite.

A network change rewrites the table in one transaction (:func:`ruleset`:
create-if-missing, delete, re-create with every element); a container's
ports are element adds and deletes (:func:`add_ports`, :func:`delete_ports`).
"""

from __future__ import annotations

SCHEMA = 2  # the layout above; bump when the table's shape changes (2: published, established)


class NetRule:
    """A network as the rules see it."""

    __slots__ = ("bridge", "internal", "subnet")

    def __init__(self, bridge: str, subnet: str, internal: bool = False) -> None:
        self.bridge = bridge
        self.subnet = subnet
        self.internal = internal


class PortRule:
    """One published port: host side -> container side (``host_ip`` "" = every address)."""

    __slots__ = ("container_ip", "container_port", "host_ip", "host_port", "proto")

    def __init__(
        self, proto: str, host_ip: str, host_port: int, container_ip: str, container_port: int
    ) -> None:
        self.proto = proto
        self.host_ip = host_ip
        self.host_port = host_port
        self.container_ip = container_ip
        self.container_port = container_port

    def key(self) -> str:
        head = f"{self.host_ip} . " if self.host_ip else ""
        return f"{head}{self.proto} . {self.host_port}"

    def element(self) -> str:
        return f"{self.key()} : {self.container_ip} . {self.container_port}"

    @property
    def map(self) -> str:
        return "pub_addr" if self.host_ip else "pub_any"

    def __repr__(self) -> str:
        return f"PortRule({self.element()})"


def _quote(name: str) -> str:
    if not name or any(ch in name for ch in '"\\\n '):
        raise ValueError(f"bad interface name {name!r}")
    return f'"{name}"'


def _elements(items: list[str]) -> str:
    return f"\t\telements = {{ {', '.join(items)} }}\n" if items else ""


_TO_PUBLISHED = "\t\tfib daddr type local jump published\n"


def ruleset(table: str, networks: list[NetRule], ports: list[PortRule]) -> str:
    """The whole table, replacing what was there, as one transaction."""
    bridges = [_quote(n.bridge) for n in networks]
    masq = [n.subnet for n in networks if not n.internal]
    any_ports = [p.element() for p in ports if not p.host_ip]
    addr_ports = [p.element() for p in ports if p.host_ip]
    forward: list[str] = ["\t\tct state established,related accept\n"]
    for n in networks:
        b = _quote(n.bridge)
        if n.internal:
            forward.append(f"\t\tiifname {b} oifname != {b} drop\n")
            forward.append(f"\t\toifname {b} iifname != {b} drop\n")
    forward.append("\t\tct status dnat accept\n")
    for n in networks:
        if not n.internal:
            b = _quote(n.bridge)
            forward.append(f"\t\tiifname {b} oifname @bridges oifname != {b} drop\n")
    return (
        f"table ip {table} {{}}\n"
        f"delete table ip {table}\n"
        f"table ip {table} {{\n"
        f"\tset bridges {{\n\t\ttype ifname\n{_elements(bridges)}\t}}\n"
        f"\tset masq_subnets {{\n\t\ttype ipv4_addr\n\t\tflags interval\n{_elements(masq)}\t}}\n"
        "\tmap pub_any {\n\t\ttype inet_proto . inet_service : ipv4_addr . inet_service\n"
        f"{_elements(any_ports)}\t}}\n"
        "\tmap pub_addr {\n"
        "\t\ttype ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service\n"
        f"{_elements(addr_ports)}\t}}\n"
        "\tchain published {\n"
        "\t\tdnat ip to ip daddr . meta l4proto . th dport map @pub_addr\n"
        "\t\tdnat ip to meta l4proto . th dport map @pub_any\n"
        "\t}\n"
        "\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n"
        f"{_TO_PUBLISHED}\t}}\n"
        "\tchain output {\n\t\ttype nat hook output priority -100; policy accept;\n"
        f"{_TO_PUBLISHED}\t}}\n"
        "\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
        "\t\tip saddr 127.0.0.0/8 oifname @bridges masquerade\n"
        "\t\tct status dnat ip saddr @masq_subnets oifname @bridges masquerade\n"
        "\t\tip saddr @masq_subnets oifname != @bridges masquerade\n"
        "\t}\n"
        "\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n"
        f"{''.join(forward)}\t}}\n"
        "}\n"
    )


def delete_table(table: str) -> str:
    """Remove the table if it is there (never fails when it is not)."""
    return f"table ip {table} {{}}\ndelete table ip {table}\n"


def add_ports(table: str, ports: list[PortRule]) -> str:
    return _port_cmds("add", table, ports, with_value=True)


def delete_ports(table: str, ports: list[PortRule]) -> str:
    return _port_cmds("delete", table, ports, with_value=False)


def _port_cmds(verb: str, table: str, ports: list[PortRule], *, with_value: bool) -> str:
    out = []
    for name in ("pub_any", "pub_addr"):
        items = [p.element() if with_value else p.key() for p in ports if p.map == name]
        if items:
            out.append(f"{verb} element ip {table} {name} {{ {', '.join(items)} }}\n")
    return "".join(out)
