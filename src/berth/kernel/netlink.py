"""A small rtnetlink layer over AF_NETLINK sockets: links, addresses, routes, neighbours.

Two halves:

- **the codec** (pure, no kernel): :func:`pack_attrs` / :func:`unpack_attrs`
  turn rtattr lists into bytes and back, :func:`pack_msg` / :func:`unpack_msgs`
  do the same for ``nlmsghdr`` framed messages. Attribute values are ``bytes``
  or, for nested attributes, lists of ``(type, value)`` (packed with
  ``NLA_F_NESTED``). Property tests round-trip them.
- **the socket** (:class:`RtNetlink`): one NETLINK_ROUTE socket. A socket
  stays in the network namespace it was created in, so a socket opened by a
  thread that entered a container's netns (see :mod:`berth.kernel.netns`)
  configures that namespace from any thread. Every request asks for an ACK;
  a negative ACK raises :class:`berth.errors.KernelError` naming the request.

Addresses are dotted IPv4 strings; MAC addresses ``aa:bb:cc:dd:ee:ff``.
It uses the C ``_socket`` module (``socket`` costs ~8 ms of imports).
"""

from __future__ import annotations

import _socket
import os
import struct

from berth.errors import KernelError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    AttrValue = bytes | list[tuple[int, "AttrValue"]]
    Attrs = Sequence[tuple[int, AttrValue]]

AF_UNSPEC = 0
AF_INET = 2
AF_BRIDGE = 7
AF_NETLINK = 16
NETLINK_ROUTE = 0

NLM_F_REQUEST = 0x1
NLM_F_MULTI = 0x2
NLM_F_ACK = 0x4
NLM_F_DUMP = 0x300
NLM_F_REPLACE = 0x100
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLA_F_NESTED = 0x8000
NLA_TYPE_MASK = 0x3FFF

RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK, RTM_SETLINK = 16, 17, 18, 19
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
RTM_NEWROUTE, RTM_DELROUTE, RTM_GETROUTE = 24, 25, 26
RTM_NEWNEIGH, RTM_DELNEIGH, RTM_GETNEIGH = 28, 29, 30

IFF_UP = 0x1
IFLA_ADDRESS = 1
IFLA_IFNAME = 3
IFLA_MTU = 4
IFLA_MASTER = 10
IFLA_PROTINFO = 12
IFLA_LINKINFO = 18
IFLA_NET_NS_FD = 28
IFLA_INFO_KIND = 1
IFLA_INFO_DATA = 2
VETH_INFO_PEER = 1
IFLA_BRPORT_MODE = 4  # hairpin
IFA_ADDRESS = 1
IFA_LOCAL = 2
IFA_BROADCAST = 4
RTA_DST = 1
RTA_OIF = 4
RTA_GATEWAY = 5
RTA_PREFSRC = 7
RTA_TABLE = 15
RT_TABLE_MAIN = 254
RTPROT_BOOT = 3
RTPROT_KERNEL = 2
RT_SCOPE_UNIVERSE = 0
RT_SCOPE_LINK = 253
RTN_UNICAST = 1
NDA_DST = 1
NDA_LLADDR = 2
NUD_PERMANENT = 0x80

_HDR = struct.Struct("=IHHII")  # nlmsghdr: len, type, flags, seq, pid
_ATTR = struct.Struct("=HH")  # rtattr: len, type
IFINFO = struct.Struct("=BxHiII")  # family, type, index, flags, change
IFADDR = struct.Struct("=BBBBi")  # family, prefixlen, flags, scope, index
RTMSG = struct.Struct("=BBBBBBBBI")  # family dst_len src_len tos table proto scope type flags
NDMSG = struct.Struct("=BxxxiHBB")  # family, ifindex, state, flags, type
_U32 = struct.Struct("=I")


# -- codec -------------------------------------------------------------------


def _align(n: int) -> int:
    return (n + 3) & ~3


def pack_attrs(attrs: Attrs) -> bytes:
    """Encode ``(type, value)`` pairs; a list value becomes a nested attribute."""
    out = bytearray()
    for kind, value in attrs:
        if isinstance(value, list):
            payload = pack_attrs(value)
            kind |= NLA_F_NESTED
        else:
            payload = bytes(value)
        length = _ATTR.size + len(payload)
        out += _ATTR.pack(length, kind)
        out += payload
        out += b"\0" * (_align(length) - length)
    return bytes(out)


