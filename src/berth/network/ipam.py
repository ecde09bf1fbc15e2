"""IPv4 address management: subnets, gateways, free addresses, default pools.

Pure logic over integers; the store (:mod:`berth.network.store`) keeps which
addresses are taken and calls these functions inside a transaction, so two
containers never get the same address.

Vocabulary:

- a **subnet** is ``(network, prefixlen)`` with ``network`` an int whose host
  bits are zero; its first address (the network) and last (broadcast) are
  never handed out (except in /31 and /32, which have no such addresses);
- the **gateway** is the bridge's own address, by default the first host;
- an **ip range** (``--ip-range``) narrows where container addresses come from.
"""

from __future__ import annotations

from berth.errors import Conflict, InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Container, Iterable


def ip_to_int(text: str) -> int:
    parts = text.split(".")
    if len(parts) != 4 or not all(p.isdigit() and 0 < len(p) <= 3 for p in parts):
        raise InvalidArgument(f"invalid IP address: {text!r} is not an IPv4 address")
    value = 0
    for p in parts:
        n = int(p)
        if n > 255:
            raise InvalidArgument(f"invalid IP address: {text!r} is not an IPv4 address")
        value = value << 8 | n
    return value


def int_to_ip(value: int) -> str:
    return f"{value >> 24 & 255}.{value >> 16 & 255}.{value >> 8 & 255}.{value & 255}"


class Subnet:
    """An IPv4 subnet; ``str(s)`` is its CIDR text."""

    __slots__ = ("network", "prefixlen")

    def __init__(self, network: int, prefixlen: int) -> None:
        if not 0 <= prefixlen <= 32:
            raise InvalidArgument(f"invalid prefix length /{prefixlen}")
        self.prefixlen = prefixlen
        self.network = network & self.mask

    @classmethod
    def parse(cls, text: str, *, strict: bool = False) -> Subnet:
        """``"172.18.0.0/16"`` -> Subnet. ``strict`` refuses host bits (as ``--subnet`` does)."""
        addr, sep, plen = text.partition("/")
        if not sep or not plen.isdigit() or int(plen) > 32:
            raise InvalidArgument(f"invalid CIDR address: {text}")
        try:
            value = ip_to_int(addr)
        except InvalidArgument:
            raise InvalidArgument(f"invalid CIDR address: {text}") from None
        subnet = cls(value, int(plen))
        if strict and subnet.network != value:
            raise InvalidArgument(
                f"invalid subnet {text}: it has host bits set; did you mean {subnet}?"
            )
        return subnet

    @property
    def mask(self) -> int:
        return (0xFFFFFFFF << (32 - self.prefixlen)) & 0xFFFFFFFF

    @property
    def size(self) -> int:
        return 1 << (32 - self.prefixlen)

    @property
    def broadcast(self) -> int:
        return self.network + self.size - 1

    @property
    def first_host(self) -> int:
        return self.network if self.prefixlen >= 31 else self.network + 1

    @property
    def last_host(self) -> int:
        return self.broadcast if self.prefixlen >= 31 else self.broadcast - 1

    def __contains__(self, address: int) -> bool:
        return (address & self.mask) == self.network

    def overlaps(self, other: Subnet) -> bool:
        shorter = min(self.prefixlen, other.prefixlen)
        mask = (0xFFFFFFFF << (32 - shorter)) & 0xFFFFFFFF
        return (self.network & mask) == (other.network & mask)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Subnet) and (self.network, self.prefixlen) == (
            other.network,
            other.prefixlen,
        )

    def __hash__(self) -> int:
        return hash((self.network, self.prefixlen))

    def __str__(self) -> str:
        return f"{int_to_ip(self.network)}/{self.prefixlen}"

    def __repr__(self) -> str:
        return f"Subnet({self})"


class Pool:
    """Where a network's addresses come from: subnet, gateway, optional range."""

    __slots__ = ("gateway", "range", "subnet")

    def __init__(self, subnet: Subnet, gateway: int | None = None, ip_range: Subnet | None = None):
        self.subnet = subnet
        if gateway is None:
            gateway = subnet.first_host
        elif gateway not in subnet:
            raise InvalidArgument(
                f"invalid gateway {int_to_ip(gateway)}: it is not in subnet {subnet}"
            )
        elif subnet.prefixlen < 31 and gateway in (subnet.network, subnet.broadcast):
            raise InvalidArgument(
                f"invalid gateway {int_to_ip(gateway)}: it is the network or broadcast "
                f"address of {subnet}"
            )
        self.gateway = gateway
        if ip_range is not None and not (
            ip_range.network in subnet and ip_range.prefixlen >= subnet.prefixlen
        ):
            raise InvalidArgument(f"invalid ip range {ip_range}: it is not inside {subnet}")
        self.range = ip_range

    def usable(self, address: int) -> bool:
        """True when ``address`` may be given to a container (gateway aside)."""
        s = self.subnet
        return address in s and s.first_host <= address <= s.last_host and address != self.gateway

    def allocate(self, taken: Container[int], preferred: int | None = None) -> int:
        """A free address: ``preferred`` (``--ip``) when given, else the lowest free one.

        Raises InvalidArgument for a ``preferred`` outside the subnet,
        Conflict when it (or every address) is taken.
        """
        if preferred is not None:
            if not self.usable(preferred):
                what = (
                    "the gateway" if preferred == self.gateway else f"not usable in {self.subnet}"
                )
                raise InvalidArgument(f"invalid address {int_to_ip(preferred)}: it is {what}")
            if preferred in taken:
                raise Conflict(
                    f"address {int_to_ip(preferred)} is already in use on this network; "
                    "choose another --ip"
                )
            return preferred
        span = self.range or self.subnet
        start = max(span.network, self.subnet.first_host)  # a range's own edges are usable
        stop = min(span.broadcast, self.subnet.last_host)
        for address in range(start, stop + 1):
            if address != self.gateway and address not in taken:
                return address
        raise Conflict(f"no free address left in {span}; remove containers or use a larger subnet")


def default_candidates() -> Iterable[Subnet]:
    """Docker's default local pools: 172.17-31.0.0/16, then 192.168.0.0/16 in /20s."""
    for second in range(17, 32):
        yield Subnet((172 << 24) | (second << 16), 16)
    for third in range(0, 256, 16):
        yield Subnet((192 << 24) | (168 << 16) | (third << 8), 20)


def pick_subnet(in_use: Iterable[Subnet], candidates: Iterable[Subnet] | None = None) -> Subnet:
    """The first candidate that overlaps nothing in ``in_use`` (host routes, networks)."""
    used = [s for s in in_use if s.prefixlen > 0]  # a default route collides with nothing
    for cand in candidates if candidates is not None else default_candidates():
        if not any(cand.overlaps(u) for u in used):
            return cand
    raise Conflict(
        "could not find a free subnet for the network among the default pools; "
        "pass one with --subnet"
    )


def mac_for(address: int) -> str:
    """Docker's classic MAC for an address: 02:42 followed by its four bytes."""
    raw = address.to_bytes(4, "big")
    return "02:42:" + ":".join(f"{b:02x}" for b in raw)