def unpack_attrs(data: bytes) -> list[tuple[int, bytes]]:
    """Decode a run of attributes into ``(type, raw value)`` (flags masked off).

    Nested values are returned raw: decode them with another call.
    Raises ValueError on a truncated or malformed run.
    """
    out: list[tuple[int, bytes]] = []
    pos, end = 0, len(data)
    while pos + _ATTR.size <= end:
        length, kind = _ATTR.unpack_from(data, pos)
        if length < _ATTR.size or pos + length > end:
            raise ValueError(f"netlink: bad attribute length {length} at offset {pos}")
        out.append((kind & NLA_TYPE_MASK, bytes(data[pos + _ATTR.size : pos + length])))
        pos += _align(length)
    if pos < end and any(data[pos:end]):
        raise ValueError(f"netlink: {end - pos} trailing bytes after attributes")
    return out


def attr_dict(data: bytes) -> dict[int, bytes]:
    """The attributes of ``data`` by type (the last one wins)."""
    return dict(unpack_attrs(data))


class Message:
    """One decoded netlink message: header fields and the raw body."""

    __slots__ = ("body", "flags", "pid", "seq", "type")

    def __init__(self, type: int, flags: int, seq: int, pid: int, body: bytes) -> None:
        self.type = type
        self.flags = flags
        self.seq = seq
        self.pid = pid
        self.body = body

    def __repr__(self) -> str:
        return f"Message(type={self.type}, flags={self.flags:#x}, seq={self.seq}, {self.body!r})"


def pack_msg(type: int, flags: int, seq: int, fixed: bytes, attrs: Attrs = ()) -> bytes:
    """One message: ``nlmsghdr`` + fixed header (ifinfomsg, ...) + attributes."""
    body = fixed + b"\0" * (_align(len(fixed)) - len(fixed)) + pack_attrs(attrs)
    return _HDR.pack(_HDR.size + len(body), type, flags, seq, 0) + body


def unpack_msgs(data: bytes) -> list[Message]:
    """Split a datagram into messages. Raises ValueError when it is malformed."""
    out: list[Message] = []
    pos, end = 0, len(data)
    while pos + _HDR.size <= end:
        length, kind, flags, seq, pid = _HDR.unpack_from(data, pos)
        if length < _HDR.size or pos + length > end:
            raise ValueError(f"netlink: bad message length {length} at offset {pos}")
        out.append(Message(kind, flags, seq, pid, bytes(data[pos + _HDR.size : pos + length])))
        pos += _align(length)
    return out


def ip4(text: str) -> bytes:
    """``"10.0.0.1"`` -> 4 bytes (ValueError when it is not a dotted quad)."""
    parts = text.split(".")
    if len(parts) != 4 or not all(p.isdigit() and len(p) <= 3 for p in parts):
        raise ValueError(f"not an IPv4 address: {text!r}")
    values = [int(p) for p in parts]
    if any(v > 255 for v in values):
        raise ValueError(f"not an IPv4 address: {text!r}")
    return bytes(values)


def ip4_text(raw: bytes) -> str:
    return ".".join(str(b) for b in raw[:4])


def mac(text: str) -> bytes:
    raw = bytes.fromhex(text.replace(":", ""))
    if len(raw) != 6:
        raise ValueError(f"not a MAC address: {text!r}")
    return raw


def mac_text(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def _cstr(text: str) -> bytes:
    return text.encode() + b"\0"


def _str(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode(errors="replace")


# -- records returned by dumps -------------------------------------------------


class Link:
    __slots__ = ("address", "flags", "index", "kind", "master", "mtu", "name")

    def __init__(
        self, index: int, name: str, flags: int, mtu: int, master: int, kind: str, address: str
    ) -> None:
        self.index = index
        self.name = name
        self.flags = flags
        self.mtu = mtu
        self.master = master
        self.kind = kind
        self.address = address

    @property
    def up(self) -> bool:
        return bool(self.flags & IFF_UP)

    def __repr__(self) -> str:
        return f"Link({self.index}, {self.name!r}, kind={self.kind!r}, mtu={self.mtu})"


def parse_link(body: bytes) -> Link:
    _family, _type, index, flags, _change = IFINFO.unpack_from(body)
    attrs = attr_dict(body[IFINFO.size :])
    kind = ""
    if IFLA_LINKINFO in attrs:
        info = attr_dict(attrs[IFLA_LINKINFO])
        kind = _str(info.get(IFLA_INFO_KIND, b""))
    return Link(
        index,
        _str(attrs.get(IFLA_IFNAME, b"")),
        flags,
        _U32.unpack(attrs[IFLA_MTU])[0] if IFLA_MTU in attrs else 0,
        _U32.unpack(attrs[IFLA_MASTER])[0] if IFLA_MASTER in attrs else 0,
        kind,
        mac_text(attrs[IFLA_ADDRESS]) if IFLA_ADDRESS in attrs else "",
    )


class Address:
    __slots__ = ("address", "index", "prefixlen")

    def __init__(self, index: int, address: str, prefixlen: int) -> None:
        self.index = index
        self.address = address
        self.prefixlen = prefixlen

    def __repr__(self) -> str:
        return f"Address({self.index}, {self.address}/{self.prefixlen})"


def parse_address(body: bytes) -> Address | None:
    family, prefixlen, _flags, _scope, index = IFADDR.unpack_from(body)
    if family != AF_INET:
        return None
    attrs = attr_dict(body[IFADDR.size :])
    raw = attrs.get(IFA_LOCAL) or attrs.get(IFA_ADDRESS)
    return Address(index, ip4_text(raw), prefixlen) if raw else None


class Route:
    __slots__ = ("dst", "dst_len", "gateway", "oif", "table")

    def __init__(self, dst: str, dst_len: int, gateway: str, oif: int, table: int) -> None:
        self.dst = dst
        self.dst_len = dst_len
        self.gateway = gateway
        self.oif = oif
        self.table = table

    def __repr__(self) -> str:
        via = f" via {self.gateway}" if self.gateway else ""
        return f"Route({self.dst}/{self.dst_len}{via} oif {self.oif} table {self.table})"


def parse_route(body: bytes) -> Route | None:
    family, dst_len, _src, _tos, table, _proto, _scope, _type, _flags = RTMSG.unpack_from(body)
    if family != AF_INET:
        return None
    attrs = attr_dict(body[RTMSG.size :])
    if RTA_TABLE in attrs:
        table = _U32.unpack(attrs[RTA_TABLE])[0]
    return Route(
        ip4_text(attrs[RTA_DST]) if RTA_DST in attrs else "0.0.0.0",
        dst_len,
        ip4_text(attrs[RTA_GATEWAY]) if RTA_GATEWAY in attrs else "",
        _U32.unpack(attrs[RTA_OIF])[0] if RTA_OIF in attrs else 0,
        table,
    )


# -- the socket ------------------------------------------------------------------


class RtNetlink:
    """One NETLINK_ROUTE socket (in the netns it was opened in). Not thread-safe."""

    def __init__(self) -> None:
        self._sock = _socket.socket(AF_NETLINK, _socket.SOCK_RAW | _socket.SOCK_CLOEXEC, 0)
        self._sock.bind((0, 0))
        self._seq = 0

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> RtNetlink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fileno(self) -> int:
        return int(self._sock.fileno())

    # -- transport --------------------------------------------------------------
    def _send(self, type: int, flags: int, fixed: bytes, attrs: Attrs) -> int:
        self._seq = (self._seq + 1) & 0xFFFFFFFF
        self._sock.send(pack_msg(type, flags | NLM_F_REQUEST, self._seq, fixed, attrs))
        return self._seq

    def _replies(self, seq: int, what: str) -> Iterator[Message]:
        while True:
            data = self._sock.recv(1 << 16)
            for msg in unpack_msgs(data):
                if msg.seq != seq:
                    continue
                if msg.type == NLMSG_DONE:
                    return
                if msg.type == NLMSG_ERROR:
                    err = -struct.unpack_from("=i", msg.body)[0]
                    if err:
                        op, _, target = what.partition(" ")
                        raise KernelError(f"netlink {op}", target, err)
                    return
                yield msg

    def request(
        self, type: int, fixed: bytes, attrs: Attrs = (), flags: int = 0, *, what: str
    ) -> None:
        """Send one change and wait for its ACK (raises KernelError on a NACK)."""
        seq = self._send(type, flags | NLM_F_ACK, fixed, attrs)
        for _ in self._replies(seq, what):
            pass

    def dump(self, type: int, fixed: bytes, attrs: Attrs = (), *, what: str) -> list[Message]:
        seq = self._send(type, NLM_F_DUMP, fixed, attrs)
        return list(self._replies(seq, what))

    def get(self, type: int, fixed: bytes, attrs: Attrs, *, what: str) -> Message:
        seq = self._send(type, NLM_F_ACK, fixed, attrs)
        replies = list(self._replies(seq, what))
        if not replies:
            op, _, target = what.partition(" ")
            raise KernelError(f"netlink {op}", target, 61)  # ENODATA
        return replies[0]

    # -- links ------------------------------------------------------------------
    def links(self) -> list[Link]:
        msgs = self.dump(RTM_GETLINK, IFINFO.pack(AF_UNSPEC, 0, 0, 0, 0), what="dump links")
        return [parse_link(m.body) for m in msgs if m.type == RTM_NEWLINK]

    def link(self, name: str) -> Link:
        """The link called ``name`` (KernelError ENODEV when there is none)."""
        msg = self.get(
            RTM_GETLINK,
            IFINFO.pack(AF_UNSPEC, 0, 0, 0, 0),
            [(IFLA_IFNAME, _cstr(name))],
            what=f"getlink {name}",
        )
        return parse_link(msg.body)

    def index(self, name: str) -> int:
        return self.link(name).index

    def exists(self, name: str) -> bool:
        try:
            self.link(name)
        except KernelError as e:
            if e.errno == 19:  # ENODEV
                return False
            raise
        return True

    def add_bridge(self, name: str, mtu: int | None = None, address: str | None = None) -> None:
        attrs: list[tuple[int, AttrValue]] = [
            (IFLA_IFNAME, _cstr(name)),
            (IFLA_LINKINFO, [(IFLA_INFO_KIND, b"bridge")]),
        ]
        if mtu:
            attrs.append((IFLA_MTU, _U32.pack(mtu)))
        if address:
            attrs.append((IFLA_ADDRESS, mac(address)))
        self.request(
            RTM_NEWLINK,
            IFINFO.pack(AF_UNSPEC, 0, 0, 0, 0),
            attrs,
            NLM_F_CREATE | NLM_F_EXCL,
            what=f"newlink bridge {name}",
        )

    def add_veth(
        self,
        name: str,
        peer: str,
        *,
        peer_netns_fd: int | None = None,
        mtu: int | None = None,
        peer_address: str | None = None,
        master: int | None = None,
        up: bool = False,
    ) -> None:
        """A veth pair ``name`` <-> ``peer``; the peer may be created in another netns.

        ``up`` creates ``name`` up (the kernel refuses to bring the peer up while
        it creates it: set that one up afterwards).
        """
        flags = IFF_UP if up else 0
        peer_attrs: list[tuple[int, AttrValue]] = [(IFLA_IFNAME, _cstr(peer))]
        attrs: list[tuple[int, AttrValue]] = [(IFLA_IFNAME, _cstr(name))]
        if mtu:
            peer_attrs.append((IFLA_MTU, _U32.pack(mtu)))
            attrs.append((IFLA_MTU, _U32.pack(mtu)))
        if peer_address:
            peer_attrs.append((IFLA_ADDRESS, mac(peer_address)))
        if peer_netns_fd is not None:
            peer_attrs.append((IFLA_NET_NS_FD, _U32.pack(peer_netns_fd)))
        if master:
            attrs.append((IFLA_MASTER, _U32.pack(master)))
        peer_body = IFINFO.pack(AF_UNSPEC, 0, 0, 0, 0) + pack_attrs(peer_attrs)
        attrs.append(
            (
                IFLA_LINKINFO,
                [(IFLA_INFO_KIND, b"veth"), (IFLA_INFO_DATA, [(VETH_INFO_PEER, peer_body)])],
            )
        )
        self.request(
            RTM_NEWLINK,
            IFINFO.pack(AF_UNSPEC, 0, 0, flags, flags),
            attrs,
            NLM_F_CREATE | NLM_F_EXCL,
            what=f"newlink veth {name}",
        )

    def set_link(
        self,
        name_or_index: str | int,
        *,
        up: bool | None = None,
        mtu: int | None = None,
        master: int | None = None,
        netns_fd: int | None = None,
        rename: str | None = None,
        address: str | None = None,
    ) -> None:
        """Change a link: state, MTU, master (0 = none), netns (by fd), name, MAC."""
        index, attrs = self._target(name_or_index)
        flags = change = 0
        if up is not None:
            flags, change = (IFF_UP if up else 0), IFF_UP
        if mtu is not None:
            attrs.append((IFLA_MTU, _U32.pack(mtu)))
        if master is not None:
            attrs.append((IFLA_MASTER, _U32.pack(master)))
        if netns_fd is not None:
            attrs.append((IFLA_NET_NS_FD, _U32.pack(netns_fd)))
        if rename is not None:
            if index == 0:
                raise ValueError("set_link: renaming needs the link's index")
            attrs.append((IFLA_IFNAME, _cstr(rename)))
        if address is not None:
            attrs.append((IFLA_ADDRESS, mac(address)))
        self.request(
            RTM_NEWLINK,
            IFINFO.pack(AF_UNSPEC, 0, index, flags, change),
            attrs,
            what=f"setlink {name_or_index}",
        )

    def set_hairpin(self, index: int, on: bool = True) -> None:
        """Let a bridge port send frames back out where they came in (bridge port flag)."""
        self.request(
            RTM_SETLINK,
            IFINFO.pack(AF_BRIDGE, 0, index, 0, 0),
            [(IFLA_PROTINFO, [(IFLA_BRPORT_MODE, bytes([int(on)]))])],
            what=f"setlink hairpin {index}",
        )

    def delete_link(self, name_or_index: str | int) -> None:
        index, attrs = self._target(name_or_index)
        self.request(
            RTM_DELLINK,
            IFINFO.pack(AF_UNSPEC, 0, index, 0, 0),
            attrs,
            what=f"dellink {name_or_index}",
        )

    @staticmethod
    def _target(name_or_index: str | int) -> tuple[int, list[tuple[int, AttrValue]]]:
        if isinstance(name_or_index, int):
            return name_or_index, []
        return 0, [(IFLA_IFNAME, _cstr(name_or_index))]

    # -- addresses --------------------------------------------------------------
    def add_address(self, index: int, address: str, prefixlen: int) -> None:
        raw = ip4(address)
        attrs: list[tuple[int, AttrValue]] = [(IFA_LOCAL, raw), (IFA_ADDRESS, raw)]
        if prefixlen < 31:
            host = (1 << (32 - prefixlen)) - 1
            bcast = int.from_bytes(raw, "big") | host
            attrs.append((IFA_BROADCAST, bcast.to_bytes(4, "big")))
        self.request(
            RTM_NEWADDR,
            IFADDR.pack(AF_INET, prefixlen, 0, RT_SCOPE_UNIVERSE, index),
            attrs,
            NLM_F_CREATE | NLM_F_EXCL,
            what=f"newaddr {address}/{prefixlen}",
        )

    def addresses(self, index: int | None = None) -> list[Address]:
        msgs = self.dump(RTM_GETADDR, IFADDR.pack(AF_INET, 0, 0, 0, 0), what="dump addresses")
        out = [parse_address(m.body) for m in msgs if m.type == RTM_NEWADDR]
        return [a for a in out if a is not None and (index is None or a.index == index)]

    # -- routes -----------------------------------------------------------------
    def add_route(
        self,
        dst: str = "0.0.0.0",
        dst_len: int = 0,
        *,
        gateway: str | None = None,
        oif: int | None = None,
        table: int = RT_TABLE_MAIN,
    ) -> None:
        attrs: list[tuple[int, AttrValue]] = []
        if dst_len:
            attrs.append((RTA_DST, ip4(dst)))
        if gateway:
            attrs.append((RTA_GATEWAY, ip4(gateway)))
        if oif:
            attrs.append((RTA_OIF, _U32.pack(oif)))
        scope = RT_SCOPE_UNIVERSE if gateway else RT_SCOPE_LINK
        self.request(
            RTM_NEWROUTE,
            RTMSG.pack(AF_INET, dst_len, 0, 0, table, RTPROT_BOOT, scope, RTN_UNICAST, 0),
            attrs,
            NLM_F_CREATE | NLM_F_EXCL,
            what=f"newroute {dst}/{dst_len}",
        )

    def routes(self, table: int | None = RT_TABLE_MAIN) -> list[Route]:
        msgs = self.dump(
            RTM_GETROUTE, RTMSG.pack(AF_INET, 0, 0, 0, 0, 0, 0, 0, 0), what="dump routes"
        )
        out = [parse_route(m.body) for m in msgs if m.type == RTM_NEWROUTE]
        return [r for r in out if r is not None and (table is None or r.table == table)]

    # -- neighbours -------------------------------------------------------------
    def add_neighbour(self, index: int, address: str, lladdr: str) -> None:
        """A permanent ARP entry (``ip neigh replace ADDRESS lladdr MAC dev INDEX``)."""
        self.request(
            RTM_NEWNEIGH,
            NDMSG.pack(AF_INET, index, NUD_PERMANENT, 0, 0),
            [(NDA_DST, ip4(address)), (NDA_LLADDR, mac(lladdr))],
            NLM_F_CREATE | NLM_F_REPLACE,
            what=f"newneigh {address}",
        )


def random_mac(seed: bytes | None = None) -> str:
    """A locally administered unicast MAC (from ``seed`` when given, like Docker's 02:42:...)."""
    raw = bytearray(seed[:6] if seed and len(seed) >= 6 else os.urandom(6))
    raw[0] = (raw[0] & 0xFE) | 0x02
    return mac_text(bytes(raw))


# -- sock_diag: which ports the host's sockets hold --------------------------------

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
_DIAG_REQ = struct.Struct("=BBBxI48x")  # inet_diag_req_v2: family protocol ext states id
_DIAG_MSG_HEAD = struct.Struct("=BBBBH2x16s")  # family state timer retrans sport dport src
TCP_LISTEN_STATE = 10
UDP_BOUND_STATE = 7  # TCP_CLOSE: an unconnected, bound UDP socket


def bound_sockets(protocol: int, state: int) -> list[tuple[str, int]]:
    """(address, port) of this netns' sockets of ``protocol`` (6 TCP, 17 UDP) in
    ``state``, over NETLINK_SOCK_DIAG: the kernel walks only the matching table,
    unlike reading /proc/net/tcp, which walks every socket of every netns."""
    out: list[tuple[str, int]] = []
    sock = _socket.socket(AF_NETLINK, _socket.SOCK_RAW | _socket.SOCK_CLOEXEC, NETLINK_SOCK_DIAG)
    try:
        sock.bind((0, 0))
        for family in (AF_INET, 10):  # AF_INET6
            body = _DIAG_REQ.pack(family, protocol, 0, 1 << state)
            sock.send(pack_msg(SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, 1, body))
            done = False
            while not done:
                for msg in unpack_msgs(sock.recv(1 << 16)):
                    if msg.type == NLMSG_DONE:
                        done = True
                        break
                    if msg.type == NLMSG_ERROR:
                        err = -struct.unpack_from("=i", msg.body)[0]
                        if err:
                            raise KernelError("sock_diag", f"protocol {protocol}", err)
                        done = True
                        break
                    fam, _st, _t, _r, sport, src = _DIAG_MSG_HEAD.unpack_from(msg.body)
                    port = int.from_bytes(sport.to_bytes(2, "little"), "big")
                    out.append((_diag_addr(fam, src), port))
    finally:
        sock.close()
    return out


def _diag_addr(family: int, raw: bytes) -> str:
    if family == AF_INET:
        return ip4_text(raw[:4])
    if raw[:12] == b"\0" * 10 + b"\xff\xff":
        return ip4_text(raw[12:16])
    if raw == b"\0" * 16:
        return "::"
    return ":".join(f"{int.from_bytes(raw[i : i + 2], 'big'):x}" for i in range(0, 16, 2))
